/*
 * The wire contract, in one place: topic names, payload types, encoders and strict parsers.
 * The firmware, the server, the dashboard and the tests all import it.
 *
 * Compatible with the classic lesson: `<id>/telemetry` carries {"light": 0..1023} and
 * `<id>/commands` carries {"led_on": boolean}; extra fields are allowed both ways.
 * Parsers never throw: they return { ok: false, error } with a reason fit for a log line.
 */
import type { Payload } from "./ports.js";

export const LIGHT_MAX = 1023;

/** Payload limits. Anything larger is rejected before it is decoded. */
export const COMMAND_MAX_BYTES = 256;
export const TELEMETRY_MAX_BYTES = 512;
export const STATE_MAX_BYTES = 512;

/**
 * The largest MQTT packet our reference broker accepts (Mosquitto's max_packet_size in
 * deploy/mosquitto/mosquitto.conf): the largest message above on the longest topic fits, and so
 * does a CONNECT with a will and long credentials. A broker with a smaller limit disconnects a
 * client that sends more.
 */
export const MAX_PACKET_BYTES = 1024;

/** The size in bytes of an MQTT 3.1.1 PUBLISH packet: fixed header, topic, packet id, payload. */
export function publishPacketBytes(topic: string, payloadBytes: number, qos: 0 | 1 | 2): number {
	let topicBytes = 0;
	for (const char of topic) {
		const code = char.codePointAt(0)!;
		topicBytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
	}
	const remaining = 2 + topicBytes + (qos > 0 ? 2 : 0) + payloadBytes;
	const lengthBytes = remaining < 128 ? 1 : remaining < 16_384 ? 2 : remaining < 2_097_152 ? 3 : 4;
	return 1 + lengthBytes + remaining;
}

export type TopicKind = "telemetry" | "commands" | "state" | "status";

export const topics = {
	telemetry: (id: string) => `${id}/telemetry`,
	commands: (id: string) => `${id}/commands`,
	state: (id: string) => `${id}/state`,
	status: (id: string) => `${id}/status`,
} as const;

/**
 * The server's availability: `online` retained when it connects, `offline` as its will. Devices
 * watch it to tell "server gone" from "no command needed". Three levels, so `+/status` (two
 * levels) never matches it.
 */
export const SERVER_STATUS_TOPIC = "nightlight/server/status";

/** Subscriptions of a server that watches every device. */
export const ALL_TELEMETRY = "+/telemetry";
export const ALL_STATUS = "+/status";
export const ALL_COMMANDS = "+/commands";

/** A reading from a device. `light` is the lesson's field; the rest is ours and optional. */
export interface Telemetry {
	/** 0..1023, dark is low. */
	light: number;
	/** When the reading was taken, ms since the epoch, if the sender knows. For display only: device clocks may be wrong. */
	ts?: number;
	/**
	 * The reading's number since the device started, counting up: the receiver orders readings and
	 * drops repeats by it, whatever the device's clock says.
	 */
	seq?: number;
	/** True when the reading is sent late (kept through an outage): history, never a reason to switch. */
	replay?: boolean;
}

/** What the device should do. `seq` and `ts` are optional and let a device drop stale commands. */
export interface Command {
	led_on: boolean;
	seq?: number;
	ts?: number;
}

export type Mode = "remote" | "local";

/** What the device did: retained on `<id>/state`. */
export interface State {
	led_on: boolean;
	mode: Mode;
	light?: number;
	/** Incoming payloads rejected since boot. */
	rejected: number;
	/** Offline readings dropped because the outbox was full, since boot. */
	dropped?: number;
}

export type Availability = "online" | "offline";

export type Parsed<T> =
	| { ok: true; value: T; unknown: string[] }
	| { ok: false; error: string };

const DEVICE_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/** A device id is one topic level: 1..64 of letters, digits, `_`, `.`, `-`. */
export function isDeviceId(id: string): boolean {
	return DEVICE_ID.test(id);
}

/** Splits `<id>/<kind>`; undefined for any other topic. */
export function parseTopic(topic: string): { id: string; kind: TopicKind } | undefined {
	const slash = topic.indexOf("/");
	if (slash <= 0 || topic.indexOf("/", slash + 1) >= 0)
		return undefined;
	const id = topic.slice(0, slash);
	const kind = topic.slice(slash + 1);
	if (!isDeviceId(id))
		return undefined;
	if (kind === "telemetry" || kind === "commands" || kind === "state" || kind === "status")
		return { id, kind };
	return undefined;
}

export function encodeTelemetry(telemetry: Telemetry): string {
	let text = `{"light":${telemetry.light}`;
	if (telemetry.ts !== undefined)
		text += `,"ts":${telemetry.ts}`;
	if (telemetry.seq !== undefined)
		text += `,"seq":${telemetry.seq}`;
	return text + (telemetry.replay ? `,"replay":true}` : "}");
}

/** The same encoded reading, marked as sent late; unchanged when it already is. */
export function markReplay(text: string): string {
	return text.endsWith(`,"replay":true}`) ? text : text.slice(0, -1) + `,"replay":true}`;
}

/** The same encoded reading without the mark. */
export function unmarkReplay(text: string): string {
	return isReplay(text) ? text.slice(0, -15) + "}" : text;
}

/** Whether an encoded reading (as encodeTelemetry makes it) is marked as sent late. */
export function isReplay(text: string): boolean {
	return text.endsWith(`,"replay":true}`);
}

export function encodeCommand(command: Command): string {
	let text = `{"led_on":${command.led_on}`;
	if (command.seq !== undefined)
		text += `,"seq":${command.seq}`;
	if (command.ts !== undefined)
		text += `,"ts":${command.ts}`;
	return text + "}";
}

export function encodeState(state: State): string {
	return JSON.stringify(state);
}

export function parseTelemetry(payload: Payload): Parsed<Telemetry> {
	const object = parseObject(payload, TELEMETRY_MAX_BYTES);
	if (!object.ok)
		return object;
	const { light, ts, seq, replay } = object.value;
	if (light === undefined)
		return fail(`"light" is missing`);
	if (typeof light !== "number" || !Number.isFinite(light))
		return fail(`"light" must be a number, got ${describe(light)}`);
	if (light < 0 || light > LIGHT_MAX)
		return fail(`"light" must be within 0..${LIGHT_MAX}, got ${light}`);
	const value: Telemetry = { light: Math.round(light) };
	if (ts !== undefined) {
		if (!isTimestamp(ts))
			return fail(`"ts" must be a time in ms since the epoch, got ${describe(ts)}`);
		value.ts = ts;
	}
	if (seq !== undefined) {
		if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0)
			return fail(`"seq" must be a non-negative integer, got ${describe(seq)}`);
		value.seq = seq;
	}
	if (replay !== undefined) {
		if (typeof replay !== "boolean")
			return fail(`"replay" must be true or false, got ${describe(replay)}`);
		if (replay)
			value.replay = true;
	}
	return { ok: true, value, unknown: unknownKeys(object.value, TELEMETRY_KEYS) };
}

export function parseCommand(payload: Payload): Parsed<Command> {
	const object = parseObject(payload, COMMAND_MAX_BYTES);
	if (!object.ok)
		return object;
	const { led_on, seq, ts } = object.value;
	if (led_on === undefined)
		return fail(`"led_on" is missing`);
	if (typeof led_on !== "boolean")
		return fail(`"led_on" must be true or false, got ${describe(led_on)}`);
	const value: Command = { led_on };
	if (seq !== undefined) {
		if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0)
			return fail(`"seq" must be a non-negative integer, got ${describe(seq)}`);
		value.seq = seq;
	}
	if (ts !== undefined) {
		if (!isTimestamp(ts))
			return fail(`"ts" must be a time in ms since the epoch, got ${describe(ts)}`);
		value.ts = ts;
	}
	return { ok: true, value, unknown: unknownKeys(object.value, COMMAND_KEYS) };
}

export function parseState(payload: Payload): Parsed<State> {
	const object = parseObject(payload, STATE_MAX_BYTES);
	if (!object.ok)
		return object;
	const { led_on, mode, light, rejected, dropped } = object.value;
	if (typeof led_on !== "boolean")
		return fail(`"led_on" must be true or false, got ${describe(led_on)}`);
	if (mode !== "remote" && mode !== "local")
		return fail(`"mode" must be "remote" or "local", got ${describe(mode)}`);
	if (typeof rejected !== "number" || !Number.isSafeInteger(rejected) || rejected < 0)
		return fail(`"rejected" must be a count, got ${describe(rejected)}`);
	const value: State = { led_on, mode, rejected };
	if (light !== undefined) {
		if (typeof light !== "number" || !Number.isInteger(light) || light < 0 || light > LIGHT_MAX)
			return fail(`"light" must be an integer 0..${LIGHT_MAX}, got ${describe(light)}`);
		value.light = light;
	}
	if (dropped !== undefined) {
		if (typeof dropped !== "number" || !Number.isSafeInteger(dropped) || dropped < 0)
			return fail(`"dropped" must be a count, got ${describe(dropped)}`);
		value.dropped = dropped;
	}
	return { ok: true, value, unknown: unknownKeys(object.value, STATE_KEYS) };
}

export function parseAvailability(payload: Payload): Parsed<Availability> {
	const text = payloadText(payload, 16);
	if (!text.ok)
		return text;
	if (text.value === "online" || text.value === "offline")
		return { ok: true, value: text.value, unknown: [] };
	return fail(`availability must be "online" or "offline", got ${JSON.stringify(text.value.slice(0, 16))}`);
}

const TELEMETRY_KEYS = ["light", "ts", "seq", "replay"];
const COMMAND_KEYS = ["led_on", "seq", "ts"];
const STATE_KEYS = ["led_on", "mode", "light", "rejected", "dropped"];

/** 2000-01-01 .. 2100-01-01: a clock that is not set yet reads as invalid rather than as 1970. */
export function isTimestamp(value: unknown): value is number {
	return typeof value === "number" && Number.isInteger(value) && value >= 946684800000 && value < 4102444800000;
}

function parseObject(payload: Payload, maxBytes: number): Parsed<Record<string, unknown>> {
	const text = payloadText(payload, maxBytes);
	if (!text.ok)
		return text;
	let value: unknown;
	try {
		value = JSON.parse(text.value);
	}
	catch {
		return fail(`not JSON: ${preview(text.value)}`);
	}
	if (value === null || typeof value !== "object" || Array.isArray(value))
		return fail(`expected a JSON object, got ${describe(value)}`);
	return { ok: true, value: value as Record<string, unknown>, unknown: [] };
}

/** Decodes strict UTF-8, refusing oversized payloads before any work is done on them. */
export function payloadText(payload: Payload, maxBytes: number): Parsed<string> {
	if (typeof payload === "string") {
		if (payload.length > maxBytes)
			return fail(`too large: ${payload.length} characters, the limit is ${maxBytes} bytes`);
		return { ok: true, value: payload, unknown: [] };
	}
	const bytes = payload instanceof Uint8Array ? payload : new Uint8Array(payload);
	if (bytes.length > maxBytes)
		return fail(`too large: ${bytes.length} bytes, the limit is ${maxBytes}`);
	const text = decodeUtf8(bytes);
	if (text === undefined)
		return fail("not valid UTF-8");
	return { ok: true, value: text, unknown: [] };
}

/** Strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF); undefined when invalid. */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
	let text = "";
	let i = 0;
	while (i < bytes.length) {
		const b0 = bytes[i]!;
		if (b0 < 0x80) {
			text += String.fromCharCode(b0);
			i += 1;
			continue;
		}
		let needed: number, point: number, min: number;
		if (b0 >= 0xc2 && b0 <= 0xdf) { needed = 1; point = b0 & 0x1f; min = 0x80; }
		else if (b0 >= 0xe0 && b0 <= 0xef) { needed = 2; point = b0 & 0x0f; min = 0x800; }
		else if (b0 >= 0xf0 && b0 <= 0xf4) { needed = 3; point = b0 & 0x07; min = 0x10000; }
		else return undefined;
		if (i + needed >= bytes.length)
			return undefined;
		for (let k = 1; k <= needed; k++) {
			const b = bytes[i + k]!;
			if ((b & 0xc0) !== 0x80)
				return undefined;
			point = (point << 6) | (b & 0x3f);
		}
		if (point < min || point > 0x10ffff || (point >= 0xd800 && point <= 0xdfff))
			return undefined;
		text += String.fromCodePoint(point);
		i += needed + 1;
	}
	return text;
}

function unknownKeys(object: Record<string, unknown>, known: string[]): string[] {
	const unknown: string[] = [];
	for (const key in object) {
		if (!known.includes(key))
			unknown.push(key);
	}
	return unknown;
}

function fail(error: string): { ok: false; error: string } {
	return { ok: false, error };
}

function describe(value: unknown): string {
	if (value === null)
		return "null";
	if (Array.isArray(value))
		return "an array";
	if (typeof value === "string")
		return `the string ${preview(JSON.stringify(value))}`;
	if (typeof value === "object")
		return "an object";
	return String(value);
}

function preview(text: string): string {
	return text.length > 40 ? text.slice(0, 40) + "…" : text;
}
