/*
 * Fault tests against real Mosquitto on 127.0.0.1: a broker restart, a killed server, refused and
 * unreachable brokers, and a flood of garbage. Each is bounded in time and stops by itself; each
 * prints the figures it measured (reconnect time, readings lost, time to local mode, outbox peak).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createTlsServer } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "@jest/globals";
import mqtt from "mqtt";
import type { Led, Log } from "../../src/ports.js";
import { type NodeDevice, startNodeDevice } from "../../hosts/node/device.js";
import { type NodeServer, startNodeServer } from "../../server/node.js";
import type { ServerEvent } from "../../server/server.js";
import { freePort, mosquittoAvailable, startMosquitto } from "../support/brokers.js";
import { sleep, until } from "../support/wait.js";

class RecordingLed implements Led {
	on = false;
	write(on: boolean): void {
		this.on = on;
	}
}

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
	while (cleanups.length)
		await cleanups.pop()!();
});

function recorder(): { log: Log; lines: string[] } {
	const lines: string[] = [];
	return { lines, log: (level, tag, message) => lines.push(`${level} ${tag}: ${message}`) };
}

function device(options: Parameters<typeof startNodeDevice>[0]): NodeDevice {
	const node = startNodeDevice(options);
	cleanups.push(() => node.stop());
	return node;
}

function server(url: string, log: Log, onEvent?: (event: ServerEvent) => void): NodeServer {
	const node = startNodeServer({ url, rule: { threshold: 300, hysteresis: 20 }, log, ...(onEvent ? { onEvent } : {}) });
	cleanups.push(() => node.stop());
	return node;
}

/** A report line for the closing note; jest shows console output with the test. */
function figure(line: string): void {
	console.log(`figure: ${line}`);
}

const run = mosquittoAvailable() ? describe : describe.skip;

run("faults, against Mosquitto", () => {
	test("broker stopped for 10 s: everything reconnects, every reading arrives in order, the LED converges", async () => {
		const broker = await startMosquitto({ persistence: true });
		cleanups.push(() => broker.stop());
		const id = `restart-${process.pid}`;
		const observer = await mqtt.connectAsync(broker.url, { clientId: `observer-${id}`, clean: false, reconnectPeriod: 250 });
		cleanups.push(() => observer.endAsync(true));
		const telemetry: Array<{ light: number; ts: number }> = [];
		observer.on("message", (topic, payload) => {
			if (topic.endsWith("/telemetry"))
				telemetry.push(JSON.parse(payload.toString()));
		});
		await observer.subscribeAsync(`${id}/telemetry`, { qos: 1 });

		const availability: string[] = [];
		const serverLog = recorder();
		const srv = server(broker.url, serverLog.log, (event) => {
			if (event.type === "availability" && event.id === id)
				availability.push(event.availability);
		});
		const led = new RecordingLed();
		const deviceLog = recorder();
		const node = device({ id, url: broker.url, light: 600, led, log: deviceLog.log });
		await until(() => node.device.stats.commandsApplied > 0 && availability.at(-1) === "online", "device commanded and online");

		await broker.pause!();
		const stoppedAt = Date.now();
		const outage: number[] = [];
		for (const level of [100, 900, 150, 850, 200, 800, 250, 750, 120]) {
			await sleep(1_000);
			node.sensor.set(level);
			outage.push(level);
		}
		await sleep(Math.max(0, 10_000 - (Date.now() - stoppedAt)));
		const queuedPeak = node.device.stats.peakQueuedBytes;
		await broker.start!();
		const restartedAt = Date.now();

		await until(() => node.device.stats.connects >= 2, "the device reconnects", 40_000);
		const deviceReconnectMs = Date.now() - restartedAt;
		await until(() => srv.server.stats.connects >= 2, "the server reconnects", 40_000);
		const serverReconnectMs = Date.now() - restartedAt;
		await until(() => node.device.stats.queued === 0, "the outbox drains", 10_000);

		const during = () => telemetry.filter((reading) => reading.ts > stoppedAt && reading.ts < restartedAt).map((reading) => reading.light);
		await until(() => during().length >= outage.length, "the outage's readings at the observer", 15_000);
		expect(during()).toEqual(outage);
		await until(() => led.on === true, "the LED converges on the last reading (120: on)", 10_000);
		await until(() => availability.at(-1) === "online", "availability back online");
		expect(availability).toContain("offline");
		expect(node.device.stats.dropped).toBe(0);
		figure(`broker restart after a 10 s outage: device reconnected in ${deviceReconnectMs} ms, server in ${serverReconnectMs} ms; readings lost: ${outage.length - during().length} of ${outage.length}; outbox peak ${queuedPeak} bytes`);
	}, 90_000);

	test("server killed: the device goes local within the grace period and lights the dark room; control returns when the server does", async () => {
		const broker = await startMosquitto();
		cleanups.push(() => broker.stop());
		const id = `killed-${process.pid}`;
		const startServerProcess = () => {
			const child = spawn(process.execPath, ["dist/nightlight.js", "server", "--http-port", "0", "--broker", broker.url, "--log-level", "warn"], { stdio: "ignore" });
			cleanups.push(() => { if (child.exitCode === null) child.kill("SIGKILL"); });
			return child;
		};
		let serverProcess: ChildProcess = startServerProcess();
		const led = new RecordingLed();
		const node = device({ id, url: broker.url, light: 600, led, log: recorder().log });
		const states: Array<{ led_on: boolean; mode: string }> = [];
		const observer = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
		cleanups.push(() => observer.endAsync(true));
		observer.on("message", (_topic, payload) => states.push(JSON.parse(payload.toString())));
		await observer.subscribeAsync(`${id}/state`, { qos: 1 });
		await until(() => node.device.stats.commandsApplied > 0, "the server's first command", 15_000);

		serverProcess.kill("SIGKILL");
		const killedAt = Date.now();
		await until(() => node.device.mode === "local", "local mode", 30_000);
		const toLocalMs = Date.now() - killedAt;
		expect(toLocalMs).toBeGreaterThanOrEqual(9_000);
		node.sensor.set(80);
		expect(led.on).toBe(true);
		await until(() => states.some((state) => state.mode === "local" && state.led_on), "state says local, LED on");

		serverProcess = startServerProcess();
		await until(() => node.device.mode === "remote", "control back with the server", 20_000);
		const appliedBefore = node.device.stats.commandsApplied;
		node.sensor.set(900);
		await until(() => led.on === false && node.device.stats.commandsApplied > appliedBefore, "the server commands the LED off", 10_000);
		figure(`server killed: the device went local ${toLocalMs} ms later (grace 10 s)`);
	}, 90_000);

	test("a wrong password, an unreachable port, a TLS port in plain MQTT: a clear error and bounded retries", async () => {
		const dir = mkdtempSync(join(tmpdir(), "nightlight-faults-"));
		cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
		const passwords = join(dir, "passwd");
		execFileSync("mosquitto_passwd", ["-b", "-c", passwords, "maker", "right-password"]);
		const secured = await startMosquitto({ config: ["allow_anonymous false", `password_file ${passwords}`] });
		cleanups.push(() => secured.stop());

		execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "1", "-subj", "/CN=localhost"], { stdio: "ignore" });
		const tls = createTlsServer({ key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) });
		tls.on("tlsClientError", () => undefined);
		await new Promise<void>((resolve) => tls.listen(0, "127.0.0.1", resolve));
		cleanups.push(() => new Promise((resolve) => tls.close(resolve)));
		const tlsPort = (tls.address() as { port: number }).port;
		const nothing = await freePort();

		const cases = [
			{ name: "wrong password", url: secured.url, username: "maker", password: "wrong", expected: /refused/ },
			{ name: "unreachable port", url: `mqtt://127.0.0.1:${nothing}`, expected: /nothing is listening/ },
			{ name: "TLS port", url: `mqtt://127.0.0.1:${tlsPort}`, expected: /use mqtts:\/\// },
		].map((item) => {
			const log = recorder();
			const node = device({ id: `fault-${item.name.replaceAll(" ", "-")}`, url: item.url, username: item.username, password: item.password, light: 500, led: new RecordingLed(), log: log.log });
			return { ...item, log, node };
		});
		await sleep(15_000);
		for (const item of cases) {
			const attempts = item.node.device.stats.connects;
			expect(attempts).toBe(0);
			const errors = item.log.lines.filter((line) => line.startsWith("error"));
			expect(errors.join("\n")).toMatch(item.expected);
			expect(errors.join("\n")).not.toMatch(/\n\s+at /);
			const tries = item.log.lines.filter((line) => line.includes("next connection attempt")).length;
			expect(tries).toBeGreaterThanOrEqual(3);
			expect(tries).toBeLessThanOrEqual(10);
			figure(`${item.name}: ${tries + 1} connection attempts in 15 s, ${errors.length} error lines, first: ${errors[0]}`);
		}
	}, 60_000);

	test("10,000 malformed commands in a burst: the device keeps sampling and publishing, memory stays bounded", async () => {
		const broker = await startMosquitto({ config: ["max_queued_messages 20000"] });
		cleanups.push(() => broker.stop());
		const id = `flood-${process.pid}`;
		server(broker.url, recorder().log);
		const led = new RecordingLed();
		const log = recorder();
		const node = device({ id, url: broker.url, light: 600, led, log: log.log });
		await until(() => node.device.stats.commandsApplied > 0, "first command");
		const heapBefore = process.memoryUsage().heapUsed;
		const sender = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
		cleanups.push(() => sender.endAsync(true));
		const garbage = [`{"led_on":"yes"}`, "}{", "[".repeat(200), `{"led_on":1e999}`, "\u0000\uffff", `{"led_on":true,"seq":-4}`];
		for (let i = 0; i < 10_000; i++) {
			sender.publish(`${id}/commands`, garbage[i % garbage.length]!, { qos: 0 });
			if (i === 5_000)
				node.sensor.set(100);
		}
		await until(() => node.device.stats.rejected >= 10_000, "all 10,000 rejected", 30_000);
		await until(() => led.on === true, "the step during the flood still lights the LED", 10_000);
		const sentBefore = node.device.stats.telemetrySent;
		node.sensor.set(900);
		await until(() => node.device.stats.telemetrySent > sentBefore && led.on === false, "still reporting and obeying after the flood", 10_000);
		expect(node.device.stats.rejected).toBe(10_000);
		expect(log.lines.length).toBeLessThan(40);
		const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
		expect(heapGrowth).toBeLessThan(64 * 1024 * 1024);
		figure(`10,000 malformed commands: all rejected and counted, ${log.lines.length} log lines, heap growth ${(heapGrowth / 1048576).toFixed(1)} MB (test process, with the broker client)`);
	}, 60_000);

	test("a command as large as the broker allows is refused before it is decoded, and counted in the state", async () => {
		const broker = await startMosquitto({ config: ["max_packet_size 1048576"] });
		cleanups.push(() => broker.stop());
		const id = `huge-${process.pid}`;
		const node = device({ id, url: broker.url, light: 600, led: new RecordingLed(), log: recorder().log });
		await until(() => node.client.connected && node.device.stats.telemetrySent > 0, "connected");
		const sender = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
		cleanups.push(() => sender.endAsync(true));
		const states: Array<{ rejected: number }> = [];
		sender.on("message", (_topic, payload) => states.push(JSON.parse(payload.toString())));
		await sender.subscribeAsync(`${id}/state`, { qos: 1 });
		await sender.publishAsync(`${id}/commands`, Buffer.alloc(1_048_576 - 64 - id.length, "{"), { qos: 1 });
		await until(() => node.device.stats.rejected === 1, "rejected");
		await until(() => states.some((state) => state.rejected === 1), "visible in the state", 10_000);
	}, 30_000);
});
