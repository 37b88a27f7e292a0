/*
 * The server's decision holds, against real Mosquitto on 127.0.0.1: a foreign command (no seq or
 * ts, as mosquitto_pub, a lesson-style server or a web page sends) is obeyed by our device at once,
 * then corrected by our server. Each case prints how long the device stayed drifted.
 */
import { afterEach, describe, expect, test } from "@jest/globals";
import mqtt from "mqtt";
import type { Led } from "../../src/ports.js";
import { type NodeDevice, startNodeDevice } from "../../hosts/node/device.js";
import { CORRECT_AFTER_MS } from "../../server/convergence.js";
import { type NodeServer, startNodeServer } from "../../server/node.js";
import { type TestBroker, mosquittoAvailable, startMosquitto } from "../support/brokers.js";
import { until } from "../support/wait.js";

class TimedLed implements Led {
	on = false;
	writes: Array<{ on: boolean; at: number }> = [];
	write(on: boolean): void {
		this.on = on;
		this.writes.push({ on, at: performance.now() });
	}
}

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
	while (cleanups.length)
		await cleanups.pop()!();
});

const run = mosquittoAvailable() ? describe : describe.skip;

run("convergence, against Mosquitto", () => {
	let broker: TestBroker;

	async function rig(name: string, light: number): Promise<{ id: string; led: TimedLed; node: NodeDevice; srv: NodeServer; foreign: mqtt.MqttClient }> {
		broker = await startMosquitto();
		cleanups.push(() => broker.stop());
		const id = `${name}-${process.pid}`;
		const srv = startNodeServer({ url: broker.url, rule: { threshold: 300, hysteresis: 20 }, log: () => undefined });
		cleanups.push(() => srv.stop());
		const led = new TimedLed();
		const node = startNodeDevice({ id, url: broker.url, light, led, log: () => undefined });
		cleanups.push(() => node.stop());
		await until(() => node.device.stats.commandsApplied > 0 && srv.server.device(id)?.ledState === led.on, "the device commanded and its state reported");
		const foreign = await mqtt.connectAsync(broker.url, { clientId: `foreign-${id}`, reconnectPeriod: 0 });
		cleanups.push(() => foreign.endAsync(true));
		return { id, led, node, srv, foreign };
	}

	/** Sends a foreign command as mosquitto_pub would (QoS 0, not retained) and times the drift. */
	async function drift(r: Awaited<ReturnType<typeof rig>>, foreignOn: boolean, label: string): Promise<void> {
		const decided = r.led.on;
		expect(decided).toBe(!foreignOn);
		const writes = r.led.writes.length;
		const sentAt = performance.now();
		await r.foreign.publishAsync(`${r.id}/commands`, JSON.stringify({ led_on: foreignOn }), { qos: 0 });
		const obeyed = await until(() => r.led.writes.slice(writes).find((write) => write.on === foreignOn), "the device to obey the foreign command", 5_000);
		const corrected = await until(() => r.led.writes.slice(writes).find((write) => write.on === decided && write.at >= obeyed.at), "the server to correct the device", 10_000);
		expect(r.srv.server.device(r.id)!.drift.corrections).toBeGreaterThanOrEqual(1);
		await until(() => r.srv.server.device(r.id)?.drift.drifting === false, "the drift to clear once the device obeys", 5_000);
		const retained = await retainedCommand(r.id);
		expect(retained.led_on).toBe(decided);
		console.log(`figure: ${label}: obeyed ${Math.round(obeyed.at - sentAt)} ms after it was sent, corrected ${Math.round(corrected.at - obeyed.at)} ms later (the server waits ${CORRECT_AFTER_MS} ms before correcting)`);
	}

	async function retainedCommand(id: string): Promise<{ led_on: boolean; seq?: number; ts?: number }> {
		const reader = await mqtt.connectAsync(broker.url, { clientId: `reader-${id}`, reconnectPeriod: 0 });
		cleanups.push(() => reader.endAsync(true));
		const message = new Promise<string>((resolve) => reader.on("message", (_topic, payload) => resolve(payload.toString())));
		await reader.subscribeAsync(`${id}/commands`, { qos: 1 });
		return JSON.parse(await message);
	}

	test("light 500: a foreign led_on true is obeyed, then corrected to off", async () => {
		const r = await rig("bright", 500);
		await drift(r, true, "light 500, foreign led_on true");
	});

	test("light 100: a foreign led_on false is obeyed, then corrected to on", async () => {
		const r = await rig("dark", 100);
		await drift(r, false, "light 100, foreign led_on false");
	});

	test("an off override set through the server: a foreign led_on true is corrected to off", async () => {
		const r = await rig("forced", 100);
		expect(r.led.on).toBe(true);
		expect(r.srv.server.setOverride({ kind: "device", id: r.id, mode: "off" })).toEqual({ ok: true });
		await until(() => !r.led.on && r.srv.server.device(r.id)?.ledState === false, "the override to switch the LED off");
		await drift(r, true, "override off, foreign led_on true");
		expect(r.srv.server.devices().find((record) => record.id === r.id)).toMatchObject({ ledOn: false, ledState: false, mode: "remote" });
	});
});
