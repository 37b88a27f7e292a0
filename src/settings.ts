/*
 * The device's settings, in one schema: every host, the CLI, the server, the dashboard and the
 * README's table use it. A setting has a key (as on the mcconfig command line: `threshold=250`), a
 * type and range, a default, whether it is a secret (never shown or sent), and whether it takes
 * effect at once ("live") or at the next start ("restart").
 *
 * Where a value comes from, first found wins: stored on the device (set from the console, over
 * MQTT, by the CLI or the dashboard), then the build-time config (mcconfig key=value, or the
 * command line of the Node device), then the default.
 *
 * Parsers never throw: they return the value or a reason fit for one line.
 */

export type SettingValue = string | number;

export interface SettingSpec {
	key: string;
	/** "int": an integer in min..max; "text": up to max characters matching `pattern`; "choice": one of `choices`. */
	type: "int" | "text" | "choice";
	min?: number;
	max: number;
	choices?: readonly string[];
	pattern?: RegExp;
	/** What the pattern asks for, for an error line. */
	shape?: string;
	default: SettingValue;
	secret?: boolean;
	live?: boolean;
	help: string;
}

const ID = /^[A-Za-z0-9_.-]{0,64}$/;
const BROKER = /^mqtts?:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?\/?$/;

export const SETTINGS: readonly SettingSpec[] = [
	{ key: "id", type: "text", max: 64, pattern: ID, shape: "1..64 letters, digits, _ . -", default: "", help: "device id, one topic level (empty: from the MAC address)" },
	{ key: "wifi_ssid", type: "text", max: 32, default: "", help: "Wi-Fi network name (boards with Wi-Fi)" },
	{ key: "wifi_password", type: "text", max: 64, default: "", secret: true, help: "Wi-Fi password" },
	{ key: "broker", type: "text", max: 128, pattern: BROKER, shape: "mqtt://host[:port] or mqtts://host[:port]", default: "", help: "MQTT broker (empty: none yet, the device stands alone)" },
	{ key: "mqtt_user", type: "text", max: 64, default: "", help: "broker user name" },
	{ key: "mqtt_password", type: "text", max: 128, default: "", secret: true, help: "broker password" },
	{ key: "keepalive", type: "int", min: 1, max: 65_535, default: 10, help: "MQTT keep-alive, s: a link silent for 1.5 times this is given up" },
	{ key: "sample_ms", type: "int", min: 10, max: 60_000, default: 100, help: "sensor sampling period, ms" },
	{ key: "report", type: "choice", max: 6, choices: ["change", "period"], default: "change", help: "report on change, or every period_ms like the lesson" },
	{ key: "period_ms", type: "int", min: 100, max: 3_600_000, default: 2_000, help: "telemetry period in report=period, ms" },
	{ key: "deadband", type: "int", min: 0, max: 1_023, default: 20, live: true, help: "change in light worth a message" },
	{ key: "heartbeat_ms", type: "int", min: 1_000, max: 86_400_000, default: 60_000, live: true, help: "longest time without telemetry, ms" },
	{ key: "min_gap_ms", type: "int", min: 0, max: 60_000, default: 250, live: true, help: "shortest time between two messages, ms" },
	{ key: "threshold", type: "int", min: 0, max: 1_024, default: 300, live: true, help: "local mode: the LED goes on below this light" },
	{ key: "hysteresis", type: "int", min: 0, max: 1_023, default: 20, live: true, help: "local mode: off again at threshold + hysteresis" },
	{ key: "grace_ms", type: "int", min: 0, max: 3_600_000, default: 10_000, live: true, help: "without broker or server this long, decide locally, ms" },
	{ key: "outbox_count", type: "int", min: 1, max: 10_000, default: 256, help: "readings kept while offline, at most" },
	{ key: "outbox_bytes", type: "int", min: 64, max: 1_048_576, default: 8_192, help: "bytes of readings kept while offline, at most" },
];

export function settingSpec(key: string): SettingSpec | undefined {
	for (const spec of SETTINGS) {
		if (spec.key === key)
			return spec;
	}
	return undefined;
}

export type Checked = { ok: true; value: SettingValue } | { ok: false; error: string };

/** Checks a value for a setting: a number or text from JSON, or the text typed on a console. */
export function checkSetting(spec: SettingSpec, value: unknown): Checked {
	if (spec.type === "int") {
		const number = typeof value === "number" ? value : typeof value === "string" && /^-?[0-9]{1,10}$/.test(value) ? Number(value) : NaN;
		if (!Number.isInteger(number) || number < spec.min! || number > spec.max)
			return { ok: false, error: `must be an integer ${spec.min}..${spec.max}, got ${show(value)}` };
		return { ok: true, value: number };
	}
	if (typeof value !== "string")
		return { ok: false, error: `must be text, got ${show(value)}` };
	if (spec.type === "choice") {
		if (!spec.choices!.includes(value))
			return { ok: false, error: `must be ${spec.choices!.join(" or ")}, got ${show(value)}` };
		return { ok: true, value };
	}
	if (value.length > spec.max)
		return { ok: false, error: `must be at most ${spec.max} characters, got ${value.length}` };
	for (let i = 0; i < value.length; i++) {
		const code = value.charCodeAt(i);
		if (code < 0x20 || code === 0x7f)
			return { ok: false, error: "must not hold control characters" };
	}
	if (spec.pattern && value !== "" && !spec.pattern.test(value))
		return { ok: false, error: `must be ${spec.shape}, got ${show(value)}` };
	return { ok: true, value };
}

export type Values = Record<string, SettingValue>;

/** A change: each key a value to store, or null to forget the stored one. */
export type Change = Record<string, SettingValue | null>;

export interface ParsedChange {
	change: Change;
	/** Each refused key with why; a change with any refused key is applied not at all. */
	refused: Record<string, string>;
}

/** Checks a `config/set` object: every key known, every value in range, or null to unset. */
export function parseChange(object: Record<string, unknown>): ParsedChange {
	// No prototype: a key named "__proto__" is a key like any other here.
	const change: Change = Object.create(null) as Change;
	const refused = Object.create(null) as Record<string, string>;
	let count = 0;
	for (const key of Object.keys(object)) {
		if (++count > SETTINGS.length + 8) {
			refused["*"] = `too many keys; there are ${SETTINGS.length} settings`;
			break;
		}
		const spec = settingSpec(key);
		const shown = key.length > 32 ? key.slice(0, 32) + "…" : key;
		if (!spec) {
			refused[shown] = "no such setting";
			continue;
		}
		const value = object[key];
		if (value === null) {
			change[key] = null;
			continue;
		}
		const checked = checkSetting(spec, value);
		if (checked.ok)
			change[key] = checked.value;
		else
			refused[key] = checked.error;
	}
	return { change, refused };
}

/** The effective value of each setting: stored, else build-time, else the default. */
export function effective(stored: Values, config: Values): Values {
	const values: Values = {};
	for (const { key, default: fallback } of SETTINGS)
		values[key] = stored[key] ?? config[key] ?? fallback;
	return values;
}

/** The values fit to show or send: secrets masked when set, absent when not. */
export function masked(values: Values): Values {
	const shown: Values = {};
	for (const spec of SETTINGS) {
		const value = values[spec.key];
		if (value === undefined || (spec.secret && value === ""))
			continue;
		shown[spec.key] = spec.secret ? "***" : value;
	}
	return shown;
}

/** Build-time values from a config object (mc/config, every value maybe a string); bad ones are reported, not kept. */
export function fromConfig(config: Readonly<Record<string, unknown>>): { values: Values; errors: string[] } {
	const values: Values = {};
	const errors: string[] = [];
	for (const spec of SETTINGS) {
		const raw = config[spec.key];
		if (raw === undefined || raw === null || raw === "")
			continue;
		const checked = checkSetting(spec, spec.type === "int" || typeof raw === "string" ? raw : String(raw));
		if (checked.ok)
			values[spec.key] = checked.value;
		else
			errors.push(`config "${spec.key}" ${checked.error}`);
	}
	return { values, errors };
}

function show(value: unknown): string {
	if (typeof value === "string")
		return JSON.stringify(value.length > 24 ? value.slice(0, 24) + "…" : value);
	if (value === null || typeof value !== "object")
		return String(value);
	return Array.isArray(value) ? "an array" : "an object";
}
