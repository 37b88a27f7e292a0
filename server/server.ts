/*
 * The nightlight server: watches every device's telemetry and availability, applies the rule
 * with hysteresis, and commands a device only when its decision changes or when the device
 * comes (back) online. Commands are retained at QoS 1, so a device that restarts is told its
 * desired state as soon as it subscribes.
 *
 * Works with lesson devices (QoS 0 telemetry, no status, no will): their first reading is a
 * decision like any other. Bad telemetry is logged (rate-limited), counted and ignored.
 */
import {
	ALL_STATUS,
	ALL_TELEMETRY,
	type Availability,
	encodeCommand,
	parseAvailability,
	parseTelemetry,
	parseTopic,
	topics,
} from "../src/contract.js";
import { messageOf } from "../src/errors.js";
import type { Clock, Log, MqttClient, Payload } from "../src/ports.js";
import { type RuleOptions, checkRule, decide } from "../src/rule.js";

const TAG = "server";
const REJECT_LOG_WINDOW_MS = 10_000;
const REJECT_LOG_PER_WINDOW = 5;

export interface ServerOptions {
	mqtt: MqttClient;
	clock: Clock;
	log: Log;
	rule: RuleOptions;
	/** Told about each decision, for a display or a benchmark. A throwing listener is logged. */
	onEvent?: (event: ServerEvent) => void;
}

export type ServerEvent =
	| { type: "telemetry"; id: string; light: number }
	| { type: "command"; id: string; led_on: boolean; reason: "changed" | "online" }
	| { type: "availability"; id: string; availability: Availability };

export interface DeviceRecord {
	id: string;
	light: number | undefined;
	lightAt: number | undefined;
	/** What the server last told the device; undefined until the first reading. */
	ledOn: boolean | undefined;
	availability: Availability | undefined;
	lastSeen: number;
}

export interface ServerStats {
	telemetry: number;
	commands: number;
	rejected: number;
}

export class Server {
	#mqtt: MqttClient;
	#clock: Clock;
	#log: Log;
	#rule: RuleOptions;
	#onEvent: ((event: ServerEvent) => void) | undefined;
	#devices = new Map<string, DeviceRecord>();
	#stats: ServerStats = { telemetry: 0, commands: 0, rejected: 0 };
	#running = false;
	#rejectWindowStart = -Infinity;
	#rejectLogged = 0;

	#onConnect = () => this.#connected();
	#onMessage = (topic: string, payload: Payload) => this.#message(topic, payload);
	#onError = (error: Error) => this.#log("warn", TAG, `MQTT: ${error.message}`);

	constructor(options: ServerOptions) {
		this.#rule = checkRule(options.rule);
		this.#mqtt = options.mqtt;
		this.#clock = options.clock;
		this.#log = options.log;
		this.#onEvent = options.onEvent;
	}

	get rule(): RuleOptions {
		return { ...this.#rule };
	}

	get stats(): ServerStats {
		return { ...this.#stats };
	}

	/** What the server knows of one device. */
	device(id: string): DeviceRecord | undefined {
		const record = this.#devices.get(id);
		return record && { ...record };
	}

	devices(): DeviceRecord[] {
		return [...this.#devices.values()].map((record) => ({ ...record }));
	}

	start(): void {
		if (this.#running)
			return;
		this.#running = true;
		this.#mqtt.on("connect", this.#onConnect);
		this.#mqtt.on("message", this.#onMessage);
		this.#mqtt.on("error", this.#onError);
		if (this.#mqtt.connected)
			this.#connected();
	}

	stop(): void {
		if (!this.#running)
			return;
		this.#running = false;
		this.#mqtt.off("connect", this.#onConnect);
		this.#mqtt.off("message", this.#onMessage);
		this.#mqtt.off("error", this.#onError);
	}

	#connected(): void {
		this.#log("info", TAG, `connected; watching ${ALL_TELEMETRY} and ${ALL_STATUS}`);
		for (const topic of [ALL_TELEMETRY, ALL_STATUS]) {
			try {
				this.#mqtt.subscribe(topic, { qos: 1 }, (error) => {
					if (error)
						this.#log("error", TAG, `cannot subscribe to ${topic}: ${error.message}`);
				});
			}
			catch (error) {
				this.#log("error", TAG, `cannot subscribe to ${topic}: ${messageOf(error)}`);
			}
		}
	}

	#message(topic: string, payload: Payload): void {
		try {
			const parsed = parseTopic(topic);
			if (!parsed)
				return;
			if (parsed.kind === "telemetry")
				this.#telemetry(parsed.id, payload);
			else if (parsed.kind === "status")
				this.#status(parsed.id, payload);
		}
		catch (error) {
			this.#reject(topic, `handler failed: ${messageOf(error)}`);
		}
	}

	#telemetry(id: string, payload: Payload): void {
		const parsed = parseTelemetry(payload);
		if (!parsed.ok) {
			this.#reject(topics.telemetry(id), parsed.error);
			return;
		}
		this.#stats.telemetry++;
		const now = this.#clock.now();
		const record = this.#record(id, now);
		const { light } = parsed.value;
		record.light = light;
		record.lightAt = now;
		this.#emit({ type: "telemetry", id, light });
		const ledOn = decide(this.#rule, light, record.ledOn);
		if (ledOn === record.ledOn)
			return;
		record.ledOn = ledOn;
		this.#log("info", TAG, `${id}: light ${light} → led_on ${ledOn}`);
		this.#command(record, "changed");
	}

	#status(id: string, payload: Payload): void {
		// An empty retained payload clears the topic; it says nothing about the device.
		if (payloadLength(payload) === 0)
			return;
		const parsed = parseAvailability(payload);
		if (!parsed.ok) {
			this.#reject(topics.status(id), parsed.error);
			return;
		}
		const record = this.#record(id, this.#clock.now());
		const was = record.availability;
		record.availability = parsed.value;
		if (was !== parsed.value)
			this.#emit({ type: "availability", id, availability: parsed.value });
		if (parsed.value === "online" && was !== "online" && record.ledOn !== undefined)
			this.#command(record, "online");
	}

	#command(record: DeviceRecord, reason: "changed" | "online"): void {
		const ledOn = record.ledOn!;
		try {
			this.#mqtt.publish(topics.commands(record.id), encodeCommand({ led_on: ledOn }), { qos: 1, retain: true }, (error) => {
				if (error)
					this.#log("warn", TAG, `command to ${record.id} failed: ${error.message}`);
			});
		}
		catch (error) {
			this.#log("warn", TAG, `command to ${record.id} failed: ${messageOf(error)}`);
			return;
		}
		this.#stats.commands++;
		this.#emit({ type: "command", id: record.id, led_on: ledOn, reason });
	}

	#record(id: string, now: number): DeviceRecord {
		let record = this.#devices.get(id);
		if (!record) {
			record = { id, light: undefined, lightAt: undefined, ledOn: undefined, availability: undefined, lastSeen: now };
			this.#devices.set(id, record);
		}
		record.lastSeen = now;
		return record;
	}

	#reject(topic: string, reason: string): void {
		this.#stats.rejected++;
		const now = this.#clock.now();
		if (now - this.#rejectWindowStart >= REJECT_LOG_WINDOW_MS) {
			const unlogged = this.#rejectLogged - REJECT_LOG_PER_WINDOW;
			if (unlogged > 0)
				this.#log("warn", TAG, `${unlogged} more messages rejected`);
			this.#rejectWindowStart = now;
			this.#rejectLogged = 0;
		}
		if (this.#rejectLogged++ < REJECT_LOG_PER_WINDOW)
			this.#log("warn", TAG, `${topic}: rejected: ${reason}`);
	}

	#emit(event: ServerEvent): void {
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

function payloadLength(payload: Payload): number {
	return typeof payload === "string" ? payload.length : payload.byteLength;
}
