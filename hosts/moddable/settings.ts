/*
 * The firmware's settings, read from the build-time config (`import config from "mc/config"`):
 * defaults come from manifest.json's "config", overrides from the mcconfig command line
 * (`mcconfig ... id=room1 broker=mqtt://192.168.1.10`), where every value arrives as a string.
 *
 * Platform-free and import-free on purpose, so jest checks it on Node (the device id itself is
 * checked by the core's Device constructor). Bad values throw a RangeError naming the
 * key, the value and what is expected, at start-up (see STYLE.md's error policy).
 */
/** The raw config object, as mc/config gives it. */
export type RawConfig = Readonly<Record<string, unknown>>;

export interface AppSettings {
	/** The device id, or undefined to let the host derive one that is unique per board. */
	id: string | undefined;
	/** `mqtt://host[:port]` or `mqtts://host[:port]` */
	broker: string;
	brokerHost: string;
	brokerPort: number;
	/** mqtts://: TLS, in a build made with manifest_tls.json. */
	brokerTls: boolean;
	mqttUser: string | undefined;
	mqttPassword: string | undefined;
	keepaliveSeconds: number;
	samplePeriodMs: number;
	report: "change" | "period";
	periodMs: number;
	heartbeatMs: number;
	deadband: number;
	/** The rule the device runs itself in local mode. */
	threshold: number;
	hysteresis: number;
	/** How long without broker or server before the device decides on its own. */
	graceMs: number;
	outboxCount: number;
	outboxBytes: number;
}

export const DEFAULT_BROKER = "mqtt://127.0.0.1:1883";

/** What a board with no network needs: how often to sample, and the rule it runs. */
export type LocalSettings = Pick<AppSettings, "samplePeriodMs" | "threshold" | "hysteresis">;

export function parseLocalSettings(config: RawConfig): LocalSettings {
	return {
		samplePeriodMs: integer(config, "sample_ms", 100, 10, 60_000),
		threshold: integer(config, "threshold", 300, 0, 1_024),
		hysteresis: integer(config, "hysteresis", 20, 0, 1_023),
	};
}

export function parseAppSettings(config: RawConfig): AppSettings {
	const id = text(config, "id");
	const broker = text(config, "broker") ?? DEFAULT_BROKER;
	const { host, port, tls } = parseBroker(broker);
	const report = text(config, "report") ?? "change";
	if (report !== "change" && report !== "period")
		throw new RangeError(`config "report" must be "change" or "period", got ${JSON.stringify(report)}`);
	return {
		id,
		broker,
		brokerHost: host,
		brokerPort: port,
		brokerTls: tls,
		mqttUser: text(config, "mqtt_user"),
		mqttPassword: text(config, "mqtt_password"),
		keepaliveSeconds: integer(config, "keepalive", 10, 0, 65_535),
		...parseLocalSettings(config),
		report,
		periodMs: integer(config, "period_ms", 2_000, 100, 3_600_000),
		heartbeatMs: integer(config, "heartbeat_ms", 60_000, 1_000, 86_400_000),
		deadband: integer(config, "deadband", 20, 0, 1_023),
		graceMs: integer(config, "grace_ms", 10_000, 0, 3_600_000),
		outboxCount: integer(config, "outbox_count", 256, 1, 10_000),
		outboxBytes: integer(config, "outbox_bytes", 8_192, 64, 1_048_576),
	};
}

/** Splits `mqtt://host[:port][/]` (port 1883 by default) or `mqtts://host[:port][/]` (8883, TLS). */
export function parseBroker(broker: string): { host: string; port: number; tls: boolean } {
	const match = /^(mqtts?):\/\/([A-Za-z0-9.-]+)(?::([0-9]{1,5}))?\/?$/.exec(broker);
	if (!match)
		throw new RangeError(`config "broker" must look like mqtt://192.168.1.10:1883, mqtt://broker.local or mqtts://broker.example.com:8883, got ${JSON.stringify(broker)}`);
	const tls = match[1] === "mqtts";
	const port = match[3] === undefined ? (tls ? 8883 : 1883) : Number(match[3]);
	if (port < 1 || port > 65_535)
		throw new RangeError(`config "broker" has port ${port}; expected 1..65535`);
	return { host: match[2]!, port, tls };
}

/** A string setting; an empty string counts as unset. */
export function text(config: RawConfig, key: string): string | undefined {
	const value = config[key];
	if (value === undefined || value === null || value === "")
		return undefined;
	if (typeof value !== "string" && typeof value !== "number")
		throw new RangeError(`config "${key}" must be text, got ${typeof value}`);
	return String(value);
}

/** An integer setting in min..max, from a number or a decimal string. */
export function integer(config: RawConfig, key: string, fallback: number, min: number, max: number): number {
	const value = config[key];
	if (value === undefined || value === null || value === "")
		return fallback;
	const number = typeof value === "number" ? value : typeof value === "string" && /^-?[0-9]+$/.test(value) ? Number(value) : NaN;
	if (!Number.isInteger(number) || number < min || number > max)
		throw new RangeError(`config "${key}" must be an integer ${min}..${max}, got ${JSON.stringify(value)}`);
	return number;
}

/** An optional integer setting: undefined when unset. */
export function optionalInteger(config: RawConfig, key: string, min: number, max: number): number | undefined {
	const value = config[key];
	if (value === undefined || value === null || value === "")
		return undefined;
	return integer(config, key, 0, min, max);
}

/** A number setting chosen from a list (e.g. ADC attenuation in dB). */
export function oneOf(config: RawConfig, key: string, fallback: number, allowed: readonly number[]): number {
	const value = config[key];
	if (value === undefined || value === null || value === "")
		return fallback;
	const number = Number(value);
	if (!allowed.includes(number))
		throw new RangeError(`config "${key}" must be one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`);
	return number;
}

/** A boolean setting: true/false, 1/0, yes/no, on/off. */
export function flag(config: RawConfig, key: string, fallback: boolean): boolean {
	const value = config[key];
	if (value === undefined || value === null || value === "")
		return fallback;
	if (value === true || value === 1 || value === "1" || value === "true" || value === "yes" || value === "on")
		return true;
	if (value === false || value === 0 || value === "0" || value === "false" || value === "no" || value === "off")
		return false;
	throw new RangeError(`config "${key}" must be true or false (1 or 0), got ${JSON.stringify(value)}`);
}

/** The settings as one log line, secrets masked. */
export function describeSettings(settings: AppSettings, id: string): string {
	const parts = [
		`id=${id}`,
		`broker=${settings.broker}`,
		`mqtt_user=${settings.mqttUser ?? "(none)"}`,
		`mqtt_password=${settings.mqttPassword === undefined ? "(none)" : "***"}`,
		`keepalive=${settings.keepaliveSeconds}s`,
		`sample=${settings.samplePeriodMs}ms`,
		settings.report === "period"
			? `report=period every ${settings.periodMs}ms`
			: `report=change deadband=${settings.deadband} heartbeat=${settings.heartbeatMs}ms`,
		`local rule: threshold=${settings.threshold} hysteresis=${settings.hysteresis} after ${settings.graceMs}ms`,
		`outbox=${settings.outboxCount} readings/${settings.outboxBytes} bytes`,
	];
	return parts.join(" ");
}
