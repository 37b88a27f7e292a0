/*
 * The nightlight server: watches every device's telemetry and availability, applies the rule
 * with hysteresis, and commands a device only when its decision changes or when the device
 * comes (back) online. Commands are retained at QoS 1, so a device that restarts is told its
 * desired state as soon as it subscribes.
 *
 * Works with lesson devices (QoS 0 telemetry, no status, no will): their first reading is a
 * decision like any other. Bad telemetry is logged (rate-limited), counted and ignored.
 *
 * Each command carries `ts` (when the server decided) and `seq` (per device), so a device can
 * drop stale and duplicate commands; the re-send on (re)connection keeps the original ts and seq.
 * Readings that carry their sample time are taken in sample order: a reading older than the
 * newest one seen, or that same reading again, is out of order or a duplicate and is dropped; a reading taken more than
 * `REPLAY_AGE_MS` ago (a device replaying its outbox after an outage) is recorded but decides
 * nothing, so a replayed burst cannot flap the LED; the device's fresh reading that follows does.
 * A retained reading, delivered when the server subscribes, is the last known value and decides.
 *
 * The server says `online` (retained) on SERVER_STATUS_TOPIC when it connects and leaves
 * `offline` as its will, so devices can tell "server gone" from "no command needed".
 *
 * Scale-out (`share`): several servers split the fleet through MQTT shared subscriptions
 * (`$share/<group>/+/telemetry` and `+/status`): the broker hands each message to one of them.
 * Every server also follows every device's retained command (`+/commands`), so whichever server
 * gets a device's next reading knows the current decision and its seq: a device is commanded once
 * per change whichever server decides it. One residual race: two readings of the same device
 * reaching two servers within the time a command takes to come back (milliseconds) can both
 * decide the same change; the device takes the second as a duplicate. When a server's will says
 * `offline` while another is alive, the living one says `online` again at once.
 */
import {
	ALL_COMMANDS,
	ALL_STATUS,
	ALL_TELEMETRY,
	type Availability,
	SERVER_STATUS_TOPIC,
	encodeCommand,
	parseAvailability,
	parseCommand,
	parseTelemetry,
	parseTopic,
	topics,
} from "../src/contract.js";
import { messageOf } from "../src/errors.js";
import { Link, type LinkPolicy } from "../src/link.js";
import type { Clock, Log, MqttClient, Payload } from "../src/ports.js";
import { type RuleOptions, checkRule, decide } from "../src/rule.js";

const TAG = "server";
const REJECT_LOG_WINDOW_MS = 10_000;
const REJECT_LOG_PER_WINDOW = 5;
/** A reading taken longer ago than this is history, not a reason to switch the LED. */
export const REPLAY_AGE_MS = 5_000;

/** The will a server's MQTT client must be created with. */
export function serverWill(): { topic: string; payload: string; qos: 1; retain: true } {
	return { topic: SERVER_STATUS_TOPIC, payload: "offline", qos: 1, retain: true };
}

export interface ServerOptions {
	mqtt: MqttClient;
	clock: Clock;
	log: Log;
	rule: RuleOptions;
	link?: Partial<LinkPolicy>;
	/** The shared-subscription group of servers that split the fleet; undefined: this server sees every device. */
	share?: string | undefined;
	/** Told about each decision, for a display or a benchmark. A throwing listener is logged. */
	onEvent?: (event: ServerEvent) => void;
}

export type ServerEvent =
	| { type: "telemetry"; id: string; light: number; replayed: boolean }
	| { type: "command"; id: string; led_on: boolean; reason: "changed" | "online" }
	| { type: "availability"; id: string; availability: Availability };

export interface DeviceRecord {
	id: string;
	light: number | undefined;
	lightAt: number | undefined;
	/** What the server last told the device; undefined until the first reading. */
	ledOn: boolean | undefined;
	/** When that decision was made, and its number for this device. */
	decidedAt: number | undefined;
	seq: number;
	/** The sample time of the newest reading that carried one. */
	sampleTs: number | undefined;
	availability: Availability | undefined;
	lastSeen: number;
}

export interface ServerStats {
	telemetry: number;
	/** Readings recorded without a decision: replayed after an outage. */
	replayed: number;
	/** Readings dropped as duplicates or out of order. */
	outOfOrder: number;
	commands: number;
	rejected: number;
	connects: number;
}

export class Server {
	#mqtt: MqttClient;
	#clock: Clock;
	#log: Log;
	#rule: RuleOptions;
	#onEvent: ((event: ServerEvent) => void) | undefined;
	#share: string | undefined;
	#devices = new Map<string, DeviceRecord>();
	#stats = { telemetry: 0, replayed: 0, outOfOrder: 0, commands: 0, rejected: 0 };
	#link: Link;
	#running = false;
	#rejectWindowStart = -Infinity;
	#rejectLogged = 0;

	#onMessage = (topic: string, payload: Payload, packet?: { retain?: boolean }) => this.#message(topic, payload, packet?.retain === true);
	#onError = (error: Error) => this.#log("debug", TAG, `MQTT: ${error.message}`);

	constructor(options: ServerOptions) {
		this.#rule = checkRule(options.rule);
		this.#mqtt = options.mqtt;
		this.#clock = options.clock;
		this.#log = options.log;
		this.#onEvent = options.onEvent;
		if (options.share !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(options.share))
			throw new RangeError(`share group must be 1..64 letters, digits, "_", "." or "-", got ${JSON.stringify(options.share)}`);
		this.#share = options.share;
		const linkOptions: ConstructorParameters<typeof Link>[0] = {
			mqtt: options.mqtt,
			clock: options.clock,
			log: options.log,
			tag: TAG,
			onUp: () => this.#connected(),
			onDown: () => this.#lostBroker(),
			onWaiting: (delayMs) => this.#log("info", TAG, `next connection attempt in ${(delayMs / 1000).toFixed(1)} s`),
		};
		if (options.link)
			linkOptions.policy = options.link;
		this.#link = new Link(linkOptions);
	}

	get rule(): RuleOptions {
		return { ...this.#rule };
	}

	get stats(): ServerStats {
		return { ...this.#stats, connects: this.#link.connects };
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
		this.#mqtt.on("message", this.#onMessage as (topic: string, payload: Payload) => void);
		this.#mqtt.on("error", this.#onError);
		this.#link.start();
	}

	/** Says `offline` when connected and stops listening. The host ends the client. */
	stop(): void {
		if (!this.#running)
			return;
		this.#running = false;
		if (this.#link.state === "up")
			this.#publishStatus("offline");
		this.#link.stop();
		this.#mqtt.off("message", this.#onMessage);
		this.#mqtt.off("error", this.#onError);
	}

	#connected(): void {
		const shared = (topic: string) => (this.#share === undefined ? topic : `$share/${this.#share}/${topic}`);
		const topics = [shared(ALL_TELEMETRY), shared(ALL_STATUS), SERVER_STATUS_TOPIC];
		if (this.#share !== undefined)
			topics.push(ALL_COMMANDS);
		this.#log("info", TAG, `connected; watching ${topics.join(", ")}`);
		this.#publishStatus("online");
		for (const topic of topics) {
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

	#message(topic: string, payload: Payload, retained: boolean): void {
		try {
			if (topic === SERVER_STATUS_TOPIC) {
				this.#serverStatus(payload);
				return;
			}
			const parsed = parseTopic(topic);
			if (!parsed)
				return;
			if (parsed.kind === "telemetry")
				this.#telemetry(parsed.id, payload, retained);
			else if (parsed.kind === "status")
				this.#status(parsed.id, payload);
			else if (parsed.kind === "commands" && this.#share !== undefined)
				this.#followCommand(parsed.id, payload);
		}
		catch (error) {
			this.#reject(topic, `handler failed: ${messageOf(error)}`);
		}
	}

	#telemetry(id: string, payload: Payload, retained: boolean): void {
		// An empty retained payload clears the topic; it is not a reading.
		if (payloadLength(payload) === 0)
			return;
		const parsed = parseTelemetry(payload);
		if (!parsed.ok) {
			this.#reject(topics.telemetry(id), parsed.error);
			return;
		}
		const now = this.#clock.now();
		const record = this.#record(id, now);
		const { light, ts } = parsed.value;
		if (ts !== undefined) {
			const newest = record.sampleTs;
			// Older than the newest reading, or that very reading again (a QoS 1 redelivery).
			if (newest !== undefined && (ts < newest || (ts === newest && light === record.light))) {
				this.#stats.outOfOrder++;
				return;
			}
			record.sampleTs = ts;
		}
		this.#stats.telemetry++;
		record.light = light;
		record.lightAt = ts ?? now;
		const replayed = ts !== undefined && now - ts > REPLAY_AGE_MS && !retained;
		this.#emit({ type: "telemetry", id, light, replayed });
		if (replayed) {
			this.#stats.replayed++;
			return;
		}
		const ledOn = decide(this.#rule, light, record.ledOn);
		if (ledOn === record.ledOn)
			return;
		record.ledOn = ledOn;
		record.decidedAt = now;
		record.seq++;
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
		const command = { led_on: ledOn, seq: record.seq, ...(record.decidedAt === undefined ? {} : { ts: record.decidedAt }) };
		try {
			this.#mqtt.publish(topics.commands(record.id), encodeCommand(command), { qos: 1, retain: true }, (error) => {
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

	/** Another server's will said offline while this one is alive: the service is still there. */
	#serverStatus(payload: Payload): void {
		const parsed = payloadLength(payload) === 0 ? undefined : parseAvailability(payload);
		if (this.#running && this.#link.state === "up" && (!parsed || (parsed.ok && parsed.value === "offline")))
			this.#publishStatus("online");
	}

	/** A command from any server of the group: adopt it when it is newer than what this one knows. */
	#followCommand(id: string, payload: Payload): void {
		const parsed = parseCommand(payload);
		if (!parsed.ok || parsed.value.ts === undefined)
			return;
		const { led_on, seq = 0, ts } = parsed.value;
		const record = this.#record(id, this.#clock.now());
		const known = record.decidedAt;
		if (known !== undefined && (ts < known || (ts === known && seq <= record.seq)))
			return;
		record.ledOn = led_on;
		record.decidedAt = ts;
		record.seq = Math.max(record.seq, seq);
	}

	/** Without the broker the server cannot vouch for any device: each says online again when it is back. */
	#lostBroker(): void {
		this.#log("warn", TAG, "lost the broker; reconnecting, and counting every device offline until it says otherwise");
		for (const record of this.#devices.values()) {
			if (record.availability === "online") {
				record.availability = "offline";
				this.#emit({ type: "availability", id: record.id, availability: "offline" });
			}
		}
	}

	#publishStatus(availability: Availability): void {
		try {
			this.#mqtt.publish(SERVER_STATUS_TOPIC, availability, { qos: 1, retain: true });
		}
		catch (error) {
			this.#log("warn", TAG, `cannot publish ${SERVER_STATUS_TOPIC}: ${messageOf(error)}`);
		}
	}

	#record(id: string, now: number): DeviceRecord {
		let record = this.#devices.get(id);
		if (!record) {
			record = { id, light: undefined, lightAt: undefined, ledOn: undefined, decidedAt: undefined, seq: 0, sampleTs: undefined, availability: undefined, lastSeen: now };
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
