/*
 * Devices' settings, as the server sees them: what each device last said on `<id>/config`
 * (retained: revision, settings with secrets masked, refused keys, what waits for a restart), and
 * changes sent on `<id>/config/set` for the HTTP API and the dashboard, answered when the device
 * says its new revision or what it refused. The device checks every change itself; the server
 * checks it first too, so a bad request is refused without a round trip.
 */
import { CONFIG_MAX_BYTES, type ConfigReport, configTopics, describeRefused } from "../src/config.js";
import { payloadText } from "../src/contract.js";
import { messageOf } from "../src/errors.js";
import type { Clock, Log, MqttClient, Payload, TimerHandle } from "../src/ports.js";
import { type Change, parseChange } from "../src/settings.js";

export const ALL_CONFIG = "+/config";
/** How long a change waits for the device's answer. */
export const CONFIG_ANSWER_MS = 5_000;

export type ConfigOutcome =
	| { ok: true; report: ConfigReport }
	| { ok: false; status: 400 | 504; error: string; refused?: Record<string, string>; report?: ConfigReport };

interface Waiter {
	after: number;
	resolve: (report: ConfigReport) => void;
}

export class DeviceConfigs {
	#mqtt: MqttClient;
	#clock: Clock;
	#log: Log;
	#reports = new Map<string, ConfigReport>();
	#waiters = new Map<string, Waiter[]>();

	constructor(options: { mqtt: MqttClient; clock: Clock; log: Log }) {
		this.#mqtt = options.mqtt;
		this.#clock = options.clock;
		this.#log = options.log;
	}

	/** What the device last said of its settings, if anything. */
	get(id: string): ConfigReport | undefined {
		return this.#reports.get(id);
	}

	/** The devices that said their settings. */
	ids(): string[] {
		return [...this.#reports.keys()];
	}

	forget(id: string): void {
		this.#reports.delete(id);
	}

	/** A `<id>/config` message; false when it is not a device's settings report. */
	message(id: string, payload: Payload): boolean {
		const text = payloadText(payload, 4 * CONFIG_MAX_BYTES);
		if (!text.ok || text.value === "")
			return text.ok;
		let report: ConfigReport;
		try {
			report = JSON.parse(text.value) as ConfigReport;
		}
		catch {
			return false;
		}
		if (typeof report !== "object" || report === null || !Number.isSafeInteger(report.revision) || typeof report.settings !== "object" || report.settings === null)
			return false;
		this.#reports.set(id, report);
		const waiters = this.#waiters.get(id) ?? [];
		const refused = Object.keys(report.refused ?? {}).length > 0;
		const left = waiters.filter((waiter) => {
			if (refused || report.revision > waiter.after) {
				waiter.resolve(report);
				return false;
			}
			return true;
		});
		if (left.length)
			this.#waiters.set(id, left);
		else
			this.#waiters.delete(id);
		return true;
	}

	/** Checks a change, sends it to the device and waits for its answer. */
	async change(id: string, body: unknown, timeoutMs = CONFIG_ANSWER_MS): Promise<ConfigOutcome> {
		if (typeof body !== "object" || body === null || Array.isArray(body))
			return { ok: false, status: 400, error: `the body must be a JSON object of settings, e.g. {"threshold": 250}` };
		const { change, refused } = parseChange(body as Record<string, unknown>);
		if (Object.keys(refused).length)
			return { ok: false, status: 400, error: `refused, nothing was sent: ${describeRefused(refused)}`, refused: { ...refused } };
		if (Object.keys(change).length === 0)
			return { ok: false, status: 400, error: "no setting to change" };
		const before = this.#reports.get(id);
		const answer = new Promise<ConfigReport | undefined>((resolve) => {
			let timer: TimerHandle | undefined;
			const waiter: Waiter = {
				after: before?.revision ?? -1,
				resolve: (report) => {
					this.#clock.clearTimeout(timer);
					resolve(report);
				},
			};
			this.#waiters.set(id, [...(this.#waiters.get(id) ?? []), waiter]);
			timer = this.#clock.setTimeout(() => {
				const waiters = (this.#waiters.get(id) ?? []).filter((item) => item !== waiter);
				if (waiters.length)
					this.#waiters.set(id, waiters);
				else
					this.#waiters.delete(id);
				resolve(undefined);
			}, timeoutMs);
		});
		this.#send(id, change);
		const report = await answer;
		if (!report)
			return { ok: false, status: 504, error: `no answer from ${id} within ${timeoutMs / 1000} s: is it online, and does its firmware keep settings?` };
		const refusedByDevice = report.refused ?? {};
		if (Object.keys(refusedByDevice).length)
			return { ok: false, status: 400, error: `${id} refused the change, nothing was applied: ${describeRefused(refusedByDevice)}`, refused: refusedByDevice, report };
		return { ok: true, report };
	}

	#send(id: string, change: Change): void {
		try {
			this.#mqtt.publish(configTopics.set(id), JSON.stringify(change), { qos: 1 }, (error) => {
				if (error)
					this.#log("warn", "server", `settings to ${id}: ${error.message}`);
			});
		}
		catch (error) {
			this.#log("warn", "server", `settings to ${id}: ${messageOf(error)}`);
		}
	}
}
