/*
 * The connection to the broker, as an explicit state machine over the MQTT port. The client is
 * created with its own reconnection off (MQTT.js and Moddable's mqtt/js: `reconnectPeriod: 0`);
 * the link decides when to try again. The policy:
 *
 * - Backoff: the first retry comes after `initialDelayMs` (0.5 s), each failure doubles the delay up
 *   to `maxDelayMs` (60 s), and every delay is jittered to 50..100 % of itself so that a fleet
 *   that lost its broker together does not come back in lockstep.
 * - The backoff starts over once a connection has stayed up for `stableMs` (30 s); a connection
 *   that drops sooner counts as a failure.
 * - An attempt that has neither connected nor failed within `connectTimeoutMs` (10 s) is abandoned
 *   and counts as a failure.
 * - Whatever the broker answers (a wrong password is refused at once), never more than
 *   `maxAttemptsPerMinute` (10) attempts in any 60 s: never a hot loop.
 * - Nothing is queued in the client while down: the device keeps its telemetry in its own
 *   bounded outbox, and subscriptions are renewed by the owner's `onUp`.
 *
 * States: connecting → up → waiting → connecting …; stop() ends it from any state.
 */
import { callSafely, messageOf } from "./errors.js";
import type { Clock, Log, MqttClient, TimerHandle } from "./ports.js";

export interface LinkPolicy {
	initialDelayMs: number;
	maxDelayMs: number;
	stableMs: number;
	connectTimeoutMs: number;
	maxAttemptsPerMinute: number;
}

export const DEFAULT_LINK_POLICY: LinkPolicy = {
	initialDelayMs: 500,
	maxDelayMs: 60_000,
	stableMs: 30_000,
	connectTimeoutMs: 10_000,
	maxAttemptsPerMinute: 10,
};

export type LinkState = "connecting" | "up" | "waiting" | "stopped";

export interface LinkOptions {
	mqtt: MqttClient;
	clock: Clock;
	log: Log;
	/** Log tag of the owner: "device" or "server". */
	tag: string;
	policy?: Partial<LinkPolicy>;
	/** 0 ≤ x < 1; seed it per device, since Moddable's Math.random repeats after every boot. */
	random?: () => number;
	onUp(): void;
	onDown(): void;
	/** Tells the owner how long until the next attempt, for a display. */
	onWaiting?(delayMs: number): void;
}

const MINUTE_MS = 60_000;

export class Link {
	#mqtt: MqttClient;
	#clock: Clock;
	#log: Log;
	#tag: string;
	#policy: LinkPolicy;
	#random: () => number;
	#onUp: () => void;
	#onDown: () => void;
	#onWaiting: ((delayMs: number) => void) | undefined;

	#state: LinkState = "stopped";
	#failures = 0;
	#attempts: number[] = [];
	#timer: TimerHandle | undefined;
	#stableTimer: TimerHandle | undefined;
	#upSince: number | undefined;
	#downSince: number | undefined;
	#connects = 0;

	#handleConnect = () => this.#connected();
	#handleClose = () => this.#closed();

	constructor(options: LinkOptions) {
		const policy = { ...DEFAULT_LINK_POLICY, ...options.policy };
		for (const key of Object.keys(policy) as Array<keyof LinkPolicy>) {
			if (!(policy[key] > 0))
				throw new RangeError(`link ${key} must be positive, got ${policy[key]}`);
		}
		if (policy.maxDelayMs < policy.initialDelayMs)
			throw new RangeError(`link maxDelayMs (${policy.maxDelayMs}) must not be below initialDelayMs (${policy.initialDelayMs})`);
		this.#mqtt = options.mqtt;
		this.#clock = options.clock;
		this.#log = options.log;
		this.#tag = options.tag;
		this.#policy = policy;
		this.#random = options.random ?? Math.random;
		this.#onUp = options.onUp;
		this.#onDown = options.onDown;
		this.#onWaiting = options.onWaiting;
	}

	get state(): LinkState {
		return this.#state;
	}

	get policy(): LinkPolicy {
		return { ...this.#policy };
	}

	/** When the link went down, if it is down. */
	get downSince(): number | undefined {
		return this.#downSince;
	}

	/** Connections made since start. */
	get connects(): number {
		return this.#connects;
	}

	/** Attempts started in the last minute. */
	get recentAttempts(): number {
		this.#forgetOldAttempts();
		return this.#attempts.length;
	}

	start(): void {
		if (this.#state !== "stopped")
			return;
		this.#mqtt.on("connect", this.#handleConnect);
		this.#mqtt.on("close", this.#handleClose);
		this.#downSince = this.#clock.now();
		if (this.#mqtt.connected) {
			this.#state = "connecting";
			this.#connected();
			return;
		}
		// The client was created connecting: that is the first attempt.
		this.#state = "connecting";
		this.#attempts.push(this.#clock.now());
		this.#armConnectTimeout();
	}

	stop(): void {
		if (this.#state === "stopped")
			return;
		this.#state = "stopped";
		this.#clearTimers();
		this.#mqtt.off("connect", this.#handleConnect);
		this.#mqtt.off("close", this.#handleClose);
	}

	#connected(): void {
		if (this.#state === "stopped" || this.#state === "up")
			return;
		this.#clearTimers();
		this.#state = "up";
		this.#connects++;
		this.#upSince = this.#clock.now();
		this.#downSince = undefined;
		this.#stableTimer = this.#clock.setTimeout(() => {
			this.#stableTimer = undefined;
			this.#failures = 0;
		}, this.#policy.stableMs);
		this.#call(this.#onUp, "onUp");
	}

	#closed(): void {
		const state = this.#state;
		if (state === "stopped" || state === "waiting")
			return;
		this.#clearTimers();
		if (state === "up") {
			const upFor = this.#clock.now() - (this.#upSince ?? 0);
			if (upFor < this.#policy.stableMs)
				this.#failures++;
			this.#downSince = this.#clock.now();
			this.#state = "waiting";
			this.#call(this.#onDown, "onDown");
		}
		else {
			this.#failures++;
		}
		this.#schedule();
	}

	#schedule(): void {
		if (this.#state === "stopped")
			return;
		const { initialDelayMs, maxDelayMs, maxAttemptsPerMinute } = this.#policy;
		const exponent = Math.min(Math.max(this.#failures - 1, 0), 30);
		const ceiling = Math.min(maxDelayMs, initialDelayMs * 2 ** exponent);
		let delay = Math.round(ceiling * (0.5 + 0.5 * this.#random()));
		this.#forgetOldAttempts();
		if (this.#attempts.length >= maxAttemptsPerMinute) {
			const oldest = this.#attempts[this.#attempts.length - maxAttemptsPerMinute]!;
			delay = Math.max(delay, oldest + MINUTE_MS - this.#clock.now());
		}
		this.#state = "waiting";
		this.#timer = this.#clock.setTimeout(() => {
			this.#timer = undefined;
			this.#attempt();
		}, delay);
		if (this.#onWaiting)
			this.#call(() => this.#onWaiting!(delay), "onWaiting");
	}

	#attempt(): void {
		if (this.#state !== "waiting")
			return;
		this.#state = "connecting";
		this.#attempts.push(this.#clock.now());
		this.#armConnectTimeout();
		try {
			this.#mqtt.reconnect();
		}
		catch (error) {
			this.#log("warn", this.#tag, `reconnect failed: ${messageOf(error)}`);
			this.#clearTimers();
			this.#failures++;
			this.#schedule();
		}
	}

	#armConnectTimeout(): void {
		this.#timer = this.#clock.setTimeout(() => {
			this.#timer = undefined;
			if (this.#state !== "connecting")
				return;
			this.#log("warn", this.#tag, `no answer from the broker within ${this.#policy.connectTimeoutMs} ms; trying again later`);
			this.#failures++;
			this.#schedule();
		}, this.#policy.connectTimeoutMs);
	}

	#forgetOldAttempts(): void {
		const since = this.#clock.now() - MINUTE_MS;
		while (this.#attempts.length && this.#attempts[0]! <= since)
			this.#attempts.shift();
	}

	#clearTimers(): void {
		if (this.#timer !== undefined)
			this.#clock.clearTimeout(this.#timer);
		if (this.#stableTimer !== undefined)
			this.#clock.clearTimeout(this.#stableTimer);
		this.#timer = this.#stableTimer = undefined;
	}

	#call(callback: () => void, what: string): void {
		callSafely(this.#log, this.#tag, `link ${what}`, callback);
	}
}

/** A small seeded generator (mulberry32), so that jitter differs from device to device. */
export function seededRandom(seed: number): () => number {
	let state = seed >>> 0;
	return () => {
		state = (state + 0x6d2b79f5) >>> 0;
		let t = state;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

/** A 32-bit hash of a string (FNV-1a), to seed the jitter from a device id. */
export function hashString(text: string): number {
	let hash = 0x811c9dc5;
	for (let i = 0; i < text.length; i++) {
		hash ^= text.charCodeAt(i);
		hash = Math.imul(hash, 0x01000193);
	}
	return hash >>> 0;
}

/** Subscribes at QoS 1 without ever throwing; a refusal, now or from the broker, is logged under `tag`. */
export function subscribeLogged(mqtt: MqttClient, log: Log, tag: string, topic: string): void {
	const refused = (reason: string) => log("error", tag, `cannot subscribe to ${topic}: ${reason}`);
	try {
		mqtt.subscribe(topic, { qos: 1 }, (error) => {
			if (error)
				refused(error.message);
		});
	}
	catch (error) {
		refused(messageOf(error));
	}
}
