import { describe, expect, test } from "@jest/globals";
import {
	COMMAND_MAX_BYTES,
	decodeUtf8,
	encodeCommand,
	encodeTelemetry,
	isReplay,
	markReplay,
	isDeviceId,
	MAX_PACKET_BYTES,
	publishPacketBytes,
	STATE_MAX_BYTES,
	TELEMETRY_MAX_BYTES,
	parseAvailability,
	parseCommand,
	parseState,
	parseTelemetry,
	parseTopic,
	topics,
} from "../src/contract.js";

const bytes = (text: string) => new TextEncoder().encode(text);

describe("topics", () => {
	test("are the lesson's", () => {
		expect(topics.telemetry("a1")).toBe("a1/telemetry");
		expect(topics.commands("a1")).toBe("a1/commands");
	});
	test("parseTopic splits ours and refuses the rest", () => {
		expect(parseTopic("room-1/telemetry")).toEqual({ id: "room-1", kind: "telemetry" });
		expect(parseTopic("room-1/status")).toEqual({ id: "room-1", kind: "status" });
		expect(parseTopic("room-1/other")).toBeUndefined();
		expect(parseTopic("a/b/telemetry")).toBeUndefined();
		expect(parseTopic("/telemetry")).toBeUndefined();
		expect(parseTopic("$SYS/telemetry")).toBeUndefined();
	});
	test("device ids are one safe topic level", () => {
		expect(isDeviceId("3f2a-9c.b_1")).toBe(true);
		for (const bad of ["", "a/b", "a+", "#", "a b", "é", "x".repeat(65)])
			expect(isDeviceId(bad)).toBe(false);
	});
});

describe("telemetry", () => {
	test("the lesson's payload round-trips", () => {
		expect(encodeTelemetry({ light: 412 })).toBe(`{"light":412}`);
		expect(parseTelemetry(bytes(`{"light":412}`))).toEqual({ ok: true, value: { light: 412 }, unknown: [] });
	});
	test("extra fields are allowed and reported as unknown", () => {
		const parsed = parseTelemetry(`{"light":10,"temperature":21.5}`);
		expect(parsed).toEqual({ ok: true, value: { light: 10 }, unknown: ["temperature"] });
	});
	test("a fractional reading is rounded; out of range or not a number is refused", () => {
		expect(parseTelemetry(`{"light":99.6}`)).toMatchObject({ ok: true, value: { light: 100 } });
		expect(parseTelemetry(`{"light":1024}`)).toMatchObject({ ok: false, error: expect.stringContaining("0..1023") });
		expect(parseTelemetry(`{"light":-1}`)).toMatchObject({ ok: false });
		expect(parseTelemetry(`{"light":"412"}`)).toMatchObject({ ok: false, error: expect.stringContaining("must be a number") });
		expect(parseTelemetry(`{"light":1e999}`)).toMatchObject({ ok: false });
		expect(parseTelemetry(`{}`)).toMatchObject({ ok: false, error: `"light" is missing` });
	});
	test("ts must look like a real time", () => {
		expect(parseTelemetry(`{"light":1,"ts":1700000000000}`)).toMatchObject({ ok: true, value: { light: 1, ts: 1700000000000 } });
		expect(parseTelemetry(`{"light":1,"ts":5}`)).toMatchObject({ ok: false });
		expect(encodeTelemetry({ light: 1, ts: 1700000000000 })).toBe(`{"light":1,"ts":1700000000000}`);
	});
	test("a reading's number and its replay mark: encoded, parsed, checked", () => {
		const text = encodeTelemetry({ light: 7, ts: 1700000000000, seq: 41 });
		expect(text).toBe(`{"light":7,"ts":1700000000000,"seq":41}`);
		expect(isReplay(text)).toBe(false);
		const late = markReplay(text);
		expect(late).toBe(`{"light":7,"ts":1700000000000,"seq":41,"replay":true}`);
		expect(markReplay(late)).toBe(late);
		expect(isReplay(late)).toBe(true);
		expect(encodeTelemetry({ light: 7, seq: 0, replay: true })).toBe(`{"light":7,"seq":0,"replay":true}`);
		expect(parseTelemetry(late)).toEqual({ ok: true, value: { light: 7, ts: 1700000000000, seq: 41, replay: true }, unknown: [] });
		expect(parseTelemetry(`{"light":7,"replay":false}`)).toEqual({ ok: true, value: { light: 7 }, unknown: [] });
		expect(parseTelemetry(`{"light":7,"seq":-1}`)).toMatchObject({ ok: false, error: expect.stringContaining(`"seq"`) });
		expect(parseTelemetry(`{"light":7,"seq":1.5}`)).toMatchObject({ ok: false });
		expect(parseTelemetry(`{"light":7,"replay":"yes"}`)).toMatchObject({ ok: false, error: expect.stringContaining(`"replay"`) });
	});
});

describe("commands", () => {
	test("the lesson's payload round-trips", () => {
		expect(encodeCommand({ led_on: true })).toBe(`{"led_on":true}`);
		expect(parseCommand(bytes(`{"led_on":false}`))).toEqual({ ok: true, value: { led_on: false }, unknown: [] });
		expect(parseCommand(encodeCommand({ led_on: true, seq: 7, ts: 1700000000000 }))).toMatchObject({ ok: true, value: { led_on: true, seq: 7, ts: 1700000000000 } });
	});
	test.each([
		["not json", "not JSON"],
		["", "not JSON"],
		["null", "JSON object"],
		["[1]", "JSON object"],
		["true", "JSON object"],
		[`{"led_on":"yes"}`, "true or false"],
		[`{"led_on":null}`, "true or false"],
		[`{}`, "missing"],
		[`{"led_on":true,"seq":1.5}`, "non-negative integer"],
		[`{"led_on":true,"seq":"1"}`, "non-negative integer"],
	])("refuses %j", (payload, reason) => {
		const parsed = parseCommand(payload);
		expect(parsed.ok).toBe(false);
		if (!parsed.ok)
			expect(parsed.error).toContain(reason);
	});
	test("an oversized payload is refused before it is decoded", () => {
		const big = new Uint8Array(COMMAND_MAX_BYTES + 1).fill(0x20);
		expect(parseCommand(big)).toEqual({ ok: false, error: `too large: ${COMMAND_MAX_BYTES + 1} bytes, the limit is ${COMMAND_MAX_BYTES}` });
		expect(parseCommand(new Uint8Array(10 * 1024 * 1024))).toMatchObject({ ok: false });
	});
	test("deep nesting within the limit is refused, not thrown", () => {
		const deep = "[".repeat(120) + "]".repeat(120);
		expect(parseCommand(deep)).toMatchObject({ ok: false });
	});
});

describe("state and availability", () => {
	test("state parses what the device publishes", () => {
		expect(parseState(`{"led_on":true,"mode":"local","rejected":3}`)).toEqual({ ok: true, value: { led_on: true, mode: "local", rejected: 3 }, unknown: [] });
		expect(parseState(`{"led_on":true,"mode":"auto","rejected":3}`)).toMatchObject({ ok: false });
	});
	test("availability is online or offline", () => {
		expect(parseAvailability(bytes("online"))).toMatchObject({ ok: true, value: "online" });
		expect(parseAvailability("offline")).toMatchObject({ ok: true, value: "offline" });
		expect(parseAvailability("up")).toMatchObject({ ok: false });
	});
});

describe("strict UTF-8", () => {
	test("decodes what TextDecoder decodes", () => {
		for (const text of ["plain", "é", "€", "𝄞 clef", "日本語", "\u0000"])
			expect(decodeUtf8(bytes(text))).toBe(text);
	});
	test.each([
		[[0xff]],
		[[0xc0, 0x80]],
		[[0xe0, 0x80, 0x80]],
		[[0xed, 0xa0, 0x80]],
		[[0xf4, 0x90, 0x80, 0x80]],
		[[0xe2, 0x82]],
		[[0x80]],
	])("refuses %j", (sequence) => {
		expect(decodeUtf8(new Uint8Array(sequence))).toBeUndefined();
	});
	test("agrees with TextDecoder on random bytes", () => {
		const strict = new TextDecoder("utf-8", { fatal: true });
		let seed = 42;
		const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) % 256;
		for (let n = 0; n < 2000; n++) {
			const input = new Uint8Array(1 + (n % 12));
			for (let i = 0; i < input.length; i++)
				input[i] = n % 3 === 0 ? 0x80 | (random() & 0x7f) : random();
			let expected: string | undefined;
			try {
				expected = strict.decode(input);
			}
			catch {
				expected = undefined;
			}
			expect(decodeUtf8(input)).toBe(expected);
		}
	});
});

describe("packet size", () => {
	const longest = "x".repeat(64);

	test("a PUBLISH is its fixed header, topic, packet id and payload", () => {
		// 0x32, remaining length 12, topic length 2 + "a/b", packet id 2, payload 5.
		expect(publishPacketBytes("a/b", 5, 1)).toBe(1 + 1 + 2 + 3 + 2 + 5);
		expect(publishPacketBytes("a/b", 5, 0)).toBe(1 + 1 + 2 + 3 + 5);
		expect(publishPacketBytes("a/b", 200, 0)).toBe(1 + 2 + 2 + 3 + 200);
		expect(publishPacketBytes("é", 0, 0)).toBe(1 + 1 + 2 + 2);
	});

	test("our largest messages, on the longest topics, fit the broker's maximum packet size", () => {
		expect(publishPacketBytes(topics.telemetry(longest), TELEMETRY_MAX_BYTES, 1)).toBeLessThanOrEqual(MAX_PACKET_BYTES);
		expect(publishPacketBytes(topics.state(longest), STATE_MAX_BYTES, 1)).toBeLessThanOrEqual(MAX_PACKET_BYTES);
		expect(publishPacketBytes(topics.commands(longest), COMMAND_MAX_BYTES, 2)).toBeLessThanOrEqual(MAX_PACKET_BYTES);
	});
});
