/*
 * Overrides: an operator forces a device or a group on or off, or hands it back to the rule
 * (`auto`), optionally with its own threshold. Pure: the type and its strict parser. The Node
 * host keeps them in a JSON file (server/state.ts) so they survive a restart.
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
}

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
