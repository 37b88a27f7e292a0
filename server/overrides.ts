/*
 * Overrides: an operator forces a device or a group on or off, or hands it back to the rule
 * (`auto`), optionally with its own threshold. Pure: the type, its strict parsers, and its form on
 * MQTT. The Node host keeps them in a JSON file (server/state.ts) so they survive a restart.
 *
 * Servers share them through retained messages on `nightlight/overrides/<kind>/<id>`:
 * `{"mode": "on", "threshold"?: N, "at": T, "by": "<server>"}`, or `{"cleared": true, "at": T,
 * "by": "<server>"}` once removed. The newest (`at`, then `by`) wins everywhere; a server that hears
 * an older one than it knows says its own again, so the broker's copy heals.
 */
import { isDeviceId } from "../src/contract.js";
import { checkRule } from "../src/rule.js";

export type OverrideKind = "device" | "group";
export type OverrideMode = "on" | "off" | "auto";

export interface Override {
	kind: OverrideKind;
	id: string;
	mode: OverrideMode;
	threshold?: number;
	/** When it was set (server clock, ms) and by which server; absent in files from older versions. */
	at?: number;
	by?: string;
}

/** What a server says of one override on MQTT: set, or cleared. */
export type OverrideMessage =
	| { cleared: false; override: Override & { at: number; by: string } }
	| { cleared: true; kind: OverrideKind; id: string; at: number; by: string };

export const OVERRIDES_FILTER = "nightlight/overrides/+/+";
const MESSAGE_KEYS = new Set(["mode", "threshold", "at", "by", "cleared"]);

export type ParsedOverride = { ok: true; value: Override } | { ok: false; error: string };

const BODY_KEYS = new Set(["mode", "threshold"]);

/** Checks an override's kind and id (from a URL) and its body ({mode, threshold?}). */
export function parseOverride(kind: string, id: string, body: unknown): ParsedOverride {
	if (kind !== "device" && kind !== "group")
		return { ok: false, error: `kind must be "device" or "group", got ${JSON.stringify(kind)}` };
	if (!isDeviceId(id))
		return { ok: false, error: `id must be 1..64 letters, digits, "_", "." or "-", got ${JSON.stringify(id)}` };
	if (typeof body !== "object" || body === null || Array.isArray(body))
		return { ok: false, error: `body must be a JSON object {"mode": "on"|"off"|"auto", "threshold"?: 0..1024}` };
	const fields = body as Record<string, unknown>;
	for (const key of Object.keys(fields)) {
		if (!BODY_KEYS.has(key))
			return { ok: false, error: `unknown field ${JSON.stringify(key)}; expected mode, threshold` };
	}
	const { mode, threshold } = fields;
	if (mode !== "on" && mode !== "off" && mode !== "auto")
		return { ok: false, error: `"mode" must be "on", "off" or "auto", got ${JSON.stringify(mode)}` };
	const value: Override = { kind, id, mode };
	if (threshold !== undefined) {
		try {
			checkRule({ threshold: threshold as number, hysteresis: 0 });
		}
		catch (error) {
			return { ok: false, error: `"threshold": ${(error as Error).message}` };
		}
		value.threshold = threshold as number;
	}
	return { ok: true, value };
}

/** The key of an override in a map: one per device or group. */
export function overrideKey(kind: OverrideKind, id: string): string {
	return `${kind}/${id}`;
}

export function overrideTopic(kind: OverrideKind, id: string): string {
	return `nightlight/overrides/${kind}/${id}`;
}

export function encodeOverrideMessage(message: OverrideMessage): string {
	if (message.cleared)
		return JSON.stringify({ cleared: true, at: message.at, by: message.by });
	const { mode, threshold, at, by } = message.override;
	return JSON.stringify(threshold === undefined ? { mode, at, by } : { mode, threshold, at, by });
}

/** An override message from its topic and payload, or an error naming what is wrong. */
export function parseOverrideMessage(topic: string, text: string): { ok: true; value: OverrideMessage } | { ok: false; error: string } {
	const levels = topic.split("/");
	if (levels.length !== 4 || levels[0] !== "nightlight" || levels[1] !== "overrides")
		return { ok: false, error: "not an override topic" };
	const [, , kind, id] = levels as [string, string, string, string];
	let json: unknown;
	try {
		json = JSON.parse(text);
	}
	catch (error) {
		return { ok: false, error: `not JSON: ${(error as Error).message}` };
	}
	if (typeof json !== "object" || json === null || Array.isArray(json))
		return { ok: false, error: "expected a JSON object" };
	const fields = json as Record<string, unknown>;
	for (const key of Object.keys(fields)) {
		if (!MESSAGE_KEYS.has(key))
			return { ok: false, error: `unknown field ${JSON.stringify(key)}` };
	}
	const { at, by, cleared, ...body } = fields;
	if (typeof at !== "number" || !Number.isSafeInteger(at) || at < 0)
		return { ok: false, error: `"at" must be a time in ms, got ${JSON.stringify(at)}` };
	if (typeof by !== "string" || !isDeviceId(by))
		return { ok: false, error: `"by" must name a server, got ${JSON.stringify(by)}` };
	if (cleared !== undefined) {
		if (cleared !== true || Object.keys(body).length > 0)
			return { ok: false, error: `"cleared" must be true and come alone` };
		if (kind !== "device" && kind !== "group")
			return { ok: false, error: `kind must be "device" or "group", got ${JSON.stringify(kind)}` };
		if (!isDeviceId(id))
			return { ok: false, error: `bad id ${JSON.stringify(id)}` };
		return { ok: true, value: { cleared: true, kind, id, at, by } };
	}
	const parsed = parseOverride(kind, id, body);
	if (!parsed.ok)
		return parsed;
	return { ok: true, value: { cleared: false, override: { ...parsed.value, at, by } } };
}

/** True when a change stamped (at, by) is newer than one stamped (knownAt, knownBy). */
export function newerThan(at: number, by: string, knownAt: number, knownBy: string): boolean {
	return at > knownAt || (at === knownAt && by > knownBy);
}
