/*
 * Metrics for operators at `GET /metrics`, in Prometheus' text format (prom-client, on a registry
 * of our own): the fleet (devices known and online), the traffic (readings and commands: rates in
 * Prometheus), the command latency, rejected payloads, broker connections, history writes, and
 * Node's process metrics. Counts the server keeps itself are read when scraped.
 *
 * Command latency: from a command to the device reporting, on `<id>/state`, that its LED does
 * what it was told; a command overtaken by another before any report is not measured.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Log } from "../src/ports.js";
import type { HistoryStats } from "./history.js";
import type { DeviceRecord, ServerEvent, ServerStats } from "./types.js";

const TAG = "metrics";
export const METRICS_PATH = "/metrics";
const LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** A command not confirmed within this long is no longer waited for. */
const LATENCY_GIVE_UP_MS = 60_000;

/** What the metrics read from the server when scraped. */
export interface MetricsSource {
	devices(): DeviceRecord[];
	readonly stats: ServerStats;
}

export interface MetricsOptions {
	server: MetricsSource;
	now: () => number;
	log: Log;
	/** The history's counts, when it is kept. */
	history?: () => HistoryStats;
}

export class Metrics {
	readonly registry = new Registry();
	#now: () => number;
	#log: Log;
	#readings: Counter;
	#commands: Counter<"reason">;
	#latency: Histogram;
	#historyWrite: Histogram;
	/** Device id → the command it waits to see done, and when it was sent. */
	#pending = new Map<string, { ledOn: boolean; at: number }>();

	constructor(options: MetricsOptions) {
		const { server, history } = options;
		this.#now = options.now;
		this.#log = options.log;
		const registers = [this.registry];
		collectDefaultMetrics({ register: this.registry });
		new Gauge({
			name: "nightlight_devices_known", help: "Devices this server knows of", registers,
			collect() {
				this.set(server.devices().length);
			},
		});
		new Gauge({
			name: "nightlight_devices_online", help: "Devices whose availability is online", registers,
			collect() {
				this.set(server.devices().filter((device) => device.availability === "online").length);
			},
		});
		this.#readings = new Counter({ name: "nightlight_readings_total", help: "Readings received (telemetry messages taken)", registers });
		this.#commands = new Counter({ name: "nightlight_commands_total", help: "Commands sent to devices, by reason: changed, online (a reminder), drift (a correction)", labelNames: ["reason"], registers });
		for (const reason of ["changed", "online", "drift"])
			this.#commands.inc({ reason }, 0);
		this.#latency = new Histogram({ name: "nightlight_command_latency_seconds", help: "From a command to the device's state saying it was done", buckets: LATENCY_BUCKETS_S, registers });
		counterFrom("nightlight_rejected_payloads_total", "Messages rejected as malformed, oversized or not ours", () => server.stats.rejected, registers);
		counterFrom("nightlight_broker_connects_total", "Connections to the broker made by the server, the first included", () => server.stats.connects, registers);
		counterFrom("nightlight_broker_reconnects_total", "Connections to the broker after the first", () => Math.max(0, server.stats.connects - 1), registers);
		this.#historyWrite = new Histogram({ name: "nightlight_history_write_seconds", help: "Time to write one batch of history rows", buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers });
		if (history) {
			counterFrom("nightlight_history_rows_written_total", "History rows written to the database", () => history().rowsWritten, registers);
			counterFrom("nightlight_history_batches_total", "History batches (transactions) written", () => history().batches, registers);
			counterFrom("nightlight_history_write_errors_total", "History batches the database refused", () => history().writeErrors, registers);
			counterFrom("nightlight_history_rows_dropped_total", "History rows lost: refused batches, or more waiting than the buffer holds", () => history().rowsDropped, registers);
		}
	}

	/** Told of each history batch written. */
	batchWritten(ms: number): void {
		this.#historyWrite.observe(ms / 1000);
	}

	observe(event: ServerEvent): void {
		switch (event.type) {
		case "telemetry":
			this.#readings.inc();
			break;
		case "command":
			this.#commands.inc({ reason: event.reason });
			this.#pending.set(event.id, { ledOn: event.led_on, at: this.#now() });
			break;
		case "state": {
			const pending = this.#pending.get(event.id);
			if (pending && pending.ledOn === event.led_on) {
				this.#pending.delete(event.id);
				this.#latency.observe(Math.max(0, this.#now() - pending.at) / 1000);
			}
			break;
		}
		case "forgotten":
			this.#pending.delete(event.id);
			break;
		default:
			break;
		}
	}

	/** Answers `GET /metrics`; false for any other path. */
	handle(request: IncomingMessage, url: URL, response: ServerResponse): boolean {
		if (url.pathname !== METRICS_PATH)
			return false;
		if (request.method !== "GET" && request.method !== "HEAD") {
			response.writeHead(405, { "content-type": "application/json; charset=utf-8", allow: "GET" });
			response.end(JSON.stringify({ error: `${request.method} is not allowed on ${METRICS_PATH}; use GET` }));
			return true;
		}
		this.#forgetStale();
		this.registry.metrics().then((text) => {
			response.writeHead(200, { "content-type": this.registry.contentType, "cache-control": "no-store" });
			response.end(request.method === "HEAD" ? undefined : text);
		}, (error: unknown) => {
			this.#log("error", TAG, `cannot collect the metrics: ${(error as Error).message}`);
			response.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
			response.end("cannot collect the metrics\n");
		});
		return true;
	}

	/** Commands never confirmed (a lesson device reports no state) are not kept for ever. */
	#forgetStale(): void {
		const limit = this.#now() - LATENCY_GIVE_UP_MS;
		for (const [id, pending] of this.#pending) {
			if (pending.at < limit)
				this.#pending.delete(id);
		}
	}
}

/** A counter that follows a count kept elsewhere, read at each scrape. */
function counterFrom(name: string, help: string, read: () => number, registers: Registry[]): void {
	let last = 0;
	new Counter({
		name, help, registers,
		collect() {
			const now = read();
			if (now > last)
				this.inc(now - last);
			last = now;
		},
	});
}
