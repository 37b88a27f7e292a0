/*
 * Settings changed on a running device: kept by the host (a SettingsStore: Moddable's preferences,
 * a file on Node), taken from a console line (`set threshold 250`) or over MQTT
 * (`<id>/config/set` with a JSON object), applied at once where the schema says "live", else at
 * the next start. The device says what it runs on `<id>/config`, retained: the effective settings
 * with secrets masked, a revision that counts accepted changes, the keys it refused and why, and
 * the keys stored that wait for a restart.
 *
 * A change is all or nothing: with one key refused, nothing is stored or applied, and every
 * refused key is reported. A store that fails to write is reported the same way, and nothing is
 * applied either, so what runs is always what a restart would run.
 */
import { payloadText } from "./contract.js";
import { messageOf } from "./errors.js";
import type { LiveSettings } from "./device.js";
import type { Log, MqttClient, Payload } from "./ports.js";
import {
	type Change,
	SETTINGS,
	type SettingValue,
	type Values,
	checkSetting,
	effective,
	masked,
	parseChange,
	settingSpec,
} from "./settings.js";

const TAG = "config";
/** The largest `config/set` payload taken: every setting at its longest fits. */
export const CONFIG_MAX_BYTES = 768;

export const configTopics = {
	set: (id: string) => `${id}/config/set`,
	config: (id: string) => `${id}/config`,
} as const;

/** Where a device keeps its settings across restarts. `save` throws when it cannot. */
export interface SettingsStore {
	load(): { values: Values; revision: number };
	save(values: Values, revision: number): void;
}

/** What the device says on `<id>/config`. */
export interface ConfigReport {
	revision: number;
	settings: Values;
	/** The keys whose value is stored on the device (set at run time), rather than built in. */
	stored?: string[];
	refused: Record<string, string>;
	restart: string[];
}

export interface SettingsOptions {
	store: SettingsStore;
	/** Build-time values (mcconfig key=value, the Node device's command line). */
	config: Values;
	log: Log;
	/** Live settings changed: the host hands them to the running device. */
	apply?: (values: Values, keys: string[]) => void;
}

export class Settings {
	#store: SettingsStore;
	#config: Values;
	#log: Log;
	#apply: ((values: Values, keys: string[]) => void) | undefined;
	#stored: Values;
	#revision: number;
	/** What runs now: a setting that is not live keeps this value until a restart. */
	#running: Values;

	constructor(options: SettingsOptions) {
		this.#store = options.store;
		this.#config = options.config;
		this.#log = options.log;
		this.#apply = options.apply;
		let loaded: { values: Values; revision: number };
		try {
			loaded = options.store.load();
		}
		catch (error) {
			options.log("error", TAG, `stored settings unreadable (${messageOf(error)}); starting from the build's`);
			loaded = { values: {}, revision: 0 };
		}
		// Whatever the store holds is checked again: a value that no longer fits is not used.
		this.#stored = {};
		for (const key of Object.keys(loaded.values)) {
			const spec = settingSpec(key);
			const checked = spec ? checkSetting(spec, loaded.values[key]) : undefined;
			if (checked?.ok)
				this.#stored[key] = checked.value;
			else
				options.log("warn", TAG, `stored setting ${key} ignored: ${checked ? checked.error : "no such setting"}`);
		}
		this.#revision = loaded.revision;
		this.#running = this.values;
	}

	/** The effective settings. */
	get values(): Values {
		return effective(this.#stored, this.#config);
	}

	get revision(): number {
		return this.#revision;
	}

	/** Where a setting's value comes from. */
	source(key: string): "stored" | "build" | "default" {
		return key in this.#stored ? "stored" : key in this.#config ? "build" : "default";
	}

	/** Stored keys that differ from what runs, waiting for a restart. */
	get pending(): string[] {
		const values = this.values;
		return SETTINGS.filter((spec) => !spec.live && values[spec.key] !== this.#running[spec.key]).map((spec) => spec.key);
	}

	/** Stores a checked change and applies its live part; throws (nothing changed) when the store fails. */
	change(change: Change): void {
		const stored = { ...this.#stored };
		for (const key of Object.keys(change)) {
			const value = change[key];
			if (value === null || value === undefined)
				delete stored[key];
			else
				stored[key] = value;
		}
		this.#store.save(stored, this.#revision + 1);
		this.#stored = stored;
		this.#revision++;
		const values = this.values;
		const live = SETTINGS.filter((spec) => spec.live && values[spec.key] !== this.#running[spec.key]).map((spec) => spec.key);
		for (const key of live)
			this.#running[key] = values[key]!;
		if (live.length && this.#apply)
			this.#apply(values, live);
	}

	/** Forgets every stored setting: the build's values return at the next start. */
	factoryReset(): void {
		const change: Change = {};
		for (const key of Object.keys(this.#stored))
			change[key] = null;
		this.change(change);
	}

	/** The report for `<id>/config`. */
	report(refused: Record<string, string> = {}): ConfigReport {
		return { revision: this.#revision, settings: masked(this.values), stored: Object.keys(this.#stored), refused, restart: this.pending };
	}

	/** Takes a `config/set` payload: checks it whole, stores and applies it, and says the outcome. */
	receive(payload: Payload): ConfigReport {
		const text = payloadText(payload, CONFIG_MAX_BYTES);
		let object: unknown;
		if (!text.ok)
			return this.report({ "*": text.error });
		try {
			object = JSON.parse(text.value);
		}
		catch {
			return this.report({ "*": "not JSON" });
		}
		if (object === null || typeof object !== "object" || Array.isArray(object))
			return this.report({ "*": "expected a JSON object of settings, e.g. {\"threshold\": 250}" });
		const { change, refused } = parseChange(object as Record<string, unknown>);
		if (Object.keys(refused).length) {
			this.#log("warn", TAG, `change refused: ${describeRefused(refused)}`);
			return this.report(refused);
		}
		if (Object.keys(change).length === 0)
			return this.report();
		try {
			this.change(change);
		}
		catch (error) {
			this.#log("error", TAG, `cannot store the settings: ${messageOf(error)}`);
			return this.report({ "*": `cannot store the settings: ${messageOf(error)}` });
		}
		this.#log("info", TAG, `settings changed: ${Object.keys(change).join(", ") || "nothing"} (revision ${this.#revision})`);
		return this.report();
	}
}

/** The live part of the settings, as Device.configure takes it. */
export function liveSettings(values: Values): LiveSettings {
	return {
		threshold: values.threshold as number,
		hysteresis: values.hysteresis as number,
		graceMs: values.grace_ms as number,
		deadband: values.deadband as number,
		heartbeatMs: values.heartbeat_ms as number,
		minGapMs: values.min_gap_ms as number,
	};
}

export function describeRefused(refused: Record<string, string>): string {
	return Object.keys(refused).map((key) => `${key}: ${refused[key]}`).join("; ");
}

export interface ConsoleOptions {
	settings: Settings;
	/** Lines `show` ends with: what the device runs as now (its id, its link). */
	about?: () => string[];
	/** Restarts the device (the host's way); the stored settings then take effect. */
	restart?: () => void;
}

const COMMANDS = ["help", "?", "show", "set", "unset", "reboot", "factory-reset"];

/** Whether a line is meant for the console (its first word is a command). */
export function isConsoleCommand(line: string): boolean {
	return COMMANDS.includes(line.trim().split(/\s+/)[0]!.toLowerCase());
}

/**
 * The console: one line in, the lines to answer. `help`, `show`, `set KEY VALUE`, `unset KEY`,
 * `reboot`, `factory-reset`; every bad input gets one line that says what to type instead.
 */
export function consoleCommand(options: ConsoleOptions, line: string): string[] {
	const { settings } = options;
	const words = line.trim().split(/\s+/);
	const command = words[0]?.toLowerCase() ?? "";
	const key = words[1];
	if (command === "")
		return [];
	if (command === "help" || command === "?") {
		const lines = ["commands: help, show, set KEY VALUE, unset KEY, reboot, factory-reset", "settings:"];
		for (const spec of SETTINGS)
			lines.push(`  ${spec.key}: ${spec.help} (${spec.type === "int" ? `${spec.min}..${spec.max}` : spec.type === "choice" ? spec.choices!.join("|") : "text"}, default ${JSON.stringify(spec.default)}${spec.live ? ", live" : ", at restart"})`);
		return lines;
	}
	if (command === "show") {
		const values = masked(settings.values);
		const lines = SETTINGS.map((spec) => `${spec.key}=${values[spec.key] ?? ""} (${settings.source(spec.key)})`);
		lines.push(`revision ${settings.revision}${settings.pending.length ? `; at the next reboot: ${settings.pending.join(", ")}` : ""}`);
		if (options.about)
			lines.push(...options.about());
		return lines;
	}
	if (command === "set" || command === "unset") {
		const spec = key === undefined ? undefined : settingSpec(key);
		if (!spec)
			return [`error: ${key === undefined ? `${command} needs a setting` : `no setting ${JSON.stringify(key.slice(0, 32))}`}: type help for the list`];
		let value: SettingValue | null = null;
		if (command === "set") {
			// The value is the rest of the line, so a Wi-Fi name may hold spaces.
			const text = /^\S+\s+\S+\s?(.*)$/.exec(line.trim())?.[1] ?? "";
			const checked = checkSetting(spec, text);
			if (!checked.ok)
				return [`error: ${spec.key} ${checked.error}`];
			value = checked.value;
		}
		else if (words.length > 2) {
			return [`error: unset takes only the setting's name: unset ${spec.key}`];
		}
		try {
			settings.change({ [spec.key]: value });
		}
		catch (error) {
			return [`error: cannot store ${spec.key}: ${messageOf(error)}`];
		}
		const shown = spec.secret ? "***" : JSON.stringify(settings.values[spec.key]);
		return [`ok: ${spec.key}=${shown}${spec.live ? "" : "; type reboot to use it"}`];
	}
	if (command === "reboot" || command === "factory-reset") {
		if (command === "factory-reset") {
			try {
				settings.factoryReset();
			}
			catch (error) {
				return [`error: cannot forget the settings: ${messageOf(error)}`];
			}
		}
		if (!options.restart)
			return [command === "factory-reset" ? "ok: settings forgotten; restart the device to use the build's" : "error: this device cannot restart itself; power it off and on"];
		options.restart();
		return [command === "factory-reset" ? "ok: settings forgotten; restarting" : "ok: restarting"];
	}
	return [`error: unknown command ${JSON.stringify(command.slice(0, 32))}: type help`];
}

/**
 * The MQTT side: subscribes to `<id>/config/set` at every connect and answers on `<id>/config`
 * (retained, QoS 1). It listens on the client itself, next to the device core.
 */
export class ConfigChannel {
	#mqtt: MqttClient;
	#settings: Settings;
	#log: Log;
	#topics: { set: string; config: string };
	/** The revision last said on `<id>/config`. */
	#said = -1;
	#onConnect = () => this.#connected();
	#onMessage = (topic: string, payload: Payload) => {
		if (topic !== this.#topics.set)
			return;
		const report = this.#settings.receive(payload);
		this.#said = report.revision;
		this.#publish(report);
	};

	constructor(id: string, mqtt: MqttClient, settings: Settings, log: Log) {
		this.#mqtt = mqtt;
		this.#settings = settings;
		this.#log = log;
		this.#topics = { set: configTopics.set(id), config: configTopics.config(id) };
	}

	start(): void {
		this.#mqtt.on("connect", this.#onConnect);
		this.#mqtt.on("message", this.#onMessage);
		if (this.#mqtt.connected)
			this.#connected();
	}

	stop(): void {
		this.#mqtt.off("connect", this.#onConnect);
		this.#mqtt.off("message", this.#onMessage);
	}

	/** Says the current settings; with `ifChanged` (after a console line), only when they changed since last said. */
	announce(ifChanged = false): void {
		if (!this.#mqtt.connected || (ifChanged && this.#settings.revision === this.#said))
			return;
		this.#said = this.#settings.revision;
		this.#publish(this.#settings.report());
	}

	#connected(): void {
		try {
			this.#mqtt.subscribe(this.#topics.set, { qos: 1 }, (error) => {
				if (error)
					this.#log("error", TAG, `cannot subscribe to ${this.#topics.set}: ${error.message}`);
			});
		}
		catch (error) {
			this.#log("error", TAG, `cannot subscribe to ${this.#topics.set}: ${messageOf(error)}`);
		}
		this.announce();
	}

	#publish(report: ConfigReport): void {
		try {
			this.#mqtt.publish(this.#topics.config, JSON.stringify(report), { qos: 1, retain: true });
		}
		catch (error) {
			this.#log("warn", TAG, `cannot publish ${this.#topics.config}: ${messageOf(error)}`);
		}
	}
}
