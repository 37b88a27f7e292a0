/*
 * Settings of the Node device, kept across restarts: a JSON file in the state folder
 * (`<state dir>/device-<id>.json`, written atomically), the command line as the build-time layer,
 * the console on stdin (next to light levels) and `<id>/config/set` over MQTT. `reboot` restarts
 * the device in this process with what is stored.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigChannel, Settings, type SettingsStore, consoleCommand, liveSettings } from "../../src/config.js";
import { messageOf } from "../../src/errors.js";
import type { Log } from "../../src/ports.js";
import type { Values } from "../../src/settings.js";
import { type NodeDevice, type NodeDeviceOptions, startNodeDevice } from "./device.js";

export class FileSettingsStore implements SettingsStore {
	readonly path: string;
	#dir: string;

	constructor(dir: string, id: string) {
		this.#dir = dir;
		this.path = join(dir, `device-${id}.json`);
	}

	load(): { values: Values; revision: number } {
		let text: string;
		try {
			text = readFileSync(this.path, "utf8");
		}
		catch (error) {
			if ((error as NodeJS.ErrnoException).code === "ENOENT")
				return { values: {}, revision: 0 };
			throw new Error(`${this.path}: ${messageOf(error)}`);
		}
		const json = JSON.parse(text) as { revision?: unknown; settings?: unknown };
		const settings = json?.settings;
		if (typeof settings !== "object" || settings === null || Array.isArray(settings))
			throw new Error(`${this.path}: expected {"revision": N, "settings": {...}}`);
		const revision = typeof json.revision === "number" && Number.isSafeInteger(json.revision) && json.revision >= 0 ? json.revision : 0;
		return { values: settings as Values, revision };
	}

	save(values: Values, revision: number): void {
		mkdirSync(this.#dir, { recursive: true });
		const temporary = `${this.path}.${process.pid}.tmp`;
		writeFileSync(temporary, JSON.stringify({ revision, settings: values }, null, "\t") + "\n", { mode: 0o600 });
		renameSync(temporary, this.path);
	}
}

/** The command line as the settings' build-time layer: what the user gave, in the schema's keys. */
export function commandLineValues(options: NodeDeviceOptions): Values {
	const values: Values = { broker: options.url };
	const set = (key: string, value: string | number | undefined) => {
		if (value !== undefined)
			values[key] = value;
	};
	set("id", options.id);
	set("mqtt_user", options.username);
	set("mqtt_password", options.password);
	set("keepalive", options.keepaliveSeconds);
	set("sample_ms", options.samplePeriodMs);
	set("report", options.report?.mode);
	set("period_ms", options.report?.periodMs);
	set("deadband", options.report?.deadband);
	set("heartbeat_ms", options.report?.heartbeatMs);
	set("min_gap_ms", options.report?.minGapMs);
	set("threshold", options.rule?.threshold);
	set("hysteresis", options.rule?.hysteresis);
	set("grace_ms", options.graceMs);
	set("outbox_count", options.outbox?.maxCount);
	set("outbox_bytes", options.outbox?.maxBytes);
	return values;
}

/** The device's options with the effective settings in place of the command line's. */
export function withSettings(options: NodeDeviceOptions, values: Values): NodeDeviceOptions {
	const text = (key: string) => (values[key] === "" ? undefined : String(values[key]));
	return {
		...options,
		id: text("id") ?? options.id,
		url: text("broker") ?? options.url,
		username: text("mqtt_user"),
		password: text("mqtt_password"),
		keepaliveSeconds: values.keepalive as number,
		samplePeriodMs: values.sample_ms as number,
		report: {
			...options.report,
			mode: values.report as "change" | "period",
			periodMs: values.period_ms as number,
			deadband: values.deadband as number,
			heartbeatMs: values.heartbeat_ms as number,
			minGapMs: values.min_gap_ms as number,
		},
		rule: { threshold: values.threshold as number, hysteresis: values.hysteresis as number },
		graceMs: values.grace_ms as number,
		outbox: { maxCount: values.outbox_count as number, maxBytes: values.outbox_bytes as number },
	};
}

export interface ManagedDevice {
	/** The device running now: a new one after each reboot. */
	readonly node: NodeDevice;
	readonly settings: Settings;
	/** A console line (not a light level): the lines to print. */
	command(line: string): string[];
	stop(): Promise<void>;
}

/**
 * Starts the Node device with its stored settings over the command line's, and keeps them: the
 * console and `<id>/config/set` change them, live where the schema allows, and `reboot` starts the
 * device again with what is stored. Without `stateDir` nothing is kept across restarts.
 */
export function startManagedDevice(options: NodeDeviceOptions, stateDir: string | undefined, log: Log): ManagedDevice {
	const store: SettingsStore = stateDir === undefined ? memoryStore() : new FileSettingsStore(stateDir, options.id);
	let node: NodeDevice;
	let channel: ConfigChannel;
	const settings = new Settings({
		store,
		config: commandLineValues(options),
		log,
		apply: (values) => {
			try {
				node.device.configure(liveSettings(values));
			}
			catch (error) {
				log("error", "config", `cannot apply the settings: ${messageOf(error)}`);
			}
		},
	});
	for (const key of Object.keys(commandLineValues(options))) {
		if (settings.source(key) === "stored")
			log("info", "config", `${key}: the stored value wins over the command line's (type "unset ${key}" to use the command line's)`);
	}
	const start = () => {
		node = startNodeDevice(withSettings(options, settings.values));
		channel = new ConfigChannel(node.device.id, node.client, settings, log);
		channel.start();
	};
	start();
	let restarting: Promise<void> | undefined;
	const stopCurrent = async () => {
		channel.stop();
		await node.stop();
	};
	return {
		get node() {
			return node;
		},
		settings,
		command(line) {
			const lines = consoleCommand({
				settings,
				restart: () => {
					restarting = stopCurrent().then(() => {
						start();
						restarting = undefined;
					});
				},
			}, line);
			channel.announce(true);
			return lines;
		},
		async stop() {
			await restarting;
			await stopCurrent();
		},
	};
}

function memoryStore(): SettingsStore {
	let kept = { values: {} as Values, revision: 0 };
	return {
		load: () => ({ values: { ...kept.values }, revision: kept.revision }),
		save: (values, revision) => {
			kept = { values: { ...values }, revision };
		},
	};
}
