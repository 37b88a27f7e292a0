/*
 * Server capacity: simulated devices at one telemetry message per second each, against Mosquitto
 * on 127.0.0.1, and one `nightlight server` process. Each device's light crosses the threshold every
 * tenth reading, so one reading in ten asks for a command; command latency is measured from that
 * reading's publish to the command's arrival. The fleet grows stage by stage until the command p99
 * passes 250 ms or commands go missing. Server CPU and memory are read from /proc.
 *
 * The load generator speaks raw MQTT (mqtt-packet) over a few connections, so that it costs little
 * next to the broker and the server on a 2-core machine. Bounded: each stage lasts `stageMs`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { type Socket, connect } from "node:net";
import { generate, parser } from "mqtt-packet";
import type { TestBroker } from "../test/support/brokers.js";
import { sleep, until } from "../test/support/wait.js";

export interface CapacityStage {
	devices: number;
	sent: number;
	/** Readings per second actually sent. */
	rate: number;
	commandsExpected: number;
	commandsReceived: number;
	p50: number;
	p99: number;
	/** Server CPU, in cores (1.0 = one core busy), and resident memory. */
	serverCpu: number;
	serverRssMb: number;
	ok: boolean;
}

const CONNECTIONS = 8;
const TICK_MS = 50;
const P99_LIMIT_MS = 250;

function rawClient(port: number, clientId: string): Promise<Socket> {
	return new Promise((resolve, reject) => {
		const socket = connect({ port, host: "127.0.0.1" });
		socket.setNoDelay(true);
		socket.once("error", reject);
		socket.once("connect", () => {
			socket.write(generate({ cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clean: true, clientId, keepalive: 0 }));
			resolve(socket);
		});
	});
}

function serverUsage(pid: number): { cpuTicks: number; rssMb: number } {
	const stat = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
	const cpuTicks = Number(stat[11]) + Number(stat[12]);
	const rss = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
	return { cpuTicks, rssMb: rss ? Number(rss[1]) / 1024 : 0 };
}

/** `processes` servers; more than one share the fleet through a shared-subscription group. `serverArgs`: more options for each. */
export async function capacity(broker: TestBroker, fleets: number[], stageMs = 20_000, processes = 1, serverArgs: string[] = []): Promise<CapacityStage[]> {
	const share = processes > 1 ? ["--share", "capacity"] : [];
	const servers: ChildProcess[] = Array.from({ length: processes }, () =>
		spawn(process.execPath, ["dist/nightlight.js", "server", "--http-port", "0", "--broker", broker.url, "--log-level", "error", ...share, ...serverArgs], { stdio: "ignore" }));
	const usage = () => servers.map((server) => serverUsage(server.pid!)).reduce((sum, item) => ({ cpuTicks: sum.cpuTicks + item.cpuTicks, rssMb: sum.rssMb + item.rssMb }));
	const results: CapacityStage[] = [];
	const pending = new Map<string, number>();
	const latencies: number[] = [];
	let received = 0;
	const sockets: Socket[] = [];
	try {
		// The command watcher.
		const watcher = await rawClient(broker.port, `capacity-watch-${process.pid}`);
		sockets.push(watcher);
		const parse = parser({ protocolVersion: 4 });
		parse.on("packet", (packet) => {
			if (packet.cmd !== "publish")
				return;
			const id = packet.topic.slice(0, packet.topic.indexOf("/"));
			const sentAt = pending.get(id);
			if (sentAt === undefined)
				return;
			pending.delete(id);
			received++;
			latencies.push(performance.now() - sentAt);
		});
		watcher.on("data", (chunk) => parse.parse(chunk));
		watcher.write(generate({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "+/commands", qos: 0 }] }));
		for (let k = 0; k < CONNECTIONS; k++)
			sockets.push(await rawClient(broker.port, `capacity-load-${process.pid}-${k}`));
		const loaders = sockets.slice(1);
		await sleep(1_000);

		const count = new Map<number, number>();
		const wasDark = new Map<number, boolean>();
		for (const devices of fleets) {
			// Warm up: every device says it is bright, so decisions start from a known state.
			for (let i = 0; i < devices; i++) {
				wasDark.set(i, false);
				count.set(i, i % 10 + 20 * Math.floor(i / 10));
			}
			for (let i = 0; i < devices; i++)
				loaders[i % CONNECTIONS]!.write(generate({ cmd: "publish", topic: `dev-${i}/telemetry`, payload: `{"light":900}`, qos: 0, retain: false, dup: false }));
			await sleep(2_000);
			pending.clear();
			latencies.length = 0;
			received = 0;
			let expected = 0;
			let sent = 0;
			const perTick = devices * TICK_MS / 1_000;
			let carry = 0;
			let next = 0;
			const before = usage();
			const started = performance.now();
			while (performance.now() - started < stageMs) {
				const tickStart = performance.now();
				carry += perTick;
				const batch = Math.floor(carry);
				carry -= batch;
				for (let j = 0; j < batch; j++) {
					const i = next;
					next = (next + 1) % devices;
					// Offset by the device's index, so that flips are spread evenly over time.
					const n = (count.get(i) ?? i) + 1;
					count.set(i, n);
					// Every tenth reading crosses the threshold: dark, then bright again ten readings later.
					const dark = Math.floor(n / 10) % 2 === 1;
					const flips = dark !== (wasDark.get(i) ?? false);
					wasDark.set(i, dark);
					const id = `dev-${i}`;
					loaders[i % CONNECTIONS]!.write(generate({ cmd: "publish", topic: `${id}/telemetry`, payload: dark ? `{"light":100}` : `{"light":900}`, qos: 0, retain: false, dup: false }));
					sent++;
					if (flips) {
						pending.set(id, performance.now());
						expected++;
					}
				}
				await sleep(Math.max(0, TICK_MS - (performance.now() - tickStart)));
			}
			const elapsed = performance.now() - started;
			await until(() => pending.size === 0 || undefined, "", 2_000).catch(() => undefined);
			const after = usage();
			const sorted = [...latencies].sort((a, b) => a - b);
			const at = (q: number) => sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : Infinity;
			const stage: CapacityStage = {
				devices,
				sent,
				rate: Math.round(sent / (elapsed / 1_000)),
				commandsExpected: expected,
				commandsReceived: received,
				p50: at(0.5),
				p99: at(0.99),
				serverCpu: (after.cpuTicks - before.cpuTicks) / 100 / (elapsed / 1_000),
				serverRssMb: after.rssMb,
				ok: false,
			};
			stage.ok = stage.p99 < P99_LIMIT_MS && received >= expected * 0.99 && stage.rate >= devices * 0.95;
			results.push(stage);
			console.error(`capacity (${processes} server${processes > 1 ? "s" : ""}): ${devices} devices: ${stage.rate}/s sent, commands ${received}/${expected}, p50 ${stage.p50.toFixed(1)} ms, p99 ${stage.p99.toFixed(1)} ms, server ${stage.serverCpu.toFixed(2)} cores ${stage.serverRssMb.toFixed(0)} MB`);
			if (!stage.ok)
				break;
		}
	}
	finally {
		for (const socket of sockets)
			socket.destroy();
		for (const server of servers)
			server.kill("SIGTERM");
		await sleep(200);
		for (const server of servers) {
			if (server.exitCode === null)
				server.kill("SIGKILL");
		}
	}
	return results;
}
