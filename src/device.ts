/*
 * The nightlight device: the portable firmware core. It samples the light sensor, reports
 * readings worth sending on `<id>/telemetry` (retained: the last known value), obeys
 * `<id>/commands`, and keeps `<id>/state` (retained) and `<id>/status` (retained, with an
 * `offline` will) up to date.
 *
 * Error policy: bad options throw at construction. Everything at run time (a malformed or
 * oversized command, a publish that fails, a throwing listener) is logged, counted and survived;
 * nothing throws out of a timer or a message handler.
 */
import {
	type Command,
	LIGHT_MAX,
	type State,
	encodeState,
	encodeTelemetry,
	isDeviceId,
	parseCommand,
	topics,
} from "./contract.js";
import { messageOf } from "./errors.js";
import { type Chain, type ReportOptions, measureChain, reportGate } from "./filters.js";
import type { Clock, Led, LightSensor, Log, MqttClient, Payload, TimerHandle } from "./ports.js";

const TAG = "device";

export const DEFAULT_SAMPLE_PERIOD_MS = 100;

export const DEFAULT_REPORT: ReportOptions = {
	mode: "change",
	deadband: 20,
	heartbeatMs: 60_000,
	minGapMs: 250,
	periodMs: 2_000,
	smoothing: 0.3,
	jump: 64,
};

/** Rejected payloads are logged this often at most; the rest are only counted. */
const REJECT_LOG_WINDOW_MS = 10_000;
const REJECT_LOG_PER_WINDOW = 5;
/** A change of the rejected counter alone republishes the state after this delay. */
const STATE_REFRESH_MS = 5_000;

export interface DeviceOptions {
	/** The device id: one topic level, shared with its server. */
	id: string;
	sensor: LightSensor;
	led: Led;
	clock: Clock;
	mqtt: MqttClient;
	log: Log;
	samplePeriodMs?: number;
	report?: Partial<ReportOptions>;
	/** Told about what the device does, for a host's display. A throwing listener is logged. */
	onEvent?: (event: DeviceEvent) => void;
}

export type DeviceEvent =
	| { type: "connection"; connected: boolean }
	| { type: "telemetry"; light: number }
	| { type: "command"; led_on: boolean }
	| { type: "led"; on: boolean }
	| { type: "rejected"; reason: string };

export interface DeviceStats {
	samples: number;
	telemetrySent: number;
	commandsApplied: number;
	rejected: number;
	unknownFields: number;
}

/** The will a device's MQTT client must be created with. */
export function deviceWill(id: string): { topic: string; payload: string; qos: 1; retain: true } {
	return { topic: topics.status(id), payload: "offline", qos: 1, retain: true };
}

export class Device {
	#id: string;
	#sensor: LightSensor;
	#led: Led;
	#clock: Clock;
	#mqtt: MqttClient;
	#log: Log;
	#onEvent: ((event: DeviceEvent) => void) | undefined;
	#samplePeriodMs: number;
	#report: ReportOptions;
	#measure: Chain;
	#gate: Chain;
	#topics: { telemetry: string; commands: string; state: string; status: string };

	#sampler: TimerHandle | undefined;
	#stateTimer: TimerHandle | undefined;
	#running = false;
	#ledOn = false;
	#light: number | undefined;
	#stats: DeviceStats = { samples: 0, telemetrySent: 0, commandsApplied: 0, rejected: 0, unknownFields: 0 };
	#rejectWindowStart = -Infinity;
	#rejectLogged = 0;
	#unknownLogged: string[] = [];

	#onConnect = () => this.#connected();
	#onClose = () => this.#disconnected();
	#onMessage = (topic: string, payload: Payload) => this.#message(topic, payload);
	#onError = (error: Error) => this.#log("warn", TAG, `MQTT: ${error.message}`);

	constructor(options: DeviceOptions) {
		if (!isDeviceId(options.id))
			throw new RangeError(`device id must be 1..64 letters, digits, "_", "." or "-", got ${JSON.stringify(options.id)}`);
		const samplePeriodMs = options.samplePeriodMs ?? DEFAULT_SAMPLE_PERIOD_MS;
		if (!(samplePeriodMs >= 10))
			throw new RangeError(`sample period must be at least 10 ms, got ${samplePeriodMs}`);
		const report = { ...DEFAULT_REPORT, ...options.report };
		checkReport(report);
		this.#id = options.id;
		this.#sensor = options.sensor;
		this.#led = options.led;
		this.#clock = options.clock;
		this.#mqtt = options.mqtt;
		this.#log = options.log;
		this.#onEvent = options.onEvent;
		this.#samplePeriodMs = samplePeriodMs;
		this.#report = report;
		this.#measure = measureChain(report, LIGHT_MAX);
		this.#gate = reportGate(options.clock, report);
		this.#topics = {
			telemetry: topics.telemetry(options.id),
			commands: topics.commands(options.id),
			state: topics.state(options.id),
			status: topics.status(options.id),
		};
	}

	get id(): string {
		return this.#id;
	}

	get ledOn(): boolean {
		return this.#ledOn;
	}

	/** The last reading on the 0..1023 scale, after smoothing. */
	get light(): number | undefined {
		return this.#light;
	}

	get stats(): DeviceStats {
		return { ...this.#stats };
	}

	/** The effective settings, for the start-up log. */
	get settings(): { id: string; samplePeriodMs: number } & ReportOptions {
		return { id: this.#id, samplePeriodMs: this.#samplePeriodMs, ...this.#report };
	}

	start(): void {
		if (this.#running)
			return;
		this.#running = true;
		this.#writeLed(false);
		const mqtt = this.#mqtt;
		mqtt.on("connect", this.#onConnect);
		mqtt.on("close", this.#onClose);
		mqtt.on("message", this.#onMessage);
		mqtt.on("error", this.#onError);
		this.#sensor.onReadable = () => this.#sample();
		this.#sampler = this.#clock.setInterval(() => this.#sample(), this.#samplePeriodMs);
		if (mqtt.connected)
			this.#connected();
		this.#sample();
	}

	/** Stops sampling and listening; says `offline` first when connected. The host ends the client. */
	stop(): void {
		if (!this.#running)
			return;
		this.#running = false;
		this.#clock.clearInterval(this.#sampler);
		this.#clock.clearTimeout(this.#stateTimer);
		this.#sampler = this.#stateTimer = undefined;
		this.#sensor.onReadable = undefined;
		const mqtt = this.#mqtt;
		if (mqtt.connected)
			this.#publish(this.#topics.status, "offline", true);
		mqtt.off("connect", this.#onConnect);
		mqtt.off("close", this.#onClose);
		mqtt.off("message", this.#onMessage);
		mqtt.off("error", this.#onError);
	}

	#connected(): void {
		if (!this.#running)
			return;
		this.#log("info", TAG, `connected; subscribing to ${this.#topics.commands}`);
		try {
			this.#mqtt.subscribe(this.#topics.commands, { qos: 1 }, (error) => {
				if (error)
					this.#log("error", TAG, `cannot subscribe to ${this.#topics.commands}: ${error.message}`);
			});
		}
		catch (error) {
			this.#log("error", TAG, `cannot subscribe to ${this.#topics.commands}: ${messageOf(error)}`);
		}
		this.#publish(this.#topics.status, "online", true);
		this.#publishState();
		this.#emit({ type: "connection", connected: true });
		// A fresh connection gets a fresh reading at once rather than at the next heartbeat.
		this.#gate.reset();
		this.#sample();
	}

	#disconnected(): void {
		if (!this.#running)
			return;
		this.#emit({ type: "connection", connected: false });
	}

	#sample(): void {
		if (!this.#running)
			return;
		let raw: number | undefined;
		try {
			raw = this.#sensor.read();
		}
		catch (error) {
			this.#log("warn", TAG, `light sensor: ${messageOf(error)}`);
			return;
		}
		if (raw === undefined)
			return;
		this.#stats.samples++;
		const light = this.#measure.next(raw);
		if (light === undefined)
			return;
		this.#light = light;
		if (!this.#mqtt.connected || this.#gate.next(light) === undefined)
			return;
		// Retained: a subscriber that arrives later (a dashboard, a restarted server) gets the last reading at once.
		if (this.#publish(this.#topics.telemetry, encodeTelemetry({ light }), true)) {
			this.#gate.accept(light);
			this.#stats.telemetrySent++;
			this.#emit({ type: "telemetry", light });
		}
	}

	#message(topic: string, payload: Payload): void {
		try {
			if (topic !== this.#topics.commands)
				return;
			const parsed = parseCommand(payload);
			if (!parsed.ok) {
				this.#reject(parsed.error);
				return;
			}
			if (parsed.unknown.length)
				this.#noteUnknown(parsed.unknown);
			this.#apply(parsed.value);
		}
		catch (error) {
			this.#reject(`handler failed: ${messageOf(error)}`);
		}
	}

	#apply(command: Command): void {
		this.#stats.commandsApplied++;
		this.#emit({ type: "command", led_on: command.led_on });
		if (command.led_on === this.#ledOn)
			return;
		this.#writeLed(command.led_on);
		this.#publishState();
	}

	#writeLed(on: boolean): void {
		try {
			this.#led.write(on);
		}
		catch (error) {
			this.#log("error", TAG, `LED: ${messageOf(error)}`);
			return;
		}
		this.#ledOn = on;
		this.#emit({ type: "led", on });
	}

	#reject(reason: string): void {
		this.#stats.rejected++;
		const now = this.#clock.now();
		if (now - this.#rejectWindowStart >= REJECT_LOG_WINDOW_MS) {
			const unlogged = this.#rejectLogged - REJECT_LOG_PER_WINDOW;
			if (unlogged > 0)
				this.#log("warn", TAG, `${unlogged} more commands rejected`);
			this.#rejectWindowStart = now;
			this.#rejectLogged = 0;
		}
		if (this.#rejectLogged++ < REJECT_LOG_PER_WINDOW)
			this.#log("warn", TAG, `command rejected: ${reason}`);
		this.#emit({ type: "rejected", reason });
		if (this.#stateTimer === undefined && this.#running) {
			this.#stateTimer = this.#clock.setTimeout(() => {
				this.#stateTimer = undefined;
				this.#publishState();
			}, STATE_REFRESH_MS);
		}
	}

	#noteUnknown(fields: string[]): void {
		this.#stats.unknownFields += fields.length;
		for (const field of fields) {
			if (this.#unknownLogged.length >= 8 || this.#unknownLogged.includes(field))
				continue;
			this.#unknownLogged.push(field);
			this.#log("info", TAG, `command field ${JSON.stringify(field.slice(0, 32))} is not ours; ignored`);
		}
	}

	#publishState(): void {
		if (!this.#mqtt.connected)
			return;
		const state: State = { led_on: this.#ledOn, mode: "remote", rejected: this.#stats.rejected };
		this.#publish(this.#topics.state, encodeState(state), true);
	}

	/** Publishes without ever throwing; false when the client refused the message. */
	#publish(topic: string, message: string, retain: boolean): boolean {
		try {
			this.#mqtt.publish(topic, message, { qos: 1, retain }, (error) => {
				if (error)
					this.#log("warn", TAG, `publish to ${topic} failed: ${error.message}`);
			});
			return true;
		}
		catch (error) {
			this.#log("warn", TAG, `publish to ${topic} failed: ${messageOf(error)}`);
			return false;
		}
	}

	#emit(event: DeviceEvent): void {
		const listener = this.#onEvent;
		if (!listener)
			return;
		try {
			listener(event);
		}
		catch (error) {
			this.#log("error", TAG, `event listener failed on ${event.type}: ${messageOf(error)}`);
		}
	}
}

function checkReport(report: ReportOptions): void {
	if (report.mode !== "change" && report.mode !== "period")
		throw new RangeError(`report mode must be "change" or "period", got ${JSON.stringify(report.mode)}`);
	const positive: Array<keyof ReportOptions> = ["heartbeatMs", "periodMs"];
	for (const key of positive) {
		const value = report[key] as number;
		if (!(value > 0))
			throw new RangeError(`${key} must be a positive number of ms, got ${value}`);
	}
	if (!(report.minGapMs >= 0))
		throw new RangeError(`minGapMs must be 0 or more, got ${report.minGapMs}`);
	if (!(report.deadband >= 0))
		throw new RangeError(`deadband must be 0 or more, got ${report.deadband}`);
	if (!(report.smoothing > 0 && report.smoothing <= 1))
		throw new RangeError(`smoothing must be in (0, 1], got ${report.smoothing}`);
	if (!(report.jump > 0))
		throw new RangeError(`jump must be positive, got ${report.jump}`);
}
