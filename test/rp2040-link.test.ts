/*
 * The whole system with the real Pico image on an emulated RP2040: the plain Pico built with
 * link=serial, its UART0 wired to `nightlight bridge` (in this process, over a stream), Mosquitto on
 * 127.0.0.1 and `nightlight server` as a child process. Dark on the ADC makes the server command
 * the device and the LED pin goes on; bright turns it off; garbage on the line, the bridge
 * restarted, the broker restarted (readings taken meanwhile arrive in order), the server killed
 * (local mode), and a lesson-style server. Runs where the Moddable SDK, the Pico SDK and the boot
 * ROM are present; prints "skipped: ..." elsewhere.
 *
 * The board runs at a fraction of real time (0.2-0.4 emulated s per wall s) while the bridge,
 * the broker and the server run in wall time: the image is built with a long keep-alive, so the
 * broker does not take the slow board for a dead one.
 */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Duplex } from "node:stream";
import mqtt, { type MqttClient } from "mqtt";
import { Bridge } from "../cli/bridge.js";
import type { Log } from "../src/ports.js";
import { type TestBroker, mosquittoAvailable, startMosquitto } from "./support/brokers.js";
import { startCli, stopCli } from "./support/cli.js";
import { type PicoImage, buildPico, picoPrerequisites } from "./support/pico-build.js";
import { ADC_MAX, EmulatedPico } from "./support/rp2040.js";
import { until } from "./support/wait.js";

const missing = picoPrerequisites({ emulator: true });
if (missing)
	process.stdout.write(`skipped: ${missing}\n`);
const suite = !missing && mosquittoAvailable() ? describe : describe.skip;

const ID = "pico-link";
const LED = 25;
const GRACE_MS = 3_000;
const adc = (light: number) => Math.round((light / 1023) * ADC_MAX);

/** UART0 of the emulated board as a stream for the bridge. */
function uartStream(pico: EmulatedPico): Duplex {
	let stop: (() => void) | undefined;
	const stream = new Duplex({
		read() {},
		write(chunk: Buffer, _encoding, callback) {
			pico.writeUart(chunk);
			callback();
		},
		destroy(error, callback) {
			stop?.();
			callback(error);
		},
	});
	stop = pico.onUartBytes((bytes) => stream.push(Buffer.from(bytes)));
	return stream;
}

suite("the Pico joined over a serial link, end to end on the emulated chip", () => {
	let out = "";
	let state = "";
	let image: PicoImage;
	let pico: EmulatedPico;
	let broker: TestBroker & { dir: string };
	let bridge: Bridge;
	let watcher: MqttClient;
	let server: { child: ChildProcessWithoutNullStreams; output: { text: string } } | undefined;
	const children: ChildProcessWithoutNullStreams[] = [];
	const bridgeLines: string[] = [];
	const log: Log = (level, tag, message) => bridgeLines.push(`${level} ${tag}: ${message}`);
	const telemetry: Array<{ light: number; seq: number; replay?: boolean }> = [];
	const commands: boolean[] = [];
	let serverStatus = "";

	const startBridge = async () => {
		bridge = new Bridge({ serial: uartStream(pico), broker: broker.url, log });
		await bridge.start();
	};
	const startServer = () => {
		server = startCli(["server", "--broker", broker.url, "--http-port", "0", "--state-dir", state, "--keepalive", "60"], children);
	};
	const connects = () => pico.traces.filter((line) => /info mqtt: connected to/.test(line.text)).length;
	/** Sets the light and runs the board until the LED pin is `high`. */
	const light = async (level: number, high: boolean, withinMs = 30_000) => {
		pico.setAdc(0, adc(level));
		const done = await pico.runUntil(() => pico.pin(LED) === high, withinMs);
		if (!done)
			throw new Error(`the LED did not go ${high ? "on" : "off"} at light ${level}; trace:\n${pico.tail(30)}\nbridge:\n${bridgeLines.slice(-10).join("\n")}\nserver:\n${server?.output.text.slice(-2000)}`);
	};

	beforeAll(async () => {
		out = mkdtempSync(join(tmpdir(), "nightlight-rp2040-link-"));
		state = join(out, "state");
		image = buildPico({ board: "pico", out, settings: ["link=serial", `id=${ID}`, "keepalive=600", `grace_ms=${GRACE_MS}`] });
		broker = await startMosquitto({ persistence: true });
		watcher = mqtt.connect(broker.url, { clientId: "watcher", reconnectPeriod: 200 });
		watcher.on("message", (topic, payload) => {
			if (topic === `${ID}/telemetry` && payload.length)
				telemetry.push(JSON.parse(payload.toString()));
			if (topic === "nightlight/server/status")
				serverStatus = payload.toString();
			if (topic === `${ID}/commands` && payload.length)
				commands.push((JSON.parse(payload.toString()) as { led_on: boolean }).led_on);
		});
		await until(() => watcher.connected, "the watcher");
		await new Promise((resolve) => watcher.subscribe([`${ID}/#`, "nightlight/server/status"], { qos: 1 }, resolve));
		startServer();
		await until(() => serverStatus === "online", "the server online", 30_000);
		pico = new EmulatedPico({ uf2: image.uf2, limits: { emulatedMs: 600_000, wallMs: 12 * 60_000 }, watchPins: [LED] });
		pico.setAdc(0, adc(800));
		await startBridge();
	}, 16 * 60_000);
	afterAll(async () => {
		pico?.close();
		if (pico?.faults.length)
			process.stdout.write(`pico trace:\n${pico.tail(40)}\n`);
		await bridge?.stop();
		watcher?.end(true);
		for (const child of children)
			await stopCli(child);
		await broker?.stop();
		if (out)
			rmSync(out, { recursive: true, force: true });
	});

	test("starts, reaches the broker through the bridge; the server's commands drive the LED pin", async () => {
		const start = await pico.waitForTrace(/nightlight on pico, serial link:/, 5_000);
		expect(start.text).toContain(`id=${ID}`);
		await pico.waitForTrace(/info mqtt: connected to/, 20_000);
		await until(() => telemetry.length > 0, "the first reading", 30_000).catch(async () => {
			await pico.runUntil(() => telemetry.length > 0, 10_000);
		});
		const before = commands.length;
		await light(100, true);
		expect(commands.slice(before)).toContain(true);
		expect(pico.traces.some((line) => /mode local/.test(line.text))).toBe(false);
		await light(900, false);
		expect(commands.at(-1)).toBe(false);
		expect(pico.faults).toEqual([]);
	}, 6 * 60_000);

	test("1,000 garbage bytes on the line: the link recovers", async () => {
		const garbage = new Uint8Array(1_000);
		for (let i = 0; i < garbage.length; i++)
			garbage[i] = (i * 131 + 7) & 0xff;
		pico.writeUart(garbage);
		await pico.runFor(2_000);
		await light(100, true);
		await light(900, false);
		expect(pico.faults).toEqual([]);
	}, 6 * 60_000);

	test("the bridge killed and restarted: the board connects again", async () => {
		const before = connects();
		await bridge.stop();
		await pico.runFor(1_000);
		await startBridge();
		await pico.runUntil(() => connects() > before, 30_000);
		expect(connects()).toBeGreaterThan(before);
		await light(100, true);
		await light(900, false);
		expect(pico.faults).toEqual([]);
	}, 6 * 60_000);

	test("the broker restarted: readings taken meanwhile arrive in order", async () => {
		await broker.pause!();
		const lastSeq = telemetry.at(-1)?.seq ?? -1;
		try {
			for (const level of [600, 500, 700, 450]) {
				pico.setAdc(0, adc(level));
				await pico.runFor(1_000);
			}
		}
		finally {
			await broker.start!();
		}
		await pico.runUntil(() => telemetry.some((reading) => reading.seq > lastSeq && reading.light >= 440 && reading.light <= 460), 60_000);
		const after = telemetry.filter((reading) => reading.seq > lastSeq);
		const seqs = after.map((reading) => reading.seq);
		expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
		expect(after.filter((reading) => reading.replay).length).toBeGreaterThanOrEqual(3);
		expect(pico.faults).toEqual([]);
	}, 6 * 60_000);

	test("the server killed: local mode lights the pin in the dark", async () => {
		await stopCli(server!.child);
		await pico.waitForTrace(/mode local/, 30_000);
		await light(100, true);
		await light(900, false);
	}, 6 * 60_000);

	test("a lesson-style server (a command for every reading) drives the board", async () => {
		const lesson = mqtt.connect(broker.url, { clientId: "lesson-server" });
		try {
			lesson.on("message", (_topic, payload) => {
				if (!payload.length)
					return;
				const { light: level } = JSON.parse(payload.toString()) as { light: number };
				lesson.publish(`${ID}/commands`, JSON.stringify({ led_on: level < 300 }));
			});
			await until(() => lesson.connected, "the lesson server");
			await new Promise((resolve) => lesson.subscribe(`${ID}/telemetry`, resolve));
			// Our server's will says it is offline: the board decides locally until commands without
			// ts or seq (a lesson server's) prove a server is there; then it follows them.
			pico.setAdc(0, adc(200));
			await pico.waitForTrace(/following it/, 30_000);
			await light(800, false);
			await light(150, true);
			await light(900, false);
		}
		finally {
			lesson.end(true);
		}
		expect(pico.faults).toEqual([]);
	}, 6 * 60_000);
});
