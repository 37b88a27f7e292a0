/*
 * Scenarios for the device core on a fake clock and a fake MQTT client. Portable: jest runs them
 * on Node, and the same bundle runs on the XS engine, so both must agree.
 */
import { Device, type DeviceOptions } from "../../src/device.js";
import type { Led, LightSensor, Log } from "../../src/ports.js";
import { deepEqual, equal, ok, throws } from "../support/assert.js";
import { FakeClock } from "../support/fake-clock.js";
import { FakeMqtt } from "../support/fake-mqtt.js";

export interface Scenario {
	name: string;
	run(): void;
}

export class Sensor implements LightSensor {
	level = 500;
	onReadable: (() => void) | undefined;
	set(level: number): void {
		this.level = level;
		this.onReadable?.();
	}
	read(): number {
		return this.level / 1023;
	}
}

class RecordingLed implements Led {
	writes: boolean[] = [];
	get on(): boolean {
		return this.writes[this.writes.length - 1] === true;
	}
	write(on: boolean): void {
		this.writes.push(on);
	}
}

export interface Rig {
	clock: FakeClock;
	mqtt: FakeMqtt;
	sensor: Sensor;
	led: RecordingLed;
	lines: string[];
	device: Device;
	telemetry(): number[];
}

export function rig(options: Partial<DeviceOptions> = {}): Rig {
	const clock = new FakeClock();
	const mqtt = new FakeMqtt();
	const sensor = new Sensor();
	const led = new RecordingLed();
	const lines: string[] = [];
	const log: Log = (level, tag, message) => {
		lines.push(`${level} ${tag}: ${message}`);
	};
	const device = new Device({ id: "room1", sensor, led, clock, mqtt, log, ...options });
	return {
		clock, mqtt, sensor, led, lines, device,
		telemetry: () => mqtt.sent("room1/telemetry").map((item) => JSON.parse(item.message).light as number),
	};
}

/** A device whose client is connected by the time it starts. */
export function started(options: Partial<DeviceOptions> = {}): Rig {
	const r = rig(options);
	r.mqtt.connect();
	r.device.start();
	return r;
}

const encoder = new TextEncoder();

export const scenarios: Scenario[] = [
	{
		name: "on connect: subscribes to its commands at QoS 1, says online (retained) and sends a reading",
		run() {
			const r = started();
			deepEqual(r.mqtt.subscriptions, [{ topic: "nightlight/server/status", qos: 1 }, { topic: "room1/commands", qos: 1 }], "subscriptions");
			const status = r.mqtt.last("room1/status");
			deepEqual(status, { topic: "room1/status", message: "online", qos: 1, retain: true }, "status");
			const state = r.mqtt.last("room1/state");
			ok(state && state.retain, "state is retained");
			deepEqual(JSON.parse(state!.message), { led_on: false, mode: "remote", rejected: 0 }, "state");
			deepEqual(r.telemetry(), [500], "first telemetry");
			deepEqual(r.mqtt.last("room1/telemetry"), { topic: "room1/telemetry", message: `{"light":500,"ts":${r.clock.now()},"seq":0}`, qos: 1, retain: true }, "lesson payload with its sample time and number, retained");
		},
	},
	{
		name: "a reconnect renews the subscription and availability and sends a fresh reading",
		run() {
			const r = started();
			r.mqtt.drop();
			r.clock.advance(5_000);
			r.mqtt.connect();
			equal(r.mqtt.subscriptions.length, 4, "subscribed again");
			equal(r.mqtt.sent("room1/status").length, 2, "online again");
			deepEqual(r.telemetry(), [500, 500], "a reading after the reconnect");
		},
	},
	{
		name: "a steady room sends one heartbeat a minute and nothing else",
		run() {
			const r = started();
			r.clock.advance(60 * 60_000);
			equal(r.telemetry().length, 61, "messages in an hour (one at connect, then one a minute)");
		},
	},
	{
		name: "noise inside the deadband is not reported",
		run() {
			const r = started();
			for (let i = 0; i < 600; i++) {
				r.sensor.level = 500 + ((i * 7) % 21) - 10;
				r.clock.advance(100);
			}
			equal(r.telemetry().length, 2, "one at connect, one heartbeat");
		},
	},
	{
		name: "a light step is reported at once, not at the next sample",
		run() {
			const r = started();
			r.clock.advance(10_000);
			r.sensor.set(100);
			deepEqual(r.telemetry(), [500, 100], "the step");
		},
	},
	{
		name: "changes closer than the minimum gap are held, then the latest is sent",
		run() {
			const r = started({ report: { minGapMs: 1_000 } });
			r.sensor.set(100);
			r.sensor.set(800);
			deepEqual(r.telemetry(), [500], "held inside the gap");
			r.clock.advance(1_000);
			deepEqual(r.telemetry(), [500, 800], "latest after the gap");
		},
	},
	{
		name: "period mode sends every period like the lesson, whatever the light does",
		run() {
			const r = started({ report: { mode: "period", periodMs: 2_000 } });
			r.clock.advance(60_000);
			equal(r.telemetry().length, 31, "one at connect and one every 2 s");
		},
	},
	{
		name: "smoothing damps small wobbles but follows a real step at once",
		run() {
			const r = started({ report: { deadband: 5 } });
			r.sensor.level = 515;
			r.clock.advance(100);
			equal(r.device.light, 505, "smoothed toward 515");
			r.sensor.set(50);
			equal(r.device.light, 50, "a step is not smoothed");
		},
	},
	{
		name: "readings taken while offline are replayed in order, numbered and marked as late; the newest, a moment old, is the present",
		run() {
			const r = started();
			r.mqtt.drop();
			const takenAt: number[] = [];
			for (const level of [100, 800, 200]) {
				r.clock.advance(1_000);
				r.sensor.set(level);
				takenAt.push(r.clock.now());
			}
			deepEqual(r.telemetry(), [500], "nothing published while offline");
			equal(r.device.stats.queued, 3, "three queued");
			r.mqtt.connect();
			deepEqual(r.telemetry(), [500, 100, 800, 200], "replayed in order, and no copy of the last one");
			r.clock.advance(5_000);
			deepEqual(r.telemetry(), [500, 100, 800, 200], "nothing more while the light holds");
			const sent = r.mqtt.sent("room1/telemetry").map((item) => ({ ...item, body: JSON.parse(item.message) }));
			const kept = sent.slice(1, 4);
			deepEqual(kept.map((item) => item.body.ts), takenAt, "each with the time it was taken");
			deepEqual(sent.map((item) => item.body.seq), [0, 1, 2, 3], "numbered in the order taken");
			ok(kept.slice(0, 2).every((item) => item.body.replay === true), "older ones are marked as late");
			equal(sent[3]!.body.replay, undefined, "the newest, taken just now, is not");
			ok(kept.slice(0, 2).every((item) => !item.retain), "older replays are not retained");
			equal(r.mqtt.last("room1/telemetry")!.retain, true, "the newest reading is");
			equal(r.device.stats.queued, 0, "outbox empty");
			equal(r.device.stats.replayed, 2, "counted");
			equal(r.device.stats.readings, 4, "readings taken");
		},
	},
	{
		name: "one reading per connect: the reading queued at boot is the present, not followed by a copy",
		run() {
			const r = rig();
			r.device.start();
			r.clock.advance(25);
			r.mqtt.connect();
			r.clock.advance(10_000);
			deepEqual(r.telemetry(), [500], "one reading, not two 25 ms apart");
			equal(JSON.parse(r.mqtt.last("room1/telemetry")!.message).replay, undefined, "live");
		},
	},
	{
		name: "after a replay older than a moment, a fresh reading follows at once, and decides",
		run() {
			const r = started();
			r.mqtt.drop();
			r.clock.advance(1_000);
			r.sensor.set(100);
			r.clock.advance(9_000);
			r.mqtt.connect();
			const sent = r.mqtt.sent("room1/telemetry").map((item) => JSON.parse(item.message));
			deepEqual(sent.map((body) => [body.light, body.replay]), [[500, undefined], [100, true], [100, undefined]], "the replay, marked, then the present");
			ok(sent[2].ts - sent[1].ts >= 9_000, "taken now");
			r.clock.advance(30_000);
			equal(r.telemetry().length, 3, "and nothing more while the light holds");
		},
	},
	{
		name: "a changed light after a reconnect is reported once the minimum gap has passed",
		run() {
			const r = started();
			r.mqtt.drop();
			r.clock.advance(1_000);
			r.sensor.set(100);
			r.clock.advance(500);
			r.mqtt.connect();
			deepEqual(r.telemetry(), [500, 100], "the reading kept a moment ago is the present");
			r.sensor.set(700);
			deepEqual(r.telemetry(), [500, 100], "the change waits for the minimum gap");
			r.clock.advance(300);
			deepEqual(r.telemetry(), [500, 100, 700], "then it goes");
		},
	},
	{
		name: "a reading is sent again after a reconnect until the broker acknowledges it, marked as late",
		run() {
			const r = started();
			r.mqtt.holdAcks = true;
			r.clock.advance(1_000);
			r.sensor.set(100);
			deepEqual(r.telemetry(), [500, 100], "sent live");
			equal(r.device.stats.queued, 1, "kept until acknowledged");
			r.mqtt.drop();
			r.mqtt.holdAcks = false;
			r.clock.advance(2_000);
			r.mqtt.connect();
			const sent = r.mqtt.sent("room1/telemetry").map((item) => JSON.parse(item.message));
			deepEqual(sent.map((body) => [body.light, body.seq, body.replay]), [[500, 0, undefined], [100, 1, undefined], [100, 1, true], [100, 2, undefined]], "the same reading again, late, then the present");
			equal(r.device.stats.queued, 0, "acknowledged now");
			equal(r.device.stats.telemetrySent, 3, "each reading counted once, when acknowledged");
		},
	},
	{
		name: "two readings in the same millisecond get distinct sample times",
		run() {
			const r = rig({ report: { minGapMs: 0, deadband: 1 } });
			r.device.start();
			r.sensor.set(100);
			r.sensor.set(900);
			r.mqtt.connect();
			const stamps = r.mqtt.sent("room1/telemetry").map((item) => JSON.parse(item.message).ts as number);
			ok(stamps.length >= 3, "several readings");
			ok(stamps.every((ts, i) => i === 0 || ts > stamps[i - 1]!), `strictly increasing: ${stamps.join(", ")}`);
		},
	},
	{
		name: "readings taken before the first connection are kept too",
		run() {
			const r = rig();
			r.device.start();
			r.clock.advance(2_000);
			r.sensor.set(50);
			r.mqtt.connect();
			deepEqual(r.telemetry(), [500, 50], "boot reading and the step, each once");
		},
	},
	{
		name: "the outbox is bounded: the oldest readings are dropped and counted",
		run() {
			const r = started({ outbox: { maxCount: 5, maxBytes: 1_000 } });
			r.mqtt.drop();
			for (let i = 0; i < 20; i++) {
				r.clock.advance(1_000);
				r.sensor.set(i % 2 ? 100 : 900);
			}
			equal(r.device.stats.queued, 5, "kept the bound");
			equal(r.device.stats.dropped, 15, "dropped the rest");
			r.mqtt.connect();
			deepEqual(r.telemetry().slice(1, 6), [100, 900, 100, 900, 100], "the newest five, in order");
			equal(JSON.parse(r.mqtt.last("room1/state")!.message).dropped, 15, "dropped count visible in state");
		},
	},
	{
		name: "a replay cut short by another drop resumes where it stopped, nothing lost",
		run() {
			const r = started();
			r.mqtt.drop();
			for (let i = 0; i < 12; i++) {
				r.clock.advance(1_000);
				r.sensor.set(i % 2 ? 100 : 900);
			}
			r.mqtt.holdAcks = true;
			r.mqtt.connect();
			r.mqtt.drop();
			equal(r.device.stats.queued, 12, "unacknowledged readings stay queued");
			r.mqtt.holdAcks = false;
			r.mqtt.connect();
			equal(r.device.stats.queued, 0, "all sent");
			equal(r.device.stats.replayed, 11, "each counted once");
			const bodies = r.mqtt.sent("room1/telemetry").map((item) => JSON.parse(item.message) as { seq: number; replay?: boolean });
			const last = bodies.slice(-12);
			deepEqual(last.map((body) => body.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], "the last replay, in order, nothing missing");
			ok(last.slice(0, 11).every((body) => body.replay === true) && last[11]!.replay === undefined, "only the newest, a moment old, is live");
		},
	},
	{
		name: "a command drives the LED and is reported, retained, on the state topic",
		run() {
			const r = started();
			r.mqtt.deliver("room1/commands", encoder.encode(`{"led_on":true}`));
			equal(r.led.on, true, "LED on");
			equal(r.device.ledOn, true, "device knows");
			const state = r.mqtt.last("room1/state")!;
			deepEqual(JSON.parse(state.message), { led_on: true, mode: "remote", rejected: 0 }, "state");
			equal(state.retain, true, "retained");
			r.mqtt.deliver("room1/commands", `{"led_on":false}`);
			equal(r.led.on, false, "LED off");
		},
	},
	{
		name: "a command per telemetry message (lesson server) changes nothing when it repeats",
		run() {
			const r = started();
			for (let i = 0; i < 20; i++)
				r.mqtt.deliver("room1/commands", `{"led_on":true}`);
			deepEqual(r.led.writes, [false, true], "LED written once at boot and once on");
			equal(r.mqtt.sent("room1/state").length, 2, "state published at connect and on the change");
			equal(r.device.stats.commandsApplied, 20, "all applied");
		},
	},
	{
		name: "an ArrayBuffer payload (Moddable's mqtt/js) is understood",
		run() {
			const r = started();
			const bytes = encoder.encode(`{"led_on":true}`);
			r.mqtt.deliver("room1/commands", bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
			equal(r.led.on, true, "LED on");
		},
	},
	{
		name: "malformed, mistyped and oversized commands are counted, logged and ignored",
		run() {
			const r = started();
			const bad = [
				"not json",
				" ",
				"null",
				"[true]",
				`{"led_on":"true"}`,
				`{"led_on":1}`,
				`{"led":true}`,
				`{"led_on":true,"seq":-1}`,
				`{"led_on":true,"pad":"${"x".repeat(300)}"}`,
				new Uint8Array([0xff, 0xfe, 0x7b]),
			];
			for (const payload of bad)
				r.mqtt.deliver("room1/commands", payload);
			equal(r.device.stats.rejected, bad.length, "rejected");
			equal(r.device.ledOn, false, "LED untouched");
			ok(r.lines.some((line) => line.includes("command rejected: not JSON")), "logged why");
			r.clock.advance(5_000);
			deepEqual(JSON.parse(r.mqtt.last("room1/state")!.message).rejected, bad.length, "rejections visible in state");
		},
	},
	{
		name: "unknown fields are ignored: the command still applies and the field is noted once",
		run() {
			const r = started();
			r.mqtt.deliver("room1/commands", `{"led_on":true,"colour":"red"}`);
			r.mqtt.deliver("room1/commands", `{"led_on":true,"colour":"blue"}`);
			equal(r.led.on, true, "applied");
			equal(r.device.stats.unknownFields, 2, "counted");
			equal(r.lines.filter((line) => line.includes(`"colour"`)).length, 1, "logged once");
		},
	},
	{
		name: "a burst of 10,000 malformed commands is survived with a bounded log",
		run() {
			const r = started();
			for (let i = 0; i < 10_000; i++)
				r.mqtt.deliver("room1/commands", `{"led_on":${i}}`);
			equal(r.device.stats.rejected, 10_000, "all rejected");
			ok(r.lines.length < 20, `log stays short (${r.lines.length} lines)`);
			r.clock.advance(1_000);
			r.sensor.set(100);
			deepEqual(r.telemetry(), [500, 100], "still reporting");
			r.mqtt.deliver("room1/commands", `{"led_on":true}`);
			equal(r.led.on, true, "still obeying");
		},
	},
	{
		name: "an empty command (the server cleared its retained one) is no command and no error",
		run() {
			const r = started();
			r.mqtt.deliver("room1/commands", "");
			r.mqtt.deliver("room1/commands", new Uint8Array(0));
			equal(r.device.stats.rejected, 0, "not rejected");
			equal(r.device.stats.commandsIgnored, 0, "not a command");
		},
	},
	{
		name: "messages on other topics are ignored",
		run() {
			const r = started();
			r.mqtt.deliver("room2/commands", `{"led_on":true}`);
			equal(r.led.on, false, "not ours");
			equal(r.device.stats.rejected, 0, "not counted as rejected");
		},
	},
	{
		name: "a failing sensor, LED, publish or listener is logged, never thrown",
		run() {
			const r = rig({ onEvent: () => { throw new Error("display broke"); } });
			r.sensor.read = () => { throw new Error("ADC busy"); };
			r.device.start();
			r.mqtt.connect();
			r.clock.advance(1_000);
			ok(r.lines.some((line) => line.includes("ADC busy")), "sensor fault logged");
			ok(r.lines.some((line) => line.includes("display broke")), "listener fault logged");
			r.led.write = () => { throw new Error("pin fault"); };
			r.mqtt.deliver("room1/commands", `{"led_on":true}`);
			ok(r.lines.some((line) => line.includes("pin fault")), "LED fault logged");
			r.mqtt.failPublish = new Error("client closing");
			r.sensor.read = () => 0.1;
			r.clock.advance(1_000);
			ok(r.lines.some((line) => line.includes("client closing")), "publish fault logged");
		},
	},
	{
		name: "stop says offline, cancels its timers and detaches from the client",
		run() {
			const r = started();
			r.device.stop();
			equal(r.mqtt.last("room1/status")!.message, "offline", "offline");
			equal(r.clock.pending, 0, "no timers left");
			equal(r.mqtt.listenerCount("message"), 0, "no listeners left");
			const before = r.mqtt.published.length;
			r.sensor.set(10);
			r.clock.advance(120_000);
			equal(r.mqtt.published.length, before, "silent after stop");
		},
	},
	{
		name: "without the broker for the grace period the device decides locally, and hands back on reconnect",
		run() {
			const r = started();
			r.mqtt.drop();
			r.clock.advance(9_000);
			equal(r.device.mode, "remote", "still remote inside the grace period");
			r.clock.advance(1_500);
			equal(r.device.mode, "local", "local after 10 s");
			r.sensor.set(100);
			equal(r.led.on, true, "dark room: LED on by itself");
			r.sensor.set(700);
			equal(r.led.on, false, "bright room: LED off by itself");
			r.sensor.set(100);
			r.mqtt.connect();
			equal(r.device.mode, "remote", "remote again");
			deepEqual(JSON.parse(r.mqtt.last("room1/state")!.message), { led_on: true, mode: "remote", rejected: 0 }, "state says so");
			ok(r.mqtt.sent("room1/state").some((item) => JSON.parse(item.message).mode === "local"), "the local spell was reported");
		},
	},
	{
		name: "the server's will takes the device local after the grace period; its return hands control back",
		run() {
			const r = started();
			r.mqtt.deliver("nightlight/server/status", "online");
			r.mqtt.deliver("nightlight/server/status", "offline");
			r.clock.advance(10_100);
			equal(r.device.mode, "local", "local");
			deepEqual(JSON.parse(r.mqtt.last("room1/state")!.message).mode, "local", "reported while still connected");
			r.mqtt.deliver("room1/commands", `{"led_on":true,"seq":9,"ts":${r.clock.now()}}`);
			equal(r.led.on, false, "commands are ignored in local mode");
			r.mqtt.deliver("nightlight/server/status", "online");
			r.clock.advance(100);
			equal(r.device.mode, "remote", "remote again");
		},
	},
	{
		name: "no ghost switching: a command decided before the device's own local decision is dropped",
		run() {
			const r = started();
			const before = r.clock.now();
			r.mqtt.deliver("room1/commands", `{"led_on":false,"seq":1,"ts":${before}}`);
			r.mqtt.drop();
			r.clock.advance(11_000);
			r.sensor.set(100);
			equal(r.led.on, true, "local decision: on");
			r.mqtt.connect();
			r.mqtt.deliver("room1/commands", `{"led_on":false,"seq":1,"ts":${before}}`);
			equal(r.led.on, true, "the retained old command does not switch it off");
			r.mqtt.deliver("room1/commands", `{"led_on":false,"seq":2,"ts":${r.clock.now() + 1}}`);
			equal(r.led.on, false, "a newer decision does");
		},
	},
	{
		name: "duplicate and out-of-order commands are dropped; a server restart (seq back to 1, later ts) is followed",
		run() {
			const r = started();
			const t = r.clock.now();
			r.mqtt.deliver("room1/commands", `{"led_on":true,"seq":5,"ts":${t}}`);
			r.mqtt.deliver("room1/commands", `{"led_on":true,"seq":5,"ts":${t}}`);
			r.mqtt.deliver("room1/commands", `{"led_on":false,"seq":4,"ts":${t - 10}}`);
			equal(r.led.on, true, "the late one did not apply");
			equal(r.device.stats.commandsIgnored, 2, "both dropped");
			r.mqtt.deliver("room1/commands", `{"led_on":false,"seq":1,"ts":${t + 5_000}}`);
			equal(r.led.on, false, "a restarted server's first command applies");
		},
	},
	{
		name: "while the server is announced offline its retained commands are ignored, but a lesson server is followed",
		run() {
			const r = started();
			r.mqtt.deliver("nightlight/server/status", "offline");
			r.mqtt.deliver("room1/commands", `{"led_on":true,"seq":3,"ts":${r.clock.now() - 60_000}}`);
			equal(r.led.on, false, "ours, from before its outage: ignored");
			r.mqtt.deliver("room1/commands", `{"led_on":true}`);
			equal(r.led.on, true, "a lesson-style command proves a live server");
		},
	},
	{
		name: "refused connections back off, with jitter, never more than 10 attempts a minute",
		run() {
			const r = rig({ random: () => 0.99 });
			r.device.start();
			r.mqtt.fail(new Error("Connection refused: Not authorized"));
			const attemptsAt: number[] = [];
			let seen = 0;
			for (let t = 0; t < 180_000; t += 50) {
				r.clock.advance(50);
				if (r.mqtt.reconnects > seen) {
					seen = r.mqtt.reconnects;
					attemptsAt.push(r.clock.now());
					r.mqtt.fail(new Error("Connection refused: Not authorized"));
				}
			}
			const gaps = attemptsAt.slice(1).map((at, i) => at - attemptsAt[i]!);
			ok(gaps.every((gap, i) => i === 0 || gap >= gaps[i - 1]! - 50), `delays grow: ${gaps.join(", ")}`);
			ok(gaps.every((gap) => gap <= 60_050), "capped at 60 s");
			for (const at of attemptsAt)
				ok(attemptsAt.filter((other) => other > at - 60_000 && other <= at).length <= 10, "at most 10 in any minute");
			ok(attemptsAt.length >= 5, `it keeps trying (${attemptsAt.length} attempts in 3 minutes)`);
		},
	},
	{
		name: "an attempt that never answers is abandoned after the connect timeout",
		run() {
			const r = rig({ random: () => 0 });
			r.device.start();
			r.clock.advance(10_000);
			ok(r.lines.some((line) => line.includes("no answer from the broker within 10000 ms")), "said so");
			r.clock.advance(600);
			equal(r.mqtt.reconnects, 1, "and tried again");
		},
	},
	{
		name: "a connection that stays up for 30 s starts the backoff over",
		run() {
			const r = rig({ random: () => 0.99 });
			r.device.start();
			for (let i = 0; i < 5; i++) {
				r.mqtt.fail();
				r.clock.advance(60_000);
			}
			r.mqtt.connect();
			r.clock.advance(31_000);
			const before = r.mqtt.reconnects;
			r.mqtt.drop();
			r.clock.advance(600);
			equal(r.mqtt.reconnects, before + 1, "the first retry comes after about 0.5 s again");
		},
	},
	{
		name: "bad options are refused at construction with a clear message",
		run() {
			throws(() => rig({ id: "a/b" }), /device id/, "id with a slash");
			throws(() => rig({ id: "" }), /device id/, "empty id");
			throws(() => rig({ samplePeriodMs: 0 }), /sample period/, "zero period");
			throws(() => rig({ report: { heartbeatMs: -1 } }), /heartbeatMs/, "negative heartbeat");
			throws(() => rig({ report: { smoothing: 0 } }), /smoothing/, "no smoothing factor");
		},
	},
];
