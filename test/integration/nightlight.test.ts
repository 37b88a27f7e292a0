/*
 * Device and server together against real brokers on 127.0.0.1: Aedes in-process and Mosquitto.
 * Lesson-style peers are plain MQTT.js clients speaking the classic contract.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "@jest/globals";
import mqtt from "mqtt";
import type { Led, Log } from "../../src/ports.js";
import { type NodeDevice, startNodeDevice } from "../../hosts/node/device.js";
import { type NodeServer, startNodeServer } from "../../server/node.js";
import { type TestBroker, mosquittoAvailable, startAedes, startMosquitto } from "../support/brokers.js";
import { until } from "../support/wait.js";

class RecordingLed implements Led {
	on: boolean | undefined;
	changes: boolean[] = [];
	write(on: boolean): void {
		if (on !== this.on)
			this.changes.push(on);
		this.on = on;
	}
}

/** What device and server said during the current test, printed when a wait times out. */
const said: string[] = [];
const quiet: Log = (level, tag, message) => {
	said.push(`${new Date().toISOString().slice(17, 23)} ${level} ${tag}: ${message}`);
};

async function waitFor<T>(probe: () => T | undefined | false, what: string, timeoutMs?: number): Promise<T> {
	try {
		return await until(probe, what, timeoutMs);
	}
	catch (error) {
		console.log(`${(error as Error).message}; the log:\n${said.join("\n")}`);
		throw error;
	}
}

interface Received {
	topic: string;
	text: string;
	retain: boolean;
}

/** A plain MQTT.js client that records what it receives. */
async function observer(url: string, topics: string[], options: mqtt.IClientOptions = {}): Promise<{ client: mqtt.MqttClient; received: Received[] }> {
	const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, ...options });
	const received: Received[] = [];
	client.on("message", (topic, payload, packet) => received.push({ topic, text: payload.toString(), retain: packet.retain }));
	if (topics.length)
		await client.subscribeAsync(topics, { qos: 1 });
	return { client, received };
}

const brokers: Array<[string, () => Promise<TestBroker>]> = [["Aedes", startAedes]];
if (mosquittoAvailable())
	brokers.push(["Mosquitto", () => startMosquitto()]);

describe.each(brokers)("the nightlight against %s", (_name, startTestBroker) => {
	let broker: TestBroker;
	const cleanups: Array<() => Promise<unknown> | unknown> = [];
	let counter = 0;
	const uniqueId = () => `test-${process.pid}-${++counter}`;

	beforeAll(async () => {
		broker = await startTestBroker();
	});
	afterEach(async () => {
		while (cleanups.length)
			await cleanups.pop()!();
		said.length = 0;
	});
	afterAll(async () => {
		await broker?.stop();
	});

	function device(id: string, led: Led, url = broker.url): NodeDevice {
		const node = startNodeDevice({ id, url, light: 600, led, log: quiet, onEvent: (event) => quiet("debug", `event ${id}`, JSON.stringify(event)) });
		cleanups.push(() => node.stop());
		return node;
	}

	function server(hysteresis = 20): NodeServer {
		const node = startNodeServer({ url: broker.url, rule: { threshold: 300, hysteresis }, log: quiet, onEvent: (event) => quiet("debug", "server", JSON.stringify(event)) });
		cleanups.push(() => node.stop());
		return node;
	}

	async function watch(topics: string[]): Promise<Received[]> {
		const { client, received } = await observer(broker.url, topics);
		cleanups.push(() => client.endAsync());
		return received;
	}

	test("a light step lights the LED and a step back darkens it", async () => {
		const id = uniqueId();
		const led = new RecordingLed();
		const received = await watch([`${id}/#`]);
		server();
		const node = device(id, led);
		await waitFor(() => received.some((m) => m.topic === `${id}/telemetry` && JSON.parse(m.text).light === 600), "the first reading");
		await waitFor(() => led.on === false && node.device.stats.commandsApplied > 0, "the server's first command");
		node.sensor.set(100);
		await waitFor(() => led.on === true, "LED on");
		expect(received.filter((m) => m.topic === `${id}/commands`).map((m) => JSON.parse(m.text).led_on)).toContain(true);
		node.sensor.set(700);
		await waitFor(() => led.on === false && led.changes.length === 3, "LED off again");
		expect(led.changes).toEqual([false, true, false]);
	});

	test("state and status are retained for a late subscriber, and the will says offline", async () => {
		const id = uniqueId();
		const led = new RecordingLed();
		server();
		const early = await watch([`${id}/state`]);

		const node = device(id, led);
		node.sensor.set(50);
		await waitFor(() => led.on === true, "LED on");
		// The LED changes before its state reaches the broker: wait for the broker to relay it.
		await waitFor(() => early.some((m) => JSON.parse(m.text).led_on === true), "the new state at the broker");
		const late = await watch([`${id}/state`, `${id}/status`]);
		await waitFor(() => late.length >= 2, "retained messages");
		const state = late.find((m) => m.topic === `${id}/state`)!;
		expect(state.retain).toBe(true);
		expect(JSON.parse(state.text)).toEqual({ led_on: true, mode: "remote", rejected: 0 });
		expect(late.find((m) => m.topic === `${id}/status`)).toMatchObject({ text: "online", retain: true });
		// Drop the device's connection without a clean disconnect: the broker publishes the will.
		node.device.stop();
		node.client.stream.destroy();
		node.client.end(true);
		await waitFor(() => late.some((m) => m.topic === `${id}/status` && m.text === "offline"), "the will");
	});

	test("malformed commands are ignored and counted; a good one still works", async () => {
		const id = uniqueId();
		const led = new RecordingLed();
		const node = device(id, led);
		await waitFor(() => node.client.connected && node.device.stats.telemetrySent > 0, "connected");
		const { client } = await observer(broker.url, []);
		cleanups.push(() => client.endAsync());
		const bad = ["garbage", `{"led_on":"on"}`, "[]", `{"led_on":true,"x":"${"y".repeat(400)}"}`, Buffer.from([0xc3, 0x28])];
		for (const payload of bad)
			await client.publishAsync(`${id}/commands`, payload, { qos: 1 });
		await waitFor(() => node.device.stats.rejected === bad.length, "all rejected");
		expect(led.on).toBe(false);
		await client.publishAsync(`${id}/commands`, `{"led_on":true}`, { qos: 1 });
		await waitFor(() => led.on === true, "the good command applied");
	});

	test("a lesson-style device (QoS 0, no retain, no will, periodic telemetry) is commanded", async () => {
		const id = uniqueId();
		server(0);
		const lesson = await observer(broker.url, [`${id}/commands`], { clientId: `lesson-${id}` });
		cleanups.push(() => lesson.client.endAsync());
		const commands = () => lesson.received.filter((m) => m.topic === `${id}/commands`).map((m) => JSON.parse(m.text).led_on as boolean);
		const send = (light: number) => lesson.client.publishAsync(`${id}/telemetry`, JSON.stringify({ light }), { qos: 0 });
		await send(120);
		await waitFor(() => commands().at(-1) === true, "led_on true");
		await send(130);
		await send(800);
		await waitFor(() => commands().at(-1) === false, "led_on false");
		expect(commands()).toEqual([true, false]);
	});

	test("our device obeys a lesson-style server that commands every telemetry message", async () => {
		const id = uniqueId();
		const led = new RecordingLed();
		const lesson = await observer(broker.url, [`${id}/telemetry`], { clientId: `lesson-server-${id}` });
		cleanups.push(() => lesson.client.endAsync());
		lesson.client.on("message", (topic, payload) => {
			if (topic !== `${id}/telemetry`)
				return;
			const { light } = JSON.parse(payload.toString()) as { light: number };
			void lesson.client.publishAsync(`${id}/commands`, JSON.stringify({ led_on: light < 300 }), { qos: 0 });
		});
		const node = device(id, led);
		await waitFor(() => node.device.stats.commandsApplied > 0, "first command");
		node.sensor.set(20);
		await waitFor(() => led.on === true, "LED on");
		node.sensor.set(900);
		await waitFor(() => led.on === false && led.changes.length === 3, "LED off");
	});

	test("one reading per connect: a lesson server hears, and answers, one reading when the device connects", async () => {
		const id = uniqueId();
		const lesson = await observer(broker.url, [`${id}/telemetry`], { clientId: `lesson-server-${id}` });
		cleanups.push(() => lesson.client.endAsync());
		let answered = 0;
		lesson.client.on("message", (topic, payload) => {
			if (topic !== `${id}/telemetry`)
				return;
			answered++;
			const { light } = JSON.parse(payload.toString()) as { light: number };
			void lesson.client.publishAsync(`${id}/commands`, JSON.stringify({ led_on: light < 300 }), { qos: 0 });
		});
		const node = device(id, new RecordingLed());
		await waitFor(() => node.device.stats.commandsApplied > 0, "the lesson server's command");
		// Well past the minimum gap (250 ms) and the time a second copy took to follow (about 25 ms).
		await new Promise((resolve) => setTimeout(resolve, 1_500));
		expect(lesson.received.filter((m) => m.topic === `${id}/telemetry`)).toHaveLength(1);
		expect(answered).toBe(1);
		expect(node.device.stats.telemetrySent).toBe(1);
	});

	if (_name === "Aedes") {
		test("a device over MQTT over WebSocket works like one over TCP", async () => {
			const id = uniqueId();
			const led = new RecordingLed();
			server();
			const node = device(id, led, broker.wsUrl);
			await waitFor(() => node.device.stats.commandsApplied > 0, "first command over ws://");
			node.sensor.set(10);
			await waitFor(() => led.on === true, "LED on over ws://");
		});
	}
});
