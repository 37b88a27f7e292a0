/*
 * `nightlight bridge` on a real serial device path (a pseudo-terminal pair) against Mosquitto on
 * 127.0.0.1: a board's end of the link on Node (MQTT.js over test/support/link-peer.ts) reaches
 * the broker through it; garbage on the line, a bridge restart and the broker's credentials.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "@jest/globals";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { Bridge } from "../../cli/bridge.js";
import type { Log } from "../../src/ports.js";
import { type TestBroker, mosquittoAvailable, startMosquitto } from "../support/brokers.js";
import { runCli } from "../support/cli.js";
import { LinkPeer } from "../support/link-peer.js";
import { type Pty, openPty, ptyAvailable } from "../support/pty.js";
import { until } from "../support/wait.js";

const hasPty = ptyAvailable();
if (!hasPty)
	process.stdout.write("skipped: python3 with its pty module is missing (a pseudo-terminal pair for the bridge)\n");
const suite = hasPty && mosquittoAvailable() ? describe : describe.skip;

const lines: string[] = [];
const log: Log = (level, tag, message) => lines.push(`${level} ${tag}: ${message}`);

/** The board's end: a LinkPeer on the pty's master, with MQTT.js on it. */
function board(pty: Pty, options: mqtt.IClientOptions = {}): { peer: LinkPeer; client: MqttClient } {
	const peer = new LinkPeer((bytes) => pty.write(bytes));
	pty.onData((bytes) => peer.feed(bytes));
	const client = new mqtt.MqttClient(() => peer.connect(), { clientId: "board-1", keepalive: 5, reconnectPeriod: 200, connectTimeout: 3_000, protocolVersion: 4, ...options });
	return { peer, client };
}

suite("the serial bridge on a pseudo-terminal, against Mosquitto", () => {
	let broker: TestBroker & { dir: string };
	const clients: MqttClient[] = [];
	const bridges: Bridge[] = [];
	const ptys: Pty[] = [];

	beforeAll(async () => {
		broker = await startMosquitto();
	});
	afterEach(async () => {
		for (const client of clients.splice(0))
			client.end(true);
		for (const bridge of bridges.splice(0))
			await bridge.stop();
		for (const pty of ptys.splice(0))
			await pty.close();
	});
	afterAll(async () => {
		await broker?.stop();
	});

	async function setup(options: { username?: string; password?: string; url?: string } = {}) {
		const pty = await openPty();
		ptys.push(pty);
		const bridge = new Bridge({ serial: pty.path, broker: options.url ?? broker.url, username: options.username, password: options.password, log, reopenMs: 100 });
		bridges.push(bridge);
		await bridge.start();
		const { peer, client } = board(pty);
		clients.push(client);
		const watcher = mqtt.connect(options.url ?? broker.url, { clientId: "watcher", ...(options.username ? { username: options.username, password: options.password } : {}) });
		clients.push(watcher);
		await until(() => watcher.connected, "the watcher");
		return { pty, bridge, peer, client, watcher };
	}

	test("the board connects through the bridge, publishes, and receives what it subscribed to", async () => {
		const { bridge, client, watcher } = await setup();
		const seen: string[] = [];
		watcher.on("message", (topic, payload) => seen.push(`${topic} ${payload.toString()}`));
		await new Promise((resolve) => watcher.subscribe("board/telemetry", { qos: 1 }, resolve));
		await until(() => client.connected, "the board connected through the bridge");
		const received: string[] = [];
		client.on("message", (topic, payload) => received.push(`${topic} ${payload.toString()}`));
		await new Promise((resolve) => client.subscribe("board/commands", { qos: 1 }, resolve));
		client.publish("board/telemetry", JSON.stringify({ light: 412, seq: 0 }), { qos: 1 });
		// A packet longer than one frame goes in several.
		client.publish("board/telemetry", "x".repeat(1_000), { qos: 1 });
		watcher.publish("board/commands", JSON.stringify({ led_on: true }), { qos: 1 });
		await until(() => seen.length === 2 && received.length === 1, "both ways");
		expect(seen).toEqual([`board/telemetry {"light":412,"seq":0}`, `board/telemetry ${"x".repeat(1_000)}`]);
		expect(received).toEqual([`board/commands {"led_on":true}`]);
		// One connection, or two when the board's first OPEN crossed the bridge's "I hold nothing" on the line.
		expect(bridge.stats.opened).toBeGreaterThanOrEqual(1);
		expect(bridge.stats.opened).toBeLessThanOrEqual(2);
	});

	test("1,000 garbage bytes on the line: the link recovers", async () => {
		const { pty, client, watcher } = await setup();
		await until(() => client.connected, "the board connected");
		const seen: string[] = [];
		watcher.on("message", (_topic, payload) => seen.push(payload.toString()));
		await new Promise((resolve) => watcher.subscribe("board/telemetry", { qos: 1 }, resolve));
		const garbage = new Uint8Array(1_000);
		for (let i = 0; i < garbage.length; i++)
			garbage[i] = (i * 73 + 11) & 0xff;
		pty.write(garbage);
		client.publish("board/telemetry", "after garbage", { qos: 1 });
		await until(() => seen.includes("after garbage"), "a message after the garbage", 15_000);
		expect(client.connected).toBe(true);
	}, 20_000);

	test("the bridge stopped and started again: the board connects again", async () => {
		const { pty, bridge, client, watcher } = await setup();
		await until(() => client.connected, "the board connected");
		let offline = 0;
		client.on("offline", () => offline++);
		await bridge.stop();
		const again = new Bridge({ serial: pty.path, broker: broker.url, log, reopenMs: 100 });
		bridges.push(again);
		await again.start();
		// The board finds out at its next packet (here its keep-alive): the new bridge knows no connection.
		await until(() => offline > 0 && client.connected, "the board back through the new bridge", 20_000);
		const seen: string[] = [];
		watcher.on("message", (_topic, payload) => seen.push(payload.toString()));
		await new Promise((resolve) => watcher.subscribe("board/telemetry", { qos: 1 }, resolve));
		client.publish("board/telemetry", "after restart", { qos: 1 });
		await until(() => seen.includes("after restart"), "a message through the new bridge");
		expect(again.stats.opened).toBeGreaterThanOrEqual(1);
	}, 30_000);

	test("the port going away is logged and the bridge waits for it", async () => {
		const { pty, client } = await setup();
		await until(() => client.connected, "the board connected");
		await pty.close();
		await until(() => lines.some((line) => /went away \(the board unplugged\?\); waiting/.test(line)), "the unplug line", 10_000);
	}, 15_000);

	test("missing port, no permission, --help, and a missing --serial: one line each", () => {
		expect(() => new Bridge({ serial: "/dev/x", broker: "ws://127.0.0.1:1", log })).toThrow(/mqtt:\/\/ or mqtts:\/\//);
		const missing = runCli(["bridge", "--serial", "/dev/ttyNOSUCHPORT", "--broker", broker.url]);
		expect(missing.status).toBe(2);
		expect(missing.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^nightlight bridge: no serial port \/dev\/ttyNOSUCHPORT: is the board plugged in/)]);
		const none = runCli(["bridge"]);
		expect(none.status).toBe(2);
		expect(none.stderr).toMatch(/--serial PORT is required/);
		const help = runCli(["bridge", "--help"]);
		expect(help.status).toBe(0);
		expect(help.stdout).toMatch(/--serial PORT/);
		expect(help.stdout).toMatch(/--username/);
		if (process.getuid?.() !== 0) {
			const file = join(broker.dir, "locked");
			writeFileSync(file, "", { mode: 0o000 });
			const denied = runCli(["bridge", "--serial", file]);
			expect(denied.stderr).toMatch(/no permission to open/);
		}
	});
});

const passwd = spawnSync("sh", ["-c", "command -v mosquitto_passwd"]).status === 0;
(hasPty && passwd && mosquittoAvailable() ? describe : describe.skip)("the bridge's credentials", () => {
	let broker: TestBroker & { dir: string };
	let dir = "";
	beforeAll(async () => {
		dir = mkdtempSync(join(tmpdir(), "nightlight-bridge-"));
		spawnSync("mosquitto_passwd", ["-c", "-b", join(dir, "passwd"), "bridge-user", "s3cret"]);
		broker = await startMosquitto({ config: ["allow_anonymous false", `password_file ${join(dir, "passwd")}`] });
	});
	afterAll(async () => {
		await broker?.stop();
		rmSync(dir, { recursive: true, force: true });
	});

	test("a board with no credentials gets into a broker that wants them, through the bridge's", async () => {
		const pty = await openPty();
		const bridge = new Bridge({ serial: pty.path, broker: broker.url, username: "bridge-user", password: "s3cret", log, reopenMs: 100 });
		await bridge.start();
		const { client } = board(pty);
		try {
			await until(() => client.connected, "the board connected with the bridge's credentials");
		}
		finally {
			client.end(true);
			await bridge.stop();
			await pty.close();
		}
	});
});
