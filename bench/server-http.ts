/*
 * `npm run bench:server`: the server's HTTP side under load, one `nightlight server` process
 * against Mosquitto on 127.0.0.1, everything on this machine's cores. Figures, never assertions.
 *
 * 1. Many dashboards: 500 live event streams (raw sockets in a child process that read and
 *    discard) while 1,000 telemetry messages a second arrive over MQTT (one in ten switching a
 *    LED), then a burst of 5,000 at once; /api/health and a page of /api/devices asked every
 *    20 ms, each timed from the request to the whole answer.
 * 2. A large fleet: 5,300 devices and 5,000 overrides, each PUT timed; the full walk of
 *    /api/devices page by page.
 * 3. Memory per device: the Server in this process (a fake clock, an MQTT client that only
 *    counts), 50,000 device ids with a reading, a state and a status each; heap and RSS after a
 *    garbage collection, then after they are forgotten (needs --expose-gc: the script re-runs
 *    itself for this part).
 *
 * Writes its report into docs/BENCHMARKS.md between its markers. BENCH_SERVER_SECONDS (20) sets
 * how long section 1 probes; BENCH_SERVER_STREAMS (500) how many streams it opens (0: what the
 * MQTT work alone costs the API).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { type Socket, connect } from "node:net";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { generate } from "mqtt-packet";
import { Server } from "../server/server.js";
import { FakeClock } from "../test/support/fake-clock.js";
import { FakeMqtt } from "../test/support/fake-mqtt.js";
import { type TestBroker, freePort, mosquittoPath, mosquittoVersion, startMosquitto } from "../test/support/brokers.js";
import { sleep, until } from "../test/support/wait.js";
import { Report, ms } from "./report.js";

const STREAMS = Number(process.env.BENCH_SERVER_STREAMS ?? 500);
const RATE = 1_000;
const BURST = 5_000;
const FLEET = 5_300;
const OVERRIDES = 5_000;
const MEMORY_DEVICES = 50_000;
const PROBE_MS = Number(process.env.BENCH_SERVER_SECONDS ?? 20) * 1_000;

/** The event-stream readers: a child process, so their reading does not slow the prober. */
const READERS = `
const net = require("net");
const [host, port, count] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const state = { open: 0, refused: 0, closed: 0, bytes: 0 };
for (let i = 0; i < count; i++) {
	const socket = net.connect({ host, port }, () => socket.write("GET /api/events HTTP/1.1\\r\\nhost: " + host + "\\r\\n\\r\\n"));
	let first = true;
	socket.on("data", (data) => {
		if (first) {
			first = false;
			if (/^HTTP\\/1\\.1 200/.test(data.toString("latin1", 0, 12))) state.open++; else state.refused++;
		}
		state.bytes += data.length;
	});
	socket.on("close", () => state.closed++);
	socket.on("error", () => undefined);
}
setInterval(() => process.stdout.write(JSON.stringify(state) + "\\n"), 500);
`;

interface Timing {
	p50: number;
	p99: number;
	max: number;
	count: number;
}

function timing(samples: number[]): Timing {
	const sorted = [...samples].sort((a, b) => a - b);
	const at = (q: number) => sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN;
	return { p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? NaN, count: sorted.length };
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

/** One request, timed from sending to the last byte of the answer. */
function timed(url: string, method = "GET", body?: string): Promise<{ ms: number; status: number; text: string }> {
	return new Promise((resolve, reject) => {
		const started = performance.now();
		const outgoing = request(url, { method, agent, headers: body === undefined ? {} : { "content-type": "application/json" } }, (response) => {
			const chunks: Buffer[] = [];
			response.on("data", (chunk: Buffer) => chunks.push(chunk));
			response.on("end", () => resolve({ ms: performance.now() - started, status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
		});
		outgoing.on("error", reject);
		outgoing.end(body);
	});
}

function mqttClient(port: number, clientId: string): Promise<Socket> {
	return new Promise((resolve, reject) => {
		const socket = connect({ port, host: "127.0.0.1" });
		socket.once("error", reject);
		socket.once("connect", () => {
			socket.write(generate({ cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clean: true, clientId, keepalive: 0 }));
			resolve(socket);
		});
	});
}

function telemetry(socket: Socket, id: string, light: number): void {
	socket.write(generate({ cmd: "publish", topic: `${id}/telemetry`, payload: `{"light":${light}}`, qos: 0, retain: false, dup: false }));
}

async function startServer(broker: TestBroker, stateDir: string): Promise<{ child: ChildProcess; url: string }> {
	const port = await freePort();
	const child = spawn(process.execPath, ["dist/nightlight.js", "server", "--broker", broker.url, "--http-port", String(port), "--max-streams", String(STREAMS + 100), "--state-dir", stateDir, "--log-level", "warn"], { stdio: ["ignore", "ignore", "inherit"] });
	const url = `http://127.0.0.1:${port}`;
	for (let tries = 0; ; tries++) {
		try {
			if ((await timed(`${url}/api/health`)).status === 200)
				break;
		}
		catch {
			// Not listening yet.
		}
		if (tries > 100)
			throw new Error("the server did not answer /api/health");
		await sleep(100);
	}
	return { child, url };
}

function cpuTicks(pid: number): number {
	const stat = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
	return Number(stat[11]) + Number(stat[12]);
}

interface DashboardsResult {
	health: Timing;
	devices: Timing;
	burstHealth: Timing;
	sentRate: number;
	streamsOpen: number;
	dropped: number;
	mbPerStream: number;
	serverCpu: number;
}

async function dashboards(broker: TestBroker, dir: string): Promise<DashboardsResult> {
	const { child, url } = await startServer(broker, join(dir, "dashboards"));
	const { hostname, port } = new URL(url);
	const readers = spawn(process.execPath, ["-e", READERS, hostname, port, String(STREAMS)], { stdio: ["ignore", "pipe", "inherit"] });
	let readerState = { open: 0, refused: 0, closed: 0, bytes: 0 };
	readers.stdout!.on("data", (chunk: Buffer) => {
		const last = chunk.toString().trim().split("\n").at(-1);
		if (last)
			readerState = JSON.parse(last) as typeof readerState;
	});
	const loaders = await Promise.all([0, 1, 2, 3].map((k) => mqttClient(broker.port, `bench-http-${process.pid}-${k}`)));
	try {
		await until(() => readerState.open + readerState.refused >= STREAMS || undefined, "the event streams", 30_000);
		let running = true;
		let sent = 0;
		const load = (async () => {
			const counts = new Map<number, number>();
			const started = performance.now();
			while (running) {
				const due = Math.floor((performance.now() - started) * RATE / 1_000) - sent;
				for (let j = 0; j < due; j++, sent++) {
					const i = sent % 1_000;
					const n = (counts.get(i) ?? i) + 1;
					counts.set(i, n);
					telemetry(loaders[i % loaders.length]!, `bench-${i}`, Math.floor(n / 10) % 2 === 1 ? 100 : 900);
				}
				await sleep(10);
			}
			return sent / ((performance.now() - started) / 1_000);
		})();
		await sleep(2_000);
		const bytesBefore = readerState.bytes;
		const ticksBefore = cpuTicks(child.pid!);
		const healthTimes: number[] = [];
		const deviceTimes: number[] = [];
		const started = performance.now();
		for (let n = 0; performance.now() - started < PROBE_MS; n++) {
			healthTimes.push((await timed(`${url}/api/health`)).ms);
			if (n % 10 === 0)
				deviceTimes.push((await timed(`${url}/api/devices?limit=100`)).ms);
			await sleep(20);
		}
		const elapsedS = (performance.now() - started) / 1_000;
		const serverCpu = (cpuTicks(child.pid!) - ticksBefore) / 100 / elapsedS;
		const mbPerStream = (readerState.bytes - bytesBefore) / Math.max(1, readerState.open - readerState.closed) / 2 ** 20 / elapsedS;
		// The burst: 5,000 readings at once, on top of the steady load.
		const burstTimes: number[] = [];
		for (let i = 0; i < BURST; i++)
			telemetry(loaders[i % loaders.length]!, `burst-${i}`, 500);
		const burstStarted = performance.now();
		while (performance.now() - burstStarted < 3_000) {
			burstTimes.push((await timed(`${url}/api/health`)).ms);
			await sleep(20);
		}
		running = false;
		const sentRate = await load;
		const health = JSON.parse((await timed(`${url}/api/health`)).text) as { streams: { open: number; dropped: number } };
		return { health: timing(healthTimes), devices: timing(deviceTimes), burstHealth: timing(burstTimes), sentRate, streamsOpen: health.streams.open, dropped: health.streams.dropped, mbPerStream, serverCpu };
	}
	finally {
		readers.kill("SIGKILL");
		for (const socket of loaders)
			socket.destroy();
		child.kill("SIGKILL");
	}
}

interface FleetResult {
	put: Timing;
	putLast: Timing;
	page: Timing;
	walkMs: number;
	walked: number;
	bigPageMs: number;
}

async function fleet(broker: TestBroker, dir: string): Promise<FleetResult> {
	const { child, url } = await startServer(broker, join(dir, "fleet"));
	const loader = await mqttClient(broker.port, `bench-fleet-${process.pid}`);
	try {
		for (let i = 0; i < FLEET; i++)
			telemetry(loader, `fleet-${String(i).padStart(5, "0")}`, 500);
		for (let tries = 0; (JSON.parse((await timed(`${url}/api/health`)).text) as { devices: number }).devices < FLEET; tries++) {
			if (tries > 300)
				throw new Error("the fleet's readings did not all arrive");
			await sleep(100);
		}
		const puts: number[] = [];
		for (let i = 0; i < OVERRIDES; i++)
			puts.push((await timed(`${url}/api/overrides/device/fleet-${String(i).padStart(5, "0")}`, "PUT", `{"mode":"${i % 2 ? "on" : "off"}"}`)).ms);
		const pages: number[] = [];
		let walked = 0;
		const walkStarted = performance.now();
		for (let after: string | null = null; ;) {
			const answer = await timed(`${url}/api/devices${after === null ? "" : `?after=${after}`}`);
			pages.push(answer.ms);
			const page = JSON.parse(answer.text) as { devices: unknown[]; next: string | null };
			walked += page.devices.length;
			if (page.next === null)
				break;
			after = page.next;
		}
		const walkMs = performance.now() - walkStarted;
		const bigPageMs = (await timed(`${url}/api/devices?limit=5000`)).ms;
		return { put: timing(puts), putLast: timing(puts.slice(-1_000)), page: timing(pages), walkMs, walked, bigPageMs };
	}
	finally {
		loader.destroy();
		child.kill("SIGKILL");
	}
}

interface MemoryResult {
	heapPerDevice: number;
	rssPerDevice: number;
	heapAfterForgetting: number;
	sweepMs: number;
}

/** Runs in a child with --expose-gc: prints a MemoryResult as JSON. */
function memory(): MemoryResult {
	const gc = (globalThis as { gc?: () => void }).gc!;
	const clock = new FakeClock();
	const mqtt = new FakeMqtt();
	const server = new Server({ mqtt, clock, log: () => undefined, rule: { threshold: 300, hysteresis: 20 } });
	server.start();
	mqtt.connect();
	const measure = () => {
		mqtt.published.length = 0;
		gc();
		gc();
		return process.memoryUsage();
	};
	const before = measure();
	for (let i = 0; i < MEMORY_DEVICES; i++) {
		const id = `device-${i.toString(16).padStart(8, "0")}`;
		mqtt.deliver(`${id}/status`, "online");
		mqtt.deliver(`${id}/telemetry`, `{"light":${i % 1024},"ts":${clock.now()}}`);
		mqtt.deliver(`${id}/state`, `{"led_on":${i % 1024 < 300},"mode":"remote","rejected":0}`);
	}
	const full = measure();
	clock.advance(30 * 24 * 3_600_000 - 60_000);
	const started = performance.now();
	let sweeps = 0;
	while (server.deviceCount > 0) {
		clock.advance(60_000);
		sweeps++;
	}
	const sweepMs = (performance.now() - started) / sweeps;
	const empty = measure();
	server.stop();
	return {
		heapPerDevice: (full.heapUsed - before.heapUsed) / MEMORY_DEVICES,
		rssPerDevice: (full.rss - before.rss) / MEMORY_DEVICES,
		heapAfterForgetting: empty.heapUsed - before.heapUsed,
		sweepMs,
	};
}

if (process.env.BENCH_SERVER_PART === "memory") {
	process.stdout.write(JSON.stringify(memory()) + "\n");
	process.exit(0);
}

if (!mosquittoPath()) {
	console.error("npm run bench:server needs Mosquitto on this machine: apt-get install mosquitto");
	process.exit(2);
}

const report = new Report("npm run bench:server");
const { say } = report;
const row = (name: string, t: Timing) => `| ${name} | ${t.count} | ${ms(t.p50)} | ${ms(t.p99)} | ${ms(t.max)} |`;

const dir = mkdtempSync(join(tmpdir(), "nightlight-bench-server-"));
const broker = await startMosquitto({ config: ["max_queued_messages 100000"] });
let loaded: DashboardsResult;
let large: FleetResult;
try {
	loaded = await dashboards(broker, dir);
	large = await fleet(broker, dir);
}
finally {
	await broker.stop();
	rmSync(dir, { recursive: true, force: true });
}
const child = spawnSync(process.execPath, ["--expose-gc", "--enable-source-maps", process.argv[1]!], { env: { ...process.env, BENCH_SERVER_PART: "memory" }, encoding: "utf8" });
if (child.status !== 0)
	throw new Error(`the memory part failed: ${child.stderr}`);
const mem = JSON.parse(child.stdout.trim().split("\n").at(-1)!) as MemoryResult;

say("## The server's HTTP side under load");
say();
say(`Machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${mosquittoVersion()} on 127.0.0.1. Date: ${new Date().toISOString().slice(0, 10)}. Command: \`npm run bench:server\` (bench/server-http.ts). One \`nightlight server\` process; Mosquitto, the load and the readers on the same cores. Times from sending a request to the last byte of its answer.`);
say();
say(`### Many dashboards`);
say();
say(`${STREAMS} live event streams (/api/events, read and discarded by a separate process) while ${RATE.toLocaleString("en")} telemetry messages a second arrive (${Math.round(loaded.sentRate).toLocaleString("en")}/s sent; one in ten switches a LED, so commands too), for ${PROBE_MS / 1_000} s; then ${BURST.toLocaleString("en")} messages at once. /api/health every 20 ms, a page of 100 devices every 200 ms. Target: API p99 under 50 ms.`);
say();
say("| request | count | p50 ms | p99 ms | max ms |");
say("|---|---:|---:|---:|---:|");
say(row("GET /api/health, steady load", loaded.health));
say(row("GET /api/devices?limit=100, steady load", loaded.devices));
say(row(`GET /api/health, 3 s from a burst of ${BURST.toLocaleString("en")}`, loaded.burstHealth));
say();
say(`Streams open at the end: ${loaded.streamsOpen} of ${STREAMS}; closed as slow readers: ${loaded.dropped}. Each stream received ${(loaded.mbPerStream * 1024).toFixed(0)} KB/s; the server used ${loaded.serverCpu.toFixed(2)} cores. The steady p99 target is ${Math.max(loaded.health.p99, loaded.devices.p99) < 50 ? "met" : "missed"}. Before this change (issue 13's measurement) 500 streams at 150 messages a second gave /api/health a median of 2.9 s.`);
say();
say("### A large fleet: overrides and the device list");
say();
say(`${FLEET.toLocaleString("en")} devices (one reading each), then ${OVERRIDES.toLocaleString("en")} device overrides set one by one through the API (each appends one line to the journal; the snapshot is rewritten every 1,000+ changes), then the whole device list walked page by page (500 a page).`);
say();
say("| request | count | p50 ms | p99 ms | max ms |");
say("|---|---:|---:|---:|---:|");
say(row(`PUT /api/overrides/device/…, 0 to ${OVERRIDES.toLocaleString("en")} overrides`, large.put));
say(row(`PUT, the last 1,000 (4,000 to 5,000 overrides in force)`, large.putLast));
say(row("GET /api/devices, a page of 500", large.page));
say();
say(`The walk met ${large.walked.toLocaleString("en")} devices in ${ms(large.walkMs)} ms; one page of 5,000 (the most a page holds) took ${ms(large.bigPageMs)} ms. Before this change one GET /api/devices of 5,300 devices with 5,000 overrides took 3.7 s, and a PUT 6 to 24 ms.`);
say();
say("### Memory per device");
say();
say(`The Server in one process (fake clock, an MQTT client that counts), ${MEMORY_DEVICES.toLocaleString("en")} device ids, each with a status, a reading and a state; heap and RSS after a garbage collection. Heap per device: ${mem.heapPerDevice.toFixed(0)} bytes; RSS per device: ${mem.rssPerDevice.toFixed(0)} bytes. After all were forgotten (30 days of silence on the fake clock), the heap was ${(mem.heapAfterForgetting / 1024).toFixed(0)} KB above where it started. One sweep (at most 10,000 records looked at) took ${ms(mem.sweepMs)} ms on average while forgetting them.`);

report.write();
