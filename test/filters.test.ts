import { describe, expect, test } from "@jest/globals";
import { AnyOf, Chain, Deadband, Heartbeat, Round, Scale, Smooth, Throttle } from "../src/filters.js";
import { FakeClock } from "./support/fake-clock.js";

describe("Scale", () => {
	test("maps a fraction to 0..max and clamps", () => {
		const scale = new Scale(1023);
		expect(scale.next(0.5)).toBeCloseTo(511.5);
		expect(scale.next(2)).toBe(1023);
		expect(scale.next(-1)).toBe(0);
		expect(scale.next(Number.NaN)).toBeUndefined();
	});
});

describe("Smooth", () => {
	test("averages small changes and jumps on large ones", () => {
		const smooth = new Smooth({ alpha: 0.5, jump: 50 });
		expect(smooth.next(100)).toBe(100);
		expect(smooth.next(110)).toBe(105);
		expect(smooth.next(300)).toBe(300);
		smooth.reset();
		expect(smooth.next(7)).toBe(7);
	});
	test("refuses a factor outside (0, 1]", () => {
		expect(() => new Smooth({ alpha: 0, jump: 1 })).toThrow(/alpha/);
		expect(() => new Smooth({ alpha: 1.5, jump: 1 })).toThrow(/alpha/);
	});
});

describe("Deadband", () => {
	test("measures from the last value sent, not the last value seen", () => {
		const deadband = new Deadband(10);
		expect(deadband.next(100)).toBe(100);
		deadband.accept(100);
		expect(deadband.next(105)).toBeUndefined();
		expect(deadband.next(109)).toBeUndefined();
		expect(deadband.next(110)).toBe(110);
		expect(deadband.next(90)).toBe(90);
	});
});

describe("Heartbeat and Throttle", () => {
	test("heartbeat passes once its period has gone by since the last send", () => {
		const clock = new FakeClock();
		const heartbeat = new Heartbeat(clock, 1_000);
		expect(heartbeat.next(1)).toBe(1);
		heartbeat.accept();
		clock.advance(999);
		expect(heartbeat.next(1)).toBeUndefined();
		clock.advance(1);
		expect(heartbeat.next(1)).toBe(1);
	});
	test("throttle holds values inside the gap", () => {
		const clock = new FakeClock();
		const throttle = new Throttle(clock, 500);
		expect(throttle.next(1)).toBe(1);
		throttle.accept();
		clock.advance(100);
		expect(throttle.next(2)).toBeUndefined();
		clock.advance(400);
		expect(throttle.next(3)).toBe(3);
	});
});

describe("Chain and AnyOf", () => {
	test("a change held by the throttle is sent once the gap is over", () => {
		const clock = new FakeClock();
		const chain = new Chain([new Round(), new AnyOf([new Deadband(10), new Heartbeat(clock, 60_000)]), new Throttle(clock, 500)]);
		const sent: number[] = [];
		const offer = (value: number) => {
			const out = chain.next(value);
			if (out !== undefined) {
				chain.accept(out);
				sent.push(out);
			}
		};
		offer(100);
		clock.advance(100);
		offer(200);
		for (let i = 0; i < 5; i++) {
			clock.advance(100);
			offer(200);
		}
		expect(sent).toEqual([100, 200]);
		clock.advance(60_000);
		offer(200);
		expect(sent).toEqual([100, 200, 200]);
	});
});
