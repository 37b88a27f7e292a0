/* The standalone nightlight (a board with no network) on a fake clock: the local rule, always. */
import { describe, expect, test } from "@jest/globals";
import type { LogLevel } from "../src/ports.js";
import { Standalone } from "../src/standalone.js";
import { FakeClock } from "./support/fake-clock.js";

function rig(options: { threshold?: number; hysteresis?: number; samplePeriodMs?: number } = {}) {
	const clock = new FakeClock(0);
	const lines: string[] = [];
	const writes: boolean[] = [];
	const sensor = { level: 0.5 as number | undefined, fail: undefined as string | undefined, read() {
		if (this.fail)
			throw new Error(this.fail);
		return this.level;
	} };
	const led = { fail: undefined as string | undefined, write(on: boolean) {
		if (this.fail)
			throw new Error(this.fail);
		writes.push(on);
	} };
	const switches: Array<[boolean, number]> = [];
	const nightlight = new Standalone({
		sensor,
		led,
		clock,
		log: (level: LogLevel, tag: string, message: string) => lines.push(`${level} ${tag}: ${message}`),
		samplePeriodMs: options.samplePeriodMs ?? 100,
		rule: { threshold: options.threshold ?? 300, hysteresis: options.hysteresis ?? 20 },
		onSwitch: (on, light) => switches.push([on, light]),
	});
	/** Sets the sensor to a level on the 0..1023 scale. */
	const light = (level: number) => {
		sensor.level = level / 1023;
	};
	return { clock, lines, writes, sensor, led, switches, nightlight, light };
}

describe("the standalone nightlight", () => {
	test("says at start that it decides alone, with its rule", () => {
		const { nightlight, lines, writes } = rig({ threshold: 250, hysteresis: 30 });
		nightlight.start();
		expect(lines[0]).toBe("info nightlight: mode local, always: no network on this board; the LED goes on below 250 and off again at 280, sampled every 100 ms");
		expect(writes).toEqual([false]);
	});

	test("dark lights the LED at the next sample, bright darkens it", () => {
		const { nightlight, clock, light, switches, lines } = rig();
		light(800);
		nightlight.start();
		expect(nightlight.ledOn).toBe(false);
		light(100);
		clock.advance(100);
		expect(nightlight.ledOn).toBe(true);
		expect(nightlight.light).toBe(100);
		light(900);
		clock.advance(100);
		expect(nightlight.ledOn).toBe(false);
		expect(switches).toEqual([[true, 100], [false, 900]]);
		expect(lines).toContain("info nightlight: LED on: light 100");
		expect(nightlight.stats).toMatchObject({ samples: 3, switches: 2, faults: 0 });
	});

	test("a reading hovering in the hysteresis band does not flap the LED", () => {
		const { nightlight, clock, light, switches } = rig({ threshold: 300, hysteresis: 20 });
		light(250);
		nightlight.start();
		expect(nightlight.ledOn).toBe(true);
		for (let i = 0; i < 100; i++) {
			light(i % 2 ? 295 : 315);
			clock.advance(100);
		}
		expect(nightlight.ledOn).toBe(true);
		light(330);
		clock.advance(1_000); // smoothing brings the average past 320 in a few samples
		expect(nightlight.ledOn).toBe(false);
		expect(switches.map(([on]) => on)).toEqual([true, false]);
	});

	test("smoothing follows a real step at once", () => {
		const { nightlight, clock, light } = rig();
		light(700);
		nightlight.start();
		light(50);
		clock.advance(100);
		expect(nightlight.light).toBe(50);
	});

	test("a failing sensor or LED is logged once, counted, and the next sample tries again", () => {
		const { nightlight, clock, light, sensor, led, lines } = rig();
		light(800);
		nightlight.start();
		sensor.fail = "ADC busy";
		clock.advance(500);
		expect(lines.filter((line) => line.includes("ADC busy"))).toEqual(["error nightlight: light sensor: ADC busy"]);
		sensor.fail = undefined;
		led.fail = "pin in use";
		light(100);
		clock.advance(300);
		expect(nightlight.ledOn).toBe(false);
		expect(lines.filter((line) => line.includes("pin in use"))).toHaveLength(1);
		led.fail = undefined;
		clock.advance(100);
		expect(nightlight.ledOn).toBe(true);
		expect(nightlight.stats.faults).toBe(5 + 3);
	});

	test("stop ends sampling", () => {
		const { nightlight, clock, light } = rig();
		light(800);
		nightlight.start();
		nightlight.stop();
		light(100);
		clock.advance(1_000);
		expect(nightlight.ledOn).toBe(false);
		expect(clock.pending).toBe(0);
	});

	test("bad options throw at construction", () => {
		const base = { sensor: { read: () => 0 }, led: { write() {} }, clock: new FakeClock(0), log() {} };
		expect(() => new Standalone({ ...base, samplePeriodMs: 5 })).toThrow(/at least 10 ms/);
		expect(() => new Standalone({ ...base, rule: { threshold: 2_000, hysteresis: 0 } })).toThrow(/threshold/);
	});
});
