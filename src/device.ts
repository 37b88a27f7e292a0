/*
 * The nightlight device: the portable firmware core. It samples the light sensor, reports
 * readings worth sending on `<id>/telemetry` (retained: the last known value), obeys
 * `<id>/commands`, and keeps `<id>/state` (retained) and `<id>/status` (retained, with an
 * `offline` will) up to date.
 *
 * When the network fails (see link.ts for the reconnection policy):
 * - readings taken while the broker is unreachable go to a bounded outbox and are replayed in
 *   order, each with the time it was taken, once the broker is back; live readings wait behind
 *   them so order holds; a recent replayed reading stands for the present (one reading per
 *   connect), an old one is followed by a fresh reading the minimum gap later;
 * - after `graceMs` without the broker, or with the server's availability at `offline`, the
 *   device runs the rule itself (mode "local" in its state); when the server is back, control
 *   returns to it.
 *
 * Commands and ghost switching: a command may carry `ts` (when the server decided) and `seq`.
 * The device orders commands by (ts, seq) and drops any that is not newer than the last decision
 * it applied, its own local decisions included: a command retained before an outage can never
 * undo what the device decided during it. Commands are ignored while the server's availability
 * is `offline` (a retained command then predates the outage) and in local mode. A command
 * without `ts` or `seq` comes from a lesson-style server that does not announce itself: it is
 * applied as it comes and, being proof that a server is there, ends local mode.
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
	encodeState,
	encodeTelemetry,
	isDeviceId,
	isTimestamp,
	parseAvailability,
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
/** Replayed readings in flight at once, awaiting their acknowledgement. */
const REPLAY_WINDOW = 8;
/**
 * A replayed reading taken this recently stands for the present at a reconnect; after an older
 * one a fresh reading follows (the server decides nothing from a reading taken over 5 s ago).
 */
const REPLAY_FRESH_MS = 1_000;

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

export interface DeviceStats {
	samples: number;
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
	/** The newest decision applied, remote or local: commands not newer than it are dropped. */
	#decidedTs: number | undefined;
	#decidedSeq: number | undefined;
	/** The sample time of the last reading sent or queued: stamps strictly increase. */
	#stampedTs = 0;
	/** When the newest reading in the outbox was queued, on the device's clock. */
	#queuedAt = 0;
	#generation = 0;
	#inflight = 0;
	#flushing = false;
	#stats = { samples: 0, telemetrySent: 0, replayed: 0, commandsApplied: 0, commandsIgnored: 0, rejected: 0, unknownFields: 0 };
	#rejectWindowStart = -Infinity;
	#rejectLogged = 0;
	#unknownLogged: string[] = [];

	#onMessage = (topic: string, payload: Payload) => this.#message(topic, payload);
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

	start(): void {
		if (this.#running)
			return;
		this.#running = true;
		this.#troubleSince = this.#clock.now();
		this.#writeLed(false);
		this.#mqtt.on("message", this.#onMessage);
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
		this.#mqtt.off("error", this.#onError);
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
		// One reading per connect: a recent replayed reading is the message just sent, and the
		// next one waits for the gate (a change, the heartbeat, the minimum gap). With nothing
		// replayed the connection gets a fresh reading at once; after an old replay, a fresh one
		// follows once the minimum gap has passed (-Infinity: no usable reading went out).
		const size = this.#outbox.size;
		if (size === 0)
			this.#gate.reset();
		else
			this.#gate.accept(this.#clock.now() - this.#queuedAt <= REPLAY_FRESH_MS ? lightOf(this.#outbox.at(size - 1)!) : -Infinity);
		this.#flush();
		this.#sample();
	}

	#disconnected(): void {
		this.#generation++;
		this.#inflight = 0;
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
		if (this.#gate.next(light) === undefined)
			return;
		const message = encodeTelemetry(this.#stamp(light));
		if (this.#link.state === "up" && this.#outbox.size === 0) {
			// Retained: a subscriber that arrives later (a dashboard, a restarted server) gets the last reading at once.
			if (this.#publish(this.#topics.telemetry, message, true)) {
				this.#gate.accept(light);
				this.#stats.telemetrySent++;
				this.#emit({ type: "telemetry", light, replayed: false });
			}
			return;
		}
		this.#outbox.push(message);
		this.#queuedAt = this.#clock.now();
		this.#gate.accept(light);
		this.#flush();
	}

	/**
	 * The reading with its sample time, when the clock is set. Two readings in the same
	 * millisecond get distinct times, so a receiver can tell a repeat from a new reading.
	 */
	#stamp(light: number): { light: number; ts?: number } {
		const now = this.#clock.now();
		if (!isTimestamp(now))
			return { light };
		const ts = Math.max(now, this.#stampedTs + 1);
		this.#stampedTs = ts;
		return { light, ts };
	}

	/** Sends queued readings in order, a few in flight at a time, each removed once acknowledged. */
	#flush(): void {
		if (this.#flushing)
			return;
		this.#flushing = true;
		try {
			while (this.#link.state === "up" && this.#inflight < REPLAY_WINDOW && this.#inflight < this.#outbox.size) {
				const message = this.#outbox.at(this.#inflight)!;
				const generation = this.#generation;
				// The newest reading is retained, as a live one is: it is the last known value.
				const newest = this.#inflight === this.#outbox.size - 1;
				this.#inflight++;
				const sent = this.#publish(this.#topics.telemetry, message, newest, (error) => {
					if (generation !== this.#generation)
						return;
					this.#inflight--;
					if (error)
						return;
					this.#outbox.shift();
					this.#stats.telemetrySent++;
					this.#stats.replayed++;
					this.#emit({ type: "telemetry", light: lightOf(message), replayed: true });
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
			this.#noteDecision(this.#clock.now(), undefined);
			if (this.#light !== undefined)
				this.#decideLocally(this.#light);
		}
		this.#publishState();
	}

	#decideLocally(light: number): void {
		const on = decide(this.#rule, light, this.#ledOn);
		if (on === this.#ledOn)
			return;
		this.#noteDecision(this.#clock.now(), undefined);
		this.#writeLed(on);
		this.#publishState();
	}

	#noteDecision(ts: number | undefined, seq: number | undefined): void {
		if (ts !== undefined && isTimestamp(ts)) {
			if (this.#decidedTs === undefined || ts > this.#decidedTs)
				this.#decidedSeq = undefined;
			this.#decidedTs = ts;
		}
		if (seq !== undefined)
			this.#decidedSeq = seq;
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
		this.#noteDecision(command.ts, command.seq);
		this.#stats.commandsApplied++;
		this.#emit({ type: "command", led_on: command.led_on });
		if (command.led_on === this.#ledOn)
			return;
		this.#writeLed(command.led_on);
		this.#publishState();
	}

	#whyIgnore(command: Command): string | undefined {
		if (this.#mode === "local")
			return "the device is in local mode";
		if (this.#server === "offline")
			return "the server is offline, so this command predates its outage";
		const { ts, seq } = command;
		const decidedTs = this.#decidedTs;
		if (ts !== undefined && decidedTs !== undefined) {
			if (ts < decidedTs)
				return `stale (decided at ${ts}, a newer decision was made at ${decidedTs})`;
			if (ts === decidedTs && (seq === undefined || this.#decidedSeq === undefined || seq <= this.#decidedSeq))
				return "a duplicate";
		}
		else if (ts === undefined && seq !== undefined && this.#decidedSeq !== undefined && seq <= this.#decidedSeq)
			return `out of order (seq ${seq} after ${this.#decidedSeq})`;
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
