/*
 * What the server on Node offers beside commanding devices, wired to its events and its HTTP API:
 * the history (server/history.ts) and its API, Home Assistant discovery (server/discovery.ts) and
 * the metrics (server/metrics.ts). `openIntegrations` opens the database first, so a wrong `--db`
 * stops the start with one line; `attach` wires the rest to the running server.
 *
 *   GET /api/devices/ID/history?from=&to=&step=[&format=csv]   readings in buckets of `step` ms, and marks
 *   GET /api/groups/NAME/history?...                            a group's aggregate, the same way
 *   GET /metrics                                                Prometheus' text format
 *
 * `from` and `to` are ms since the epoch or ISO 8601 times (default: the last 3 hours); `step`
 * is in ms (default: what keeps the answer within MAX_POINTS). CSV also with `Accept: text/csv`.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { isDeviceId } from "../src/contract.js";
import { messageOf } from "../src/errors.js";
import type { Clock, Log, MqttClient } from "../src/ports.js";
import { redactUrl } from "../runtime/node/mqtt.js";
import { DEFAULT_HA_PREFIX, Discovery } from "./discovery.js";
import { History, type HistoryStore, MAX_POINTS, historyCsv } from "./history.js";
import type { HttpHandler } from "./http.js";
import { Metrics } from "./metrics.js";
import type { Server } from "./server.js";
import type { ServerEvent } from "./types.js";

const TAG = "history";
export const HISTORY_FILE = "history.sqlite";
/** `--db` values that keep no history. */
export const DB_OFF = ["none", "off"];
export const DEFAULT_HISTORY_WINDOW_MS = 3 * 60 * 60 * 1000;

export interface IntegrationsOptions {
	/** `none`, a postgres:// URL, or an SQLite file; undefined: `history.sqlite` in `stateDir`. */
	db: string | undefined;
	stateDir: string;
	historyDays: number;
	/** Home Assistant's discovery prefix; undefined: no discovery. */
	haPrefix: string | undefined;
	share?: string | undefined;
	version: string;
	clock: Clock;
	log: Log;
}

export interface Integrations {
	/** Topic levels the server must not take for devices (Home Assistant's prefix). */
	notDevices: string[];
	history: History | undefined;
	discovery: Discovery | undefined;
	metrics: Metrics | undefined;
	/** Hands the server's events on. */
	observe(event: ServerEvent): void;
	/** Wires discovery and metrics to the server once it runs; the HTTP handlers to give startHttpApi. */
	attach(server: Server, mqtt: MqttClient): HttpHandler[];
	stop(): Promise<void>;
}

/** Where `--db` points, in words; for the configuration line. */
export function describeDb(db: string | undefined, stateDir: string): string {
	if (db !== undefined && DB_OFF.includes(db))
		return "none (no history)";
	if (db !== undefined && isPostgresUrl(db))
		return redactUrl(db);
	return db ?? join(stateDir, HISTORY_FILE);
}

export function isPostgresUrl(db: string): boolean {
	return /^postgres(ql)?:\/\//i.test(db);
}

/** What is wrong with a `--db` value, said after the option's name, or undefined. */
export function dbProblem(db: string): string | undefined {
	if (DB_OFF.includes(db) || !/^[a-z][a-z0-9+.-]*:\/\//i.test(db))
		return db.trim() === "" ? `must be "none", a postgres:// URL or an SQLite file name, got ""` : undefined;
	if (!isPostgresUrl(db))
		return `must be "none", a postgres://user:password@host:port/database URL or an SQLite file name; ${JSON.stringify(redactUrl(db).split("://")[0])}:// is not a database we speak`;
	try {
		const url = new URL(db);
		if (!url.hostname && !url.searchParams.has("host"))
			return `has no host: write postgres://user:password@host:5432/database`;
	}
	catch {
		return `is not a valid URL (${db.replace(/(:\/\/[^:/@]*:)[^@]*@/, "$1***@")}): write postgres://user:password@host:5432/database, with special characters in the password percent-encoded`;
	}
	return undefined;
}

/** Opens the history's database (throws one line on failure) and makes what needs no server. */
export async function openIntegrations(options: IntegrationsOptions): Promise<Integrations> {
	const { log, clock } = options;
	let store: HistoryStore | undefined;
	const db = options.db ?? join(options.stateDir, HISTORY_FILE);
	if (!DB_OFF.includes(db)) {
		if (isPostgresUrl(db)) {
			const { openPostgresStore } = await import("./history-postgres.js");
			store = await openPostgresStore(db, (error) => log("warn", TAG, `PostgreSQL: ${error.message}`));
		}
		else {
			const { openSqliteStore } = await import("./history-sqlite.js");
			store = await openSqliteStore(db);
		}
	}
	let history: History | undefined;
	let discovery: Discovery | undefined;
	let metrics: Metrics | undefined;
	const integrations: Integrations = {
		// Home Assistant's `<prefix>/status` matches `+/status`: never a device, with discovery on or off.
		notDevices: [...new Set([DEFAULT_HA_PREFIX, ...(options.haPrefix?.includes("/") === false ? [options.haPrefix] : [])])],
		get history() {
			return history;
		},
		get discovery() {
			return discovery;
		},
		get metrics() {
			return metrics;
		},
		observe(event) {
			history?.observe(event);
			metrics?.observe(event);
			discovery?.observe(event);
		},
		attach(server, mqtt) {
			if (store) {
				history = new History({ store, clock, log, retentionDays: options.historyDays, onBatch: (_rows, ms) => metrics?.batchWritten(ms) });
				history.start();
				log("info", TAG, `keeping ${options.historyDays} days of history in ${store.description}`);
			}
			const kept = history;
			metrics = new Metrics({ server, now: () => clock.now(), log, ...(kept ? { history: () => kept.stats } : {}) });
			if (options.haPrefix !== undefined) {
				discovery = new Discovery({ mqtt, server, clock, log, prefix: options.haPrefix, share: options.share, version: options.version });
				discovery.start();
			}
			const metricsHandler = metrics;
			return [
				(request, url, response) => metricsHandler.handle(request, url, response),
				historyHandler(kept, clock, log),
			];
		},
		async stop() {
			discovery?.stop();
			if (history)
				await history.stop();
			else
				await store?.close();
		},
	};
	return integrations;
}

class BadRequest extends Error {}

/** `GET /api/devices/ID/history` and `/api/groups/NAME/history`. */
function historyHandler(history: History | undefined, clock: Clock, log: Log): HttpHandler {
	return (request: IncomingMessage, url: URL, response: ServerResponse) => {
		const match = /^\/api\/(devices|groups)\/([^/]+)\/history$/.exec(url.pathname);
		if (!match)
			return false;
		const send = (status: number, body: unknown) => {
			response.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
			response.end(JSON.stringify(body));
		};
		if (request.method !== "GET") {
			send(405, { error: `${request.method} is not allowed on ${url.pathname}; use GET` });
			return true;
		}
		if (!history) {
			send(404, { error: "this server keeps no history (it was started with --db none)" });
			return true;
		}
		let id: string;
		let from: number;
		let to: number;
		let step: number | undefined;
		try {
			const name = decodeURIComponent(match[2]!);
			if (!isDeviceId(name))
				throw new BadRequest(`not a ${match[1] === "groups" ? "group name" : "device id"}: ${JSON.stringify(name)}`);
			id = match[1] === "groups" ? `group:${name}` : name;
			to = time(url.searchParams.get("to"), "to") ?? clock.now();
			from = time(url.searchParams.get("from"), "from") ?? to - DEFAULT_HISTORY_WINDOW_MS;
			if (from >= to)
				throw new BadRequest(`"from" must be before "to"`);
			const stepText = url.searchParams.get("step");
			if (stepText !== null && stepText !== "") {
				step = Number(stepText);
				if (!Number.isSafeInteger(step) || step < 1)
					throw new BadRequest(`"step" must be a whole number of ms, at least 1, got ${JSON.stringify(stepText)}`);
				if ((to - from) / step > MAX_POINTS * 25)
					throw new BadRequest(`"step" ${step} ms makes more than ${MAX_POINTS * 25} points over that range: take a larger step, or leave it out`);
			}
		}
		catch (error) {
			if (!(error instanceof BadRequest) && !(error instanceof URIError))
				throw error;
			send(400, { error: error instanceof URIError ? `bad escape in ${url.pathname}` : error.message });
			return true;
		}
		const csv = url.searchParams.get("format") === "csv" || (url.searchParams.get("format") === null && /\btext\/csv\b/.test(request.headers.accept ?? ""));
		history.query(id, from, to, step).then((answer) => {
			if (csv) {
				const file = `${match[2]}-history.csv`.replace(/[^A-Za-z0-9_.-]/g, "_");
				response.writeHead(200, { "content-type": "text/csv; charset=utf-8", "content-disposition": `attachment; filename="${file}"`, "cache-control": "no-store" });
				response.end(historyCsv(answer));
			}
			else {
				send(200, answer);
			}
		}, (error: unknown) => {
			log("error", TAG, `reading the history of ${id} failed: ${messageOf(error)}`);
			send(503, { error: `cannot read the history: ${messageOf(error)}` });
		});
		return true;
	};
}

/** A query's time: ms since the epoch or an ISO 8601 date; undefined when absent. */
function time(text: string | null, name: string): number | undefined {
	if (text === null || text === "")
		return undefined;
	const value = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
	if (!Number.isSafeInteger(value))
		throw new BadRequest(`"${name}" must be a time in ms since the epoch or an ISO 8601 date, got ${JSON.stringify(text)}`);
	return value;
}
