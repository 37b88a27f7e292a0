/*
 * `nightlight server` with its history and metrics, as an operator runs it: against Mosquitto,
 * with the default SQLite file in its state folder and with `--db postgres://` on a PostgreSQL
 * server started for the test. Readings go in; the history API gives them back, as JSON and CSV,
 * and still after a restart; `/metrics` names what it counts, and its counters move.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import mqtt from "mqtt";
import { type TestBroker, freePort, mosquittoAvailable, startMosquitto } from "../support/brokers.js";
import { type TestPostgres, postgresAvailable, startPostgres } from "../support/postgres.js";
import { until } from "../support/wait.js";

const withMosquitto = mosquittoAvailable();
const withPostgres = withMosquitto && postgresAvailable();

interface Running {
	child: ChildProcessWithoutNullStreams;
	url: string;
	output: { text: string };
}

async function startServer(args: string[]): Promise<Running> {
	const output = { text: "" };
	const child = spawn(process.execPath, ["dist/nightlight.js", "server", "--log-level", "info", ...args], { env: { ...process.env, NIGHTLIGHT_LOG_LEVEL: "info" } });
	child.stdout.on("data", (chunk) => (output.text += chunk));
	child.stderr.on("data", (chunk) => (output.text += chunk));
	const url = await until(() => /HTTP API at (http:\/\/\S+?)(;|\s|$)/.exec(output.text)?.[1] ?? (child.exitCode !== null ? `exited: ${output.text}` : undefined), "the server's address", 15_000);
	if (url.startsWith("exited"))
		throw new Error(url);
	return { child, url, output };
}

async function stop(running: Running | undefined): Promise<void> {
	if (!running || running.child.exitCode !== null)
		return;
	const exited = new Promise((resolve) => running.child.once("exit", resolve));
	running.child.kill("SIGINT");
	await exited;
}

async function get(url: string): Promise<{ status: number; type: string; text: string }> {
	const response = await fetch(url);
	return { status: response.status, type: response.headers.get("content-type") ?? "", text: await response.text() };
}

/** Asks again until the answer is right, or gives up after 10 s; returns the last answer. */
async function poll<T>(ask: () => Promise<T>, done: (answer: T) => boolean, what: string): Promise<T> {
	const deadline = Date.now() + 10_000;
	for (;;) {
		const answer = await ask();
		if (done(answer))
			return answer;
		if (Date.now() > deadline)
			throw new Error(`timed out waiting for ${what}: last answer ${JSON.stringify(answer).slice(0, 400)}`);
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
}

/** The value of one sample in Prometheus' text format, or undefined. */
function sample(text: string, name: string): number | undefined {
	const line = text.split("\n").find((row) => row.startsWith(`${name} `));
	return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

const run = withMosquitto ? describe : describe.skip;
const backends: Array<[string, boolean]> = [["SQLite (the default)", true], ["PostgreSQL", withPostgres]];

run("the server's history and metrics, against Mosquitto", () => {
	let broker: TestBroker;
	let postgres: TestPostgres | undefined;
	let device: mqtt.MqttClient;
	const dir = mkdtempSync(join(tmpdir(), "nightlight-history-cli-"));

	beforeAll(async () => {
		broker = await startMosquitto();
		device = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
		if (withPostgres)
			postgres = await startPostgres();
	}, 60_000);

	afterAll(async () => {
		await device?.endAsync();
		await postgres?.stop();
		await broker?.stop();
		rmSync(dir, { recursive: true, force: true });
	});

	describe.each(backends)("on %s", (name, available) => {
		const maybe = available ? test : test.skip;
		maybe("readings come back from the history API, as JSON and CSV, and still after a restart", async () => {
			const id = `hist-${name.startsWith("SQLite") ? "sqlite" : "pg"}`;
			const stateDir = join(dir, id);
			const args = ["--broker", broker.url, "--http-port", String(await freePort()), "--state-dir", stateDir, ...(postgres && !name.startsWith("SQLite") ? ["--db", postgres.url] : [])];
			let server: Running | undefined = await startServer(args);
			try {
				expect(server.output.text).toMatch(name.startsWith("SQLite") ? /keeping 7 days of history in the SQLite file .*history\.sqlite/ : /keeping 7 days of history in PostgreSQL at postgres:\/\/nightlight@127\.0\.0\.1/);
				await until(() => server!.output.text.includes("connected; watching"), "the server subscribed");
				const before = Date.now();
				await device.publishAsync(`${id}/status`, "online", { qos: 1, retain: true });
				for (const light of [100, 200, 900])
					await device.publishAsync(`${id}/telemetry`, JSON.stringify({ light }), { qos: 1 });
				const history = async (base: string) => JSON.parse((await get(`${base}api/devices/${id}/history?from=${before - 60_000}&step=3600000`)).text) as { points: Array<{ light: number; count: number; min: number; max: number }>; marks: Array<{ kind: string; value: string }> };
				const base = server.url;
				const seen = await poll(() => history(base), (answer) => answer.points[0]?.count === 3, "three readings in the history");
				expect(seen.points).toEqual([{ at: expect.any(Number), light: 400, min: 100, max: 900, count: 3 }]);
				expect(seen.marks).toEqual(expect.arrayContaining([{ at: expect.any(Number), kind: "availability", value: "online", detail: null }, { at: expect.any(Number), kind: "command", value: "on", detail: "changed" }, { at: expect.any(Number), kind: "command", value: "off", detail: "changed" }]));

				const csv = await get(`${server.url}api/devices/${id}/history?from=${before - 60_000}&step=3600000&format=csv`);
				expect(csv.status).toBe(200);
				expect(csv.type).toContain("text/csv");
				expect(csv.text.split("\r\n")[0]).toBe("time_ms,time,light,light_min,light_max,readings");
				expect(csv.text.split("\r\n")[1]).toMatch(/^\d+,\d{4}-\d\d-\d\dT[\d:.]+Z,400,100,900,3$/);
				expect((await get(`${server.url}api/devices/${id}/history?step=0`)).status).toBe(400);
				expect((await get(`${server.url}api/devices/${id}/history?from=yesterday`)).status).toBe(400);

				await stop(server);
				server = await startServer(args);
				expect((await history(server.url)).points).toEqual(seen.points);
			}
			finally {
				await device.publishAsync(`${id}/status`, "", { qos: 1, retain: true });
				await stop(server);
			}
			if (name.startsWith("SQLite"))
				expect(existsSync(join(stateDir, "history.sqlite"))).toBe(true);
		}, 60_000);
	});

	test("/metrics names what it counts, and the counters move", async () => {
		const server = await startServer(["--broker", broker.url, "--http-port", String(await freePort()), "--state-dir", join(dir, "metrics")]);
		try {
			await until(() => server.output.text.includes("connected; watching"), "the server subscribed");
			const first = await get(`${server.url}metrics`);
			expect(first.status).toBe(200);
			expect(first.type).toContain("text/plain");
			for (const metric of [
				"nightlight_devices_known", "nightlight_devices_online", "nightlight_readings_total", "nightlight_commands_total",
				"nightlight_command_latency_seconds", "nightlight_rejected_payloads_total", "nightlight_broker_connects_total",
				"nightlight_broker_reconnects_total", "nightlight_history_rows_written_total", "nightlight_history_write_errors_total",
				"nightlight_history_write_seconds", "process_cpu_seconds_total",
			])
				expect(first.text).toContain(`# TYPE ${metric} `);
			const readings = sample(first.text, "nightlight_readings_total")!;
			const rejected = sample(first.text, "nightlight_rejected_payloads_total")!;
			// A device that reports its state, so the command's latency is measured.
			await device.publishAsync("met-1/status", "online", { qos: 1, retain: true });
			await device.publishAsync("met-1/telemetry", `{"light":50}`, { qos: 1 });
			await device.publishAsync("met-1/telemetry", `{"light":"dark"}`, { qos: 1 });
			await until(() => server.output.text.includes("met-1: light 50"), "the decision");
			await device.publishAsync("met-1/state", `{"led_on":true,"mode":"remote","rejected":0}`, { qos: 1, retain: true });
			const later = await poll(async () => (await get(`${server.url}metrics`)).text,
				(text) => (sample(text, "nightlight_command_latency_seconds_count") ?? 0) >= 1 && (sample(text, "nightlight_history_rows_written_total") ?? 0) > 0, "the counters to move");
			expect(sample(later, "nightlight_readings_total")).toBe(readings + 1);
			expect(sample(later, "nightlight_rejected_payloads_total")).toBe(rejected + 1);
			expect(sample(later, `nightlight_commands_total{reason="changed"}`)).toBeGreaterThanOrEqual(1);
			expect(sample(later, "nightlight_devices_online")).toBeGreaterThanOrEqual(1);
			expect(sample(later, "nightlight_broker_connects_total")).toBe(1);
			await device.publishAsync("met-1/status", "", { qos: 1, retain: true });
			await device.publishAsync("met-1/state", "", { qos: 1, retain: true });
		}
		finally {
			await stop(server);
		}
	}, 60_000);
});
