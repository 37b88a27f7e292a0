/*
 * The nightlight device: the portable firmware core. It samples the light sensor, reports
 * readings worth sending on `<id>/telemetry` (retained: the last known value), obeys
 * `<id>/commands`, and keeps `<id>/state` (retained) and `<id>/status` (retained, with an
 * `offline` will) up to date.
 *
 * Every reading carries its number (`seq`, counting up from 0 at start) and, where the device
 * has a time of day, when it was taken (`ts`, for display only). Readings go through a bounded
 * outbox and leave it only once the broker acknowledged them (QoS 1), a few in flight at a time,
 * in order; a reading not acknowledged when the link drops stays and is sent again after the
 * reconnect (a repeat the server recognises by its number).
 *
 * When the network fails (see link.ts for the reconnection policy):
 * - what is kept through an outage is sent late, marked `"replay": true`: history, which the
 *   server records but never decides from, however young it is; after it, at every connect, a
 *   fresh reading follows, and that one decides;
 * - after `graceMs` without the broker (counted from the last packet heard from it), or with the
 *   server's availability at `offline`, the device runs the rule itself (mode "local" in its
 *   state); when the server is back, control returns to it.
 *
 * Commands and ghost switching, without trusting any clock across machines: a command may carry
 * `ts` (when the server decided, on the server's clock) and `seq`. The device compares commands
 * only with each other, by (ts, seq), and drops one that is not newer than the newest it has
 * seen. Once it has decided by itself (local mode), commands that reach it before the server has
 * had its fresh reading (the retained one, a reminder) are history and are noted, not applied;
 * the server's answer to that reading is. Commands are also ignored while the server's
 * availability is `offline` and in local mode. A command without `ts` or `seq` comes from a
 * lesson-style server that does not announce itself: it is applied as it comes and, being proof
 * that a server is there, ends local mode.
 *
 * Error policy: bad options throw at construction. Everything at run time (a malformed or
 * oversized command, a publish that fails, a throwing listener) is logged, counted and survived;
 * nothing throws out of a timer or a message handler.
 */
import {
	type Availability,
	type Command,
	LIGHT_MAX,
	type Mode,
	SERVER_STATUS_TOPIC,
	type State,
	type Telemetry,
	encodeState,
	encodeTelemetry,
	isDeviceId,
	isReplay,
	isTimestamp,
	markReplay,
	parseAvailability,
	unmarkReplay,
	parseCommand,
	topics,
} from "./contract.js";
import { callSafely, messageOf } from "./errors.js";
import { type Chain, type ReportOptions, SMOOTHING, measureChain, reportGate } from "./filters.js";
import { Link, type LinkPolicy, hashString, seededRandom, subscribeLogged } from "./link.js";
import { Outbox, type OutboxLimits } from "./outbox.js";
import type { Clock, Led, LightSensor, Log, MqttClient, Payload, TimerHandle } from "./ports.js";
import { DEFAULT_RULE, type RuleOptions, checkRule, decide } from "./rule.js";

const TAG = "device";

export const DEFAULT_SAMPLE_PERIOD_MS = 100;
export const DEFAULT_GRACE_MS = 10_000;

export const DEFAULT_REPORT: ReportOptions = {
	mode: "change",
	deadband: 20,
	heartbeatMs: 60_000,
	minGapMs: 250,
	periodMs: 2_000,
	smoothing: SMOOTHING.alpha,
	jump: SMOOTHING.jump,
};

/** Rejected payloads are logged this often at most; the rest are only counted. */
const REJECT_LOG_WINDOW_MS = 10_000;
const REJECT_LOG_PER_WINDOW = 5;
/** A change of the rejected counter alone republishes the state after this delay. */
const STATE_REFRESH_MS = 5_000;
/** Readings in flight at once, awaiting their acknowledgement. */
const SEND_WINDOW = 8;
/**
 * A reading kept through an outage but taken this recently (on the device's own clock) is the
 * present when the link comes back: it goes as a live reading, and no copy follows (one reading
 * per connect, at boot too). Anything older goes as a replay, and a fresh reading follows.
 */
const PRESENT_MS = 1_000;

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
	/** The rule the device runs itself in local mode. */
	rule?: RuleOptions;
	/** How long without the broker or the server before the device decides on its own. */
	graceMs?: number;
	link?: Partial<LinkPolicy>;
	outbox?: Partial<OutboxLimits>;
	/** Jitter source for reconnection; by default seeded from the id and the clock. */
	random?: () => number;
	/** Told about what the device does, for a host's display. A throwing listener is logged. */
	onEvent?: (event: DeviceEvent) => void;
}

export type DeviceEvent =
	| { type: "connection"; connected: boolean }
	| { type: "telemetry"; light: number; replayed: boolean }
	| { type: "command"; led_on: boolean }
	| { type: "led"; on: boolean }
	| { type: "mode"; mode: Mode }
	| { type: "rejected"; reason: string };

/** The settings a running device takes at once (see Device.configure). */
export interface LiveSettings {
	threshold?: number;
	hysteresis?: number;
	graceMs?: number;
	deadband?: number;
	heartbeatMs?: number;
	minGapMs?: number;
}

export interface DeviceStats {
	samples: number;
	/** Readings taken to be sent: the next reading's number. */
	readings: number;
	telemetrySent: number;
	replayed: number;
	queued: number;
	dropped: number;
	peakQueuedBytes: number;
	commandsApplied: number;
	/** Commands dropped as stale, duplicate, or arriving in local mode or while the server is offline. */
	commandsIgnored: number;
	rejected: number;
	unknownFields: number;
	connects: number;
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
	#rule: RuleOptions;
	#graceMs: number;
	#measure: Chain;
	#gate: Chain;
	#link: Link;
	#outbox: Outbox;
	#topics: { telemetry: string; commands: string; state: string; status: string };

	#sampler: TimerHandle | undefined;
	#stateTimer: TimerHandle | undefined;
	#running = false;
	#ledOn = false;
	#light: number | undefined;
	#mode: Mode = "remote";
	#server: Availability | undefined;
	#troubleSince: number | undefined;
	/** The newest command seen, applied or not, by the server's (ts, seq): older ones are dropped. */
	#newestTs: number | undefined;
	#newestSeq: number | undefined;
	/** The device decided by itself and the server has not had a fresh reading since: commands wait. */
	#ownDecision = false;
	/** The sample time of the last reading sent or queued: stamps strictly increase. */
	#stampedTs = 0;
	/** The next reading's number. */
	#readingSeq = 0;
	/** When the newest reading in the outbox was taken, on the device's clock. */
	#queuedAt = 0;
	/** When the broker was last heard from, on the device's clock. */
	#heardAt: number | undefined;
	/** The client reports every packet, keep-alive answers included (MQTT.js's `packetreceive`). */
	#hearsPackets = false;
	#generation = 0;
	#inflight = 0;
	#flushing = false;
	#stats = { samples: 0, telemetrySent: 0, replayed: 0, commandsApplied: 0, commandsIgnored: 0, rejected: 0, unknownFields: 0 };
	#rejectWindowStart = -Infinity;
	#rejectLogged = 0;
	#unknownLogged: string[] = [];

	#onMessage = (topic: string, payload: Payload) => {
		this.#heard();
		this.#message(topic, payload);
	};
	#onPacket = () => {
		this.#hearsPackets = true;
		this.#heard();
	};
	#onError = (error: Error) => this.#log("debug", TAG, `MQTT: ${error.message}`);

	constructor(options: DeviceOptions) {
		if (!isDeviceId(options.id))
			throw new RangeError(`device id must be 1..64 letters, digits, "_", "." or "-", got ${JSON.stringify(options.id)}`);
		const samplePeriodMs = options.samplePeriodMs ?? DEFAULT_SAMPLE_PERIOD_MS;
		if (!(samplePeriodMs >= 10))
			throw new RangeError(`sample period must be at least 10 ms, got ${samplePeriodMs}`);
		const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
		if (!(graceMs >= 0))
			throw new RangeError(`grace period must be 0 ms or more, got ${graceMs}`);
		const report = { ...DEFAULT_REPORT, ...options.report };
		checkReport(report);
		this.#rule = checkRule(options.rule ?? DEFAULT_RULE);
		this.#id = options.id;
		this.#sensor = options.sensor;
		this.#led = options.led;
		this.#clock = options.clock;
		this.#mqtt = options.mqtt;
		this.#log = options.log;
		this.#onEvent = options.onEvent;
		this.#samplePeriodMs = samplePeriodMs;
		this.#graceMs = graceMs;
		this.#report = report;
		this.#measure = measureChain(report, LIGHT_MAX);
		this.#gate = reportGate(options.clock, report);
		this.#outbox = new Outbox(options.outbox);
		const linkOptions: ConstructorParameters<typeof Link>[0] = {
			mqtt: options.mqtt,
			clock: options.clock,
			log: options.log,
			tag: TAG,
			random: options.random ?? seededRandom(hashString(options.id) ^ options.clock.now()),
			onUp: () => this.#connected(),
			onDown: () => this.#disconnected(),
			onWaiting: (delayMs) => this.#log("info", TAG, `next connection attempt in ${(delayMs / 1000).toFixed(1)} s`),
		};
		if (options.link)
			linkOptions.policy = options.link;
		this.#link = new Link(linkOptions);
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

	get mode(): Mode {
		return this.#mode;
	}

	/** The last reading on the 0..1023 scale, after smoothing. */
	get light(): number | undefined {
		return this.#light;
	}

	get stats(): DeviceStats {
		return {
			...this.#stats,
			readings: this.#readingSeq,
			queued: this.#outbox.size,
			dropped: this.#outbox.dropped,
			peakQueuedBytes: this.#outbox.peakBytes,
			connects: this.#link.connects,
		};
	}

	/** The effective settings, for the start-up log. */
	get settings(): Record<string, unknown> {
		return {
			id: this.#id,
			samplePeriodMs: this.#samplePeriodMs,
			...this.#report,
			...this.#rule,
			graceMs: this.#graceMs,
			...this.#link.policy,
			outbox: this.#outbox.limits,
		};
	}

	/**
	 * Takes new live settings (src/settings.ts): the local rule, the grace period and when to
	 * report. Throws a RangeError, changing nothing, when one is out of range.
	 */
	configure(settings: LiveSettings): void {
		const rule = checkRule({ threshold: settings.threshold ?? this.#rule.threshold, hysteresis: settings.hysteresis ?? this.#rule.hysteresis });
		const graceMs = settings.graceMs ?? this.#graceMs;
		if (!(graceMs >= 0))
			throw new RangeError(`grace period must be 0 ms or more, got ${graceMs}`);
		const report = { ...this.#report };
		if (settings.deadband !== undefined)
			report.deadband = settings.deadband;
		if (settings.heartbeatMs !== undefined)
			report.heartbeatMs = settings.heartbeatMs;
		if (settings.minGapMs !== undefined)
			report.minGapMs = settings.minGapMs;
		checkReport(report);
		this.#rule = rule;
		this.#graceMs = graceMs;
		if (report.deadband !== this.#report.deadband || report.heartbeatMs !== this.#report.heartbeatMs || report.minGapMs !== this.#report.minGapMs) {
			this.#report = report;
			// A new gate reports the next reading: the server hears the device under its new settings.
			this.#gate = reportGate(this.#clock, report);
		}
		if (this.#mode === "local" && this.#light !== undefined)
			this.#decideLocally(this.#light);
	}

	start(): void {
		if (this.#running)
			return;
		this.#running = true;
		this.#troubleSince = this.#clock.now();
		this.#writeLed(false);
		this.#mqtt.on("message", this.#onMessage);
		this.#mqtt.on("packetreceive", this.#onPacket);
		this.#mqtt.on("error", this.#onError);
		this.#sensor.onReadable = () => this.#sample();
		this.#sampler = this.#clock.setInterval(() => this.#sample(), this.#samplePeriodMs);
		this.#link.start();
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
		if (this.#link.state === "up")
			this.#publish(this.#topics.status, "offline", true);
		this.#link.stop();
		this.#mqtt.off("message", this.#onMessage);
		this.#mqtt.off("packetreceive", this.#onPacket);
		this.#mqtt.off("error", this.#onError);
	}

	#heard(): void {
		this.#heardAt = this.#clock.now();
	}

	#connected(): void {
		if (!this.#running)
			return;
		this.#log("info", TAG, `connected; subscribing to ${this.#topics.commands}`);
		// The server's availability first: its retained value arrives before a retained command.
		this.#subscribe(SERVER_STATUS_TOPIC);
		this.#subscribe(this.#topics.commands);
		this.#publish(this.#topics.status, "online", true);
		this.#publishState();
		this.#emit({ type: "connection", connected: true });
		// Every connect gets one live reading, after whatever was kept, and that one decides: the
		// newest kept, if it was taken a moment ago, or else a fresh one.
		this.#heard();
		this.#checkControl();
		const newest = this.#outbox.at(this.#outbox.size - 1);
		if (newest !== undefined && this.#clock.now() - this.#queuedAt <= PRESENT_MS) {
			this.#outbox.rewriteNewest(unmarkReplay);
			this.#gate.accept(lightOf(newest));
		}
		else {
			this.#gate.reset();
		}
		this.#flush();
		this.#sample();
	}

	#disconnected(): void {
		this.#generation++;
		this.#inflight = 0;
		// What was not acknowledged is sent again after the reconnect, late: marked as such.
		this.#outbox.rewrite(markReplay);
		// The grace period runs from the last packet heard: a dead link is noticed late. Only a
		// client that reports every packet says when that was; with another, from now.
		const now = this.#clock.now();
		this.#troubleSince = Math.min(this.#troubleSince ?? now, (this.#hearsPackets ? this.#heardAt : undefined) ?? now);
		if (!this.#running)
			return;
		this.#log("warn", TAG, `lost the broker; keeping readings (${this.#outbox.size} queued) and deciding locally after ${this.#graceMs / 1000} s`);
		this.#emit({ type: "connection", connected: false });
	}

	#sample(): void {
		if (!this.#running)
			return;
		this.#checkControl();
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
		if (this.#mode === "local")
			this.#decideLocally(light);
		if (this.#gate.next(light) === undefined) {
			// A send that failed without a disconnect is tried again here.
			if (this.#outbox.size > this.#inflight)
				this.#flush();
			return;
		}
		this.#gate.accept(light);
		// Taken while the link is down: it will be sent late. Taken while up: it is news, even
		// when it waits behind others in flight.
		const ts = this.#stamp();
		const reading: Telemetry = ts === undefined ? { light, seq: this.#readingSeq++ } : { light, ts, seq: this.#readingSeq++ };
		if (this.#link.state !== "up")
			reading.replay = true;
		const dropped = this.#outbox.push(encodeTelemetry(reading));
		this.#inflight = Math.max(0, this.#inflight - dropped);
		this.#queuedAt = this.#clock.now();
		this.#flush();
	}

	/**
	 * A reading's sample time, when the device has a time of day. Two readings in the same
	 * millisecond get distinct times, for a chart; the reading's number orders them.
	 */
	#stamp(): number | undefined {
		const now = this.#clock.wall?.() ?? this.#clock.now();
		if (!isTimestamp(now))
			return undefined;
		const ts = Math.max(now, this.#stampedTs + 1);
		this.#stampedTs = ts;
		return ts;
	}

	/**
	 * Sends the outbox in order, a few in flight at a time, each removed once the broker
	 * acknowledged it. The newest is retained: it is the last known value, which a subscriber that
	 * arrives later (a dashboard, a restarted server) gets at once.
	 */
	#flush(): void {
		if (this.#flushing)
			return;
		this.#flushing = true;
		try {
			while (this.#link.state === "up" && this.#inflight < SEND_WINDOW && this.#inflight < this.#outbox.size) {
				const message = this.#outbox.at(this.#inflight)!;
				const generation = this.#generation;
				const newest = this.#inflight === this.#outbox.size - 1;
				const replayed = isReplay(message);
				this.#inflight++;
				const sent = this.#publish(this.#topics.telemetry, message, newest, (error) => {
					if (generation !== this.#generation)
						return;
					if (error) {
						// Not acknowledged: everything in flight goes again, in order.
						this.#generation++;
						this.#inflight = 0;
						return;
					}
					this.#heard();
					// Dropped meanwhile by the outbox's bound: not at the head any more.
					if (this.#outbox.at(0) !== message)
						return;
					this.#inflight--;
					this.#outbox.shift();
					this.#stats.telemetrySent++;
					if (replayed)
						this.#stats.replayed++;
					// The server has a fresh reading to decide from: its answer is applied. What the
					// broker held for this connection (a retained command) came before this
					// acknowledgement, on the same connection.
					if (!replayed && this.#mode === "remote")
						this.#ownDecision = false;
					if (this.#onEvent)
						this.#emit({ type: "telemetry", light: lightOf(message), replayed });
					this.#flush();
				});
				if (!sent) {
					this.#inflight--;
					break;
				}
			}
		}
		finally {
			this.#flushing = false;
		}
	}

	/** Local mode after `graceMs` without the broker or with the server gone; back when both are there. */
	#checkControl(): void {
		const now = this.#clock.now();
		const healthy = this.#link.state === "up" && this.#server !== "offline";
		if (healthy) {
			this.#troubleSince = undefined;
			if (this.#mode === "local")
				this.#setMode("remote");
			return;
		}
		this.#troubleSince ??= now;
		if (this.#mode === "remote" && now - this.#troubleSince >= this.#graceMs)
			this.#setMode("local");
	}

	#setMode(mode: Mode): void {
		this.#mode = mode;
		const why = mode === "local"
			? (this.#link.state === "up" ? "the server is offline" : "the broker is unreachable")
			: "the server is back";
		this.#log("info", TAG, `mode ${mode}: ${why}`);
		this.#emit({ type: "mode", mode });
		if (mode === "local") {
			// Taking over is a decision: nothing the server said before it may undo it.
			this.#ownDecision = true;
			if (this.#light !== undefined)
				this.#decideLocally(this.#light);
		}
		else {
			// Handing back: the server gets a fresh reading at once, to decide from.
			this.#gate.reset();
		}
		this.#publishState();
	}

	#decideLocally(light: number): void {
		const on = decide(this.#rule, light, this.#ledOn);
		if (on === this.#ledOn)
			return;
		this.#ownDecision = true;
		this.#writeLed(on);
		this.#publishState();
	}

	#message(topic: string, payload: Payload): void {
		try {
			if (topic === this.#topics.commands)
				this.#command(payload);
			else if (topic === SERVER_STATUS_TOPIC)
				this.#serverStatus(payload);
		}
		catch (error) {
			this.#reject(`handler failed: ${messageOf(error)}`);
		}
	}

	#serverStatus(payload: Payload): void {
		const length = typeof payload === "string" ? payload.length : payload.byteLength;
		const parsed = length === 0 ? undefined : parseAvailability(payload);
		if (parsed && !parsed.ok) {
			this.#reject(`server status: ${parsed.error}`);
			return;
		}
		const server = parsed?.value;
		if (server === this.#server)
			return;
		this.#server = server;
		this.#log("info", TAG, `server is ${server ?? "unknown"}`);
		this.#checkControl();
	}

	#command(payload: Payload): void {
		// An empty retained payload clears the topic (a server that forgot this device): no command.
		if ((typeof payload === "string" ? payload.length : payload.byteLength) === 0)
			return;
		const parsed = parseCommand(payload);
		if (!parsed.ok) {
			this.#reject(parsed.error);
			return;
		}
		if (parsed.unknown.length)
			this.#noteUnknown(parsed.unknown);
		const command = parsed.value;
		if (command.ts === undefined && command.seq === undefined && this.#server === "offline") {
			this.#log("info", TAG, "a server that does not announce itself is sending commands; following it");
			this.#server = undefined;
			this.#checkControl();
		}
		const ignored = this.#whyIgnore(command);
		if (ignored) {
			this.#stats.commandsIgnored++;
			this.#log("debug", TAG, `command ignored: ${ignored}`);
			return;
		}
		this.#stats.commandsApplied++;
		this.#emit({ type: "command", led_on: command.led_on });
		if (command.led_on === this.#ledOn)
			return;
		this.#writeLed(command.led_on);
		this.#publishState();
	}

	/** Why a command is not applied, or undefined; a command newer than any seen is noted either way. */
	#whyIgnore(command: Command): string | undefined {
		const { ts, seq } = command;
		if (ts !== undefined || seq !== undefined) {
			const newestTs = this.#newestTs;
			const newestSeq = this.#newestSeq;
			if (ts !== undefined && newestTs !== undefined) {
				if (ts < newestTs)
					return `stale (decided at ${ts}, a newer command was decided at ${newestTs})`;
				if (ts === newestTs && (seq === undefined || newestSeq === undefined || seq <= newestSeq))
					return "a duplicate";
			}
			else if (seq !== undefined && newestSeq !== undefined && seq <= newestSeq)
				return `out of order (seq ${seq} after ${newestSeq})`;
			if (ts !== undefined)
				this.#newestTs = ts;
			if (seq !== undefined)
				this.#newestSeq = seq;
		}
		if (this.#mode === "local")
			return "the device is in local mode";
		if (this.#server === "offline")
			return "the server is offline, so this command predates its outage";
		if (this.#ownDecision)
			return "the device decided by itself and the server has not had its fresh reading yet";
		return undefined;
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
		if (this.#link.state !== "up")
			return;
		const state: State = { led_on: this.#ledOn, mode: this.#mode, rejected: this.#stats.rejected };
		if (this.#outbox.dropped > 0)
			state.dropped = this.#outbox.dropped;
		this.#publish(this.#topics.state, encodeState(state), true);
	}

	#subscribe(topic: string): void {
		subscribeLogged(this.#mqtt, this.#log, TAG, topic);
	}

	/** Publishes at QoS 1 without ever throwing; false when the client refused the message. */
	#publish(topic: string, message: string, retain: boolean, done?: (error?: Error) => void): boolean {
		try {
			this.#mqtt.publish(topic, message, { qos: 1, retain }, (error) => {
				if (error)
					this.#log("debug", TAG, `publish to ${topic} failed: ${error.message}`);
				done?.(error ?? undefined);
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
		if (listener)
			callSafely(this.#log, TAG, `event listener on ${event.type}`, () => listener(event));
	}
}

function lightOf(message: string): number {
	const match = /"light":(\d+)/.exec(message);
	return match ? Number(match[1]) : 0;
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
