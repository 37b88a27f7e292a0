/*
 * Light processing as a chain of tiny filters. Each `next(value)` returns the value to pass on,
 * or undefined to stop it here. When the chain's output is actually sent, the chain calls
 * `accept(value)` on every filter, so deadband, heartbeat and throttle measure from the last
 * message sent rather than from the last value that happened to get past them.
 */
import type { Clock } from "./ports.js";

export interface Filter {
	next(value: number): number | undefined;
	/** The chain's output was sent. */
	accept?(value: number): void;
	/** Forget all history, as at boot. */
	reset?(): void;
}

/** Fraction 0..1 of full scale to the lesson's 0..1023, clamped. */
export class Scale implements Filter {
	#max: number;
	constructor(max: number) {
		this.#max = max;
	}
	next(value: number): number | undefined {
		if (!Number.isFinite(value))
			return undefined;
		return Math.min(Math.max(value, 0), 1) * this.#max;
	}
}

/**
 * Exponential moving average that still follows a real step at once: a jump larger than
 * `jump` resets the average to the new value, so smoothing never delays a light switch.
 */
export class Smooth implements Filter {
	#alpha: number;
	#jump: number;
	#average: number | undefined;
	constructor(options: { alpha: number; jump: number }) {
		if (!(options.alpha > 0 && options.alpha <= 1))
			throw new RangeError(`smoothing alpha must be in (0, 1], got ${options.alpha}`);
		this.#alpha = options.alpha;
		this.#jump = options.jump;
	}
	next(value: number): number {
		const average = this.#average;
		if (average === undefined || Math.abs(value - average) >= this.#jump)
			this.#average = value;
		else
			this.#average = average + this.#alpha * (value - average);
		return this.#average;
	}
	reset(): void {
		this.#average = undefined;
	}
}

export class Round implements Filter {
	next(value: number): number {
		return Math.round(value);
	}
}

/** Passes a value that differs from the last one sent by at least `delta`, and the first one. */
export class Deadband implements Filter {
	#delta: number;
	#sent: number | undefined;
	constructor(delta: number) {
		this.#delta = delta;
	}
	next(value: number): number | undefined {
		const sent = this.#sent;
		return sent === undefined || Math.abs(value - sent) >= this.#delta ? value : undefined;
	}
	accept(value: number): void {
		this.#sent = value;
	}
	reset(): void {
		this.#sent = undefined;
	}
}

/** Passes any value once `periodMs` has gone by since the last one sent (and the first one). */
export class Heartbeat implements Filter {
	#clock: Clock;
	#periodMs: number;
	#sentAt: number | undefined;
	constructor(clock: Clock, periodMs: number) {
		this.#clock = clock;
		this.#periodMs = periodMs;
	}
	next(value: number): number | undefined {
		const sentAt = this.#sentAt;
		return sentAt === undefined || this.#clock.now() - sentAt >= this.#periodMs ? value : undefined;
	}
	accept(): void {
		this.#sentAt = this.#clock.now();
	}
	reset(): void {
		this.#sentAt = undefined;
	}
}

/** Holds values back until `minGapMs` has gone by since the last one sent. */
export class Throttle implements Filter {
	#clock: Clock;
	#minGapMs: number;
	#sentAt: number | undefined;
	constructor(clock: Clock, minGapMs: number) {
		this.#clock = clock;
		this.#minGapMs = minGapMs;
	}
	next(value: number): number | undefined {
		const sentAt = this.#sentAt;
		return sentAt === undefined || this.#clock.now() - sentAt >= this.#minGapMs ? value : undefined;
	}
	accept(): void {
		this.#sentAt = this.#clock.now();
	}
	reset(): void {
		this.#sentAt = undefined;
	}
}

/** Passes a value when any of its filters does (deadband or heartbeat). */
export class AnyOf implements Filter {
	#filters: Filter[];
	constructor(filters: Filter[]) {
		this.#filters = filters;
	}
	next(value: number): number | undefined {
		let passed = false;
		for (const filter of this.#filters) {
			if (filter.next(value) !== undefined)
				passed = true;
		}
		return passed ? value : undefined;
	}
	accept(value: number): void {
		for (const filter of this.#filters)
			filter.accept?.(value);
	}
	reset(): void {
		for (const filter of this.#filters)
			filter.reset?.();
	}
}

/** Runs filters in order; `accept` and `reset` reach every one of them. */
export class Chain implements Filter {
	#filters: Filter[];
	constructor(filters: Filter[]) {
		this.#filters = filters;
	}
	next(value: number): number | undefined {
		let current: number | undefined = value;
		for (const filter of this.#filters) {
			current = filter.next(current);
			if (current === undefined)
				return undefined;
		}
		return current;
	}
	accept(value: number): void {
		for (const filter of this.#filters)
			filter.accept?.(value);
	}
	reset(): void {
		for (const filter of this.#filters)
			filter.reset?.();
	}
}

/** How the device decides when to report. */
export interface ReportOptions {
	/**
	 * "change": report when the reading moves by `deadband`, at least every `heartbeatMs`,
	 * never more often than every `minGapMs`. "period": report every `periodMs`, like the lesson.
	 */
	mode: "change" | "period";
	deadband: number;
	heartbeatMs: number;
	minGapMs: number;
	periodMs: number;
	/** Smoothing factor per sample, 1 for none. */
	smoothing: number;
	/** A change at least this large skips smoothing. */
	jump: number;
}

/** The smoothing both the device and the standalone nightlight use: 30 % per sample, a jump of 64 skips it. */
export const SMOOTHING = { alpha: 0.3, jump: 64 } as const;

/** From a raw fraction of full scale to the reading on the 0..`max` scale, smoothed. */
export function measureChain(options: ReportOptions, max: number): Chain {
	if (options.mode === "period")
		return new Chain([new Scale(max), new Round()]);
	return new Chain([new Scale(max), new Smooth({ alpha: options.smoothing, jump: options.jump }), new Round()]);
}

/** Decides which readings are worth a message. */
export function reportGate(clock: Clock, options: ReportOptions): Chain {
	if (options.mode === "period")
		return new Chain([new Heartbeat(clock, options.periodMs)]);
	return new Chain([
		new AnyOf([new Deadband(options.deadband), new Heartbeat(clock, options.heartbeatMs)]),
		new Throttle(clock, options.minGapMs),
	]);
}
