/* Convergence on a fake clock: the server commands its decision again when a device's state drifts from it. */
import { beforeEach, describe, expect, test } from "@jest/globals";
import type { Log } from "../src/ports.js";
import { BACKOFF_MAX_MS, CORRECT_AFTER_MS } from "../server/convergence.js";
import { Server, type ServerEvent } from "../server/server.js";
import { FakeClock } from "./support/fake-clock.js";
import { FakeMqtt } from "./support/fake-mqtt.js";

let clock: FakeClock;
let mqtt: FakeMqtt;
let events: ServerEvent[];
let server: Server;
const log: Log = () => undefined;

function sent(id: string): Array<{ led_on: boolean; seq: number; ts: number }> {
	return mqtt.sent(`${id}/commands`).map((item) => JSON.parse(item.message));
}

function state(id: string, ledOn: boolean, mode = "remote"): void {
	mqtt.deliver(`${id}/state`, JSON.stringify({ led_on: ledOn, mode, rejected: 0 }));
}

beforeEach(() => {
	clock = new FakeClock();
	mqtt = new FakeMqtt();
	events = [];
	server = new Server({ mqtt, clock, log, rule: { threshold: 300, hysteresis: 20 }, onEvent: (event) => events.push(event) });
	server.start();
	mqtt.connect();
	mqtt.deliver("a/status", "online");
});

describe("convergence", () => {
	test("a device that reports other than the decision is commanded again, as a newer decision", () => {
		mqtt.deliver("a/telemetry", `{"light":500}`);
		state("a", false);
		clock.advance(1_000);
		state("a", true);
		clock.advance(CORRECT_AFTER_MS - 1);
		expect(sent("a")).toHaveLength(1);
		clock.advance(1);
		const [first, again] = sent("a");
		expect(again).toEqual({ led_on: false, seq: first!.seq + 1, ts: clock.now() });
		expect(mqtt.last("a/commands")!.retain).toBe(true);
		expect(server.device("a")!.drift).toEqual({ drifting: true, corrections: 1 });
		expect(events.filter((event) => event.type === "command").at(-1)).toMatchObject({ reason: "drift", led_on: false });
		state("a", false);
		expect(server.device("a")!.drift).toEqual({ drifting: false, corrections: 1 });
		clock.advance(60_000);
		expect(sent("a")).toHaveLength(2);
		expect(server.stats.corrections).toBe(1);
	});

	test("a state sent before the device heard the latest decision is not drift", () => {
		mqtt.deliver("a/telemetry", `{"light":500}`);
		state("a", false);
		mqtt.deliver("a/telemetry", `{"light":100}`);
		state("a", false);
		clock.advance(100);
		state("a", true);
		clock.advance(10_000);
		expect(sent("a").map((command) => command.led_on)).toEqual([false, true]);
		expect(server.stats.corrections).toBe(0);
	});

	test("a device that cannot obey is commanded again with a doubling backoff, never flooded", () => {
		mqtt.deliver("a/telemetry", `{"light":100}`);
		state("a", false);
		const at: number[] = [];
		const start = clock.now();
		// The first command (the decision) went out already; the rest are corrections.
		let count = 1;
		for (let i = 0; i < 800; i++) {
			clock.advance(500);
			for (; count < sent("a").length; count++)
				at.push(clock.now() - start);
		}
		const gaps = at.slice(1).map((t, i) => t - at[i]!);
		expect(at[0]).toBe(CORRECT_AFTER_MS);
		expect(gaps.slice(0, 6)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000]);
		expect(Math.max(...gaps)).toBe(BACKOFF_MAX_MS);
		expect(server.stats.corrections).toBeLessThan(20);
	});

	test("an override is enforced the same way", () => {
		mqtt.deliver("a/telemetry", `{"light":100}`);
		state("a", true);
		server.setOverride({ kind: "device", id: "a", mode: "off" });
		state("a", false);
		clock.advance(5_000);
		state("a", true);
		clock.advance(CORRECT_AFTER_MS);
		expect(sent("a").at(-1)!.led_on).toBe(false);
		expect(server.stats.corrections).toBe(1);
	});

	test("no correction in local mode, while the device is offline, or before any decision", () => {
		state("b", true);
		clock.advance(5_000);
		expect(sent("b")).toHaveLength(0);
		mqtt.deliver("a/telemetry", `{"light":500}`);
		state("a", true, "local");
		clock.advance(5_000);
		mqtt.deliver("a/status", "offline");
		state("a", true);
		clock.advance(5_000);
		expect(sent("a")).toHaveLength(1);
		expect(server.stats.corrections).toBe(0);
	});
});
