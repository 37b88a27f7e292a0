/*
 * Fuzzing the parsers and the device with hostile payloads: random bytes, deep nesting, wrong
 * types, odd Unicode, NaN and huge numbers. Nothing may throw; every bad payload is rejected and
 * counted; a good one still works afterwards. Seeded, so a failure replays.
 */
import { describe, expect, test } from "@jest/globals";
import { COMMAND_MAX_BYTES, parseCommand, parseTelemetry } from "../src/contract.js";
import { rig } from "./scenarios/device.js";

function generator(seed: number) {
	let state = seed >>> 0;
	const next = () => {
		state = (state + 0x6d2b79f5) >>> 0;
		let t = Math.imul(state ^ (state >>> 15), state | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
	const int = (n: number) => Math.floor(next() * n);
	const pick = <T>(items: T[]) => items[int(items.length)]!;
	return { next, int, pick };
}

const ODD_VALUES = [
	"NaN", "Infinity", "-Infinity", "1e999", "-1e999", "9007199254740993", "-0", "0x10", "1_000", "true", "false",
	"null", "[]", "{}", `"true"`, `"\\u0000"`, `"\\ud800"`, `"\\udfff\\ud800"`, `"‮reversed"`, `"\\ufeff"`, `"😀"`,
	"1e-999", "4e9", "-1", "1.5", `"${"x".repeat(300)}"`,
];

function randomPayload(g: ReturnType<typeof generator>): string | Uint8Array {
	switch (g.int(6)) {
	case 0: {
		const bytes = new Uint8Array(g.int(COMMAND_MAX_BYTES * 2));
		for (let i = 0; i < bytes.length; i++)
			bytes[i] = g.int(256);
		return bytes;
	}
	case 1: {
		const depth = 1 + g.int(2_000);
		return g.next() < 0.5 ? "[".repeat(depth) + "]".repeat(depth) : `{"a":`.repeat(depth) + "1" + "}".repeat(depth);
	}
	case 2:
		return `{"led_on":${g.pick(ODD_VALUES)}${g.next() < 0.5 ? `,"seq":${g.pick(ODD_VALUES)}` : ""}${g.next() < 0.3 ? `,"ts":${g.pick(ODD_VALUES)}` : ""}}`;
	case 3:
		return `{"light":${g.pick(ODD_VALUES)}${g.next() < 0.5 ? `,"ts":${g.pick(ODD_VALUES)}` : ""}}`;
	case 4: {
		const text = `{"led_on":true,"note":"${"é😀\u202e".repeat(g.int(80))}"}`;
		return new TextEncoder().encode(text).subarray(0, g.int(text.length * 2));
	}
	default:
		return `{"led_on":${g.next() < 0.5}${",".repeat(g.int(3))}}`;
	}
}

describe("fuzzing", () => {
	test("the parsers never throw and only ever accept well-formed values", () => {
		const g = generator(20261123);
		for (let i = 0; i < 20_000; i++) {
			const payload = randomPayload(g);
			const command = parseCommand(payload);
			if (command.ok) {
				expect(typeof command.value.led_on).toBe("boolean");
				if (command.value.seq !== undefined)
					expect(Number.isSafeInteger(command.value.seq) && command.value.seq >= 0).toBe(true);
			}
			const telemetry = parseTelemetry(payload);
			if (telemetry.ok)
				expect(Number.isInteger(telemetry.value.light) && telemetry.value.light >= 0 && telemetry.value.light <= 1023).toBe(true);
		}
	});

	test("the device survives 20,000 hostile commands: each bad one rejected and counted, a good one still obeyed", () => {
		const g = generator(7);
		const r = rig();
		r.mqtt.connect();
		r.device.start();
		let bad = 0;
		for (let i = 0; i < 20_000; i++) {
			const payload = randomPayload(g);
			// An empty payload clears a retained command: no command, and nothing to reject.
			const empty = (typeof payload === "string" ? payload.length : payload.byteLength) === 0;
			if (!empty && !parseCommand(payload).ok)
				bad++;
			r.mqtt.deliver("room1/commands", payload);
			if (i % 1_000 === 0)
				r.clock.advance(100);
		}
		expect(r.device.stats.rejected).toBe(bad);
		expect(bad).toBeGreaterThan(10_000);
		expect(r.lines.length).toBeLessThan(100);
		r.clock.advance(10_000);
		const state = JSON.parse(r.mqtt.last("room1/state")!.message);
		expect(state.rejected).toBe(bad);
		r.mqtt.deliver("room1/commands", `{"led_on":${!r.device.ledOn}}`);
		expect(r.led.writes.at(-1)).toBe(r.device.ledOn);
	});
});
