/*
 * Convergence: the server's decision holds. Each device says what its LED does on `<id>/state`;
 * when that differs from what the server decided (its rule, its group, an override) while the
 * device is online and in remote mode, the server commands the decision again, with a new `seq`
 * and `ts` so the device takes it as newer than anything it applied. A foreign command (one
 * without `seq` and `ts`: a lesson-style server, `mosquitto_pub`, a web page) is obeyed by the
 * device at once and undone here about `CORRECT_AFTER_MS` later.
 *
 * Rate limit: a mismatch is corrected once it has lasted `CORRECT_AFTER_MS` (a state report sent
 * before the device heard the server's latest command is not drift). Each further correction of
 * the same device waits twice as long as the one before (1 s, 2 s, 4 s ... up to `BACKOFF_MAX_MS`),
 * so a device that cannot obey (a broken LED, another server fighting ours) is not flooded; the
 * backoff starts over when the device drifts again `CALM_MS` after its last correction.
 *
 * This module only keeps time and counts; the server says what drift is and how to correct it.
 */
import type { Clock, TimerHandle } from "../src/ports.js";

export const CORRECT_AFTER_MS = 500;
export const BACKOFF_FIRST_MS = 1_000;
export const BACKOFF_MAX_MS = 60_000;
export const CALM_MS = 30_000;

export interface ConvergenceOptions {
	clock: Clock;
	/** Whether the device's reported state differs from a decision this server enforces, now. */
	drifted(id: string): boolean;
	/** Commands the decision again. */
	correct(id: string): void;
}

/** One device's drift, for the API. */
export interface Drift {
	/** Corrected and not yet obeyed. */
	drifting: boolean;
	/** Corrections sent since the server started. */
	corrections: number;
}

interface Tracker {
	timer: TimerHandle | undefined;
	drifting: boolean;
	corrections: number;
	lastCorrectionAt: number;
	backoffMs: number;
}

export class Convergence {
	#clock: Clock;
	#drifted: (id: string) => boolean;
	#correct: (id: string) => void;
	#devices = new Map<string, Tracker>();
	/** Corrections of devices since forgotten. */
	#pastCorrections = 0;

	constructor(options: ConvergenceOptions) {
		this.#clock = options.clock;
		this.#drifted = options.drifted;
		this.#correct = options.correct;
	}

	/** The device's state, the decision or whether this server enforces it may have changed. */
	check(id: string): void {
		const drifted = this.#drifted(id);
		let tracker = this.#devices.get(id);
		if (!drifted) {
			if (tracker) {
				this.#cancel(tracker);
				tracker.drifting = false;
			}
			return;
		}
		tracker ??= this.#track(id);
		if (tracker.timer !== undefined)
			return;
		const now = this.#clock.now();
		if (now - tracker.lastCorrectionAt >= CALM_MS)
			tracker.backoffMs = BACKOFF_FIRST_MS;
		const at = Math.max(now + CORRECT_AFTER_MS, tracker.lastCorrectionAt + tracker.backoffMs);
		tracker.timer = this.#clock.setTimeout(() => this.#due(id, tracker), at - now);
	}

	drift(id: string): Drift {
		const tracker = this.#devices.get(id);
		return { drifting: tracker?.drifting ?? false, corrections: tracker?.corrections ?? 0 };
	}

	/** Corrections sent, over every device. */
	get corrections(): number {
		let total = this.#pastCorrections;
		for (const tracker of this.#devices.values())
			total += tracker.corrections;
		return total;
	}

	/** The server forgot the device: no more corrections, no count kept. */
	forget(id: string): void {
		const tracker = this.#devices.get(id);
		if (!tracker)
			return;
		this.#cancel(tracker);
		this.#pastCorrections += tracker.corrections;
		this.#devices.delete(id);
	}

	stop(): void {
		for (const tracker of this.#devices.values())
			this.#cancel(tracker);
	}

	#due(id: string, tracker: Tracker): void {
		tracker.timer = undefined;
		if (!this.#drifted(id)) {
			tracker.drifting = false;
			return;
		}
		tracker.drifting = true;
		tracker.corrections++;
		tracker.lastCorrectionAt = this.#clock.now();
		this.#correct(id);
		// A device that cannot obey may say nothing new: look again when the next correction is allowed.
		const waitMs = tracker.backoffMs;
		tracker.backoffMs = Math.min(tracker.backoffMs * 2, BACKOFF_MAX_MS);
		tracker.timer = this.#clock.setTimeout(() => this.#due(id, tracker), waitMs);
	}

	#track(id: string): Tracker {
		const tracker: Tracker = { timer: undefined, drifting: false, corrections: 0, lastCorrectionAt: -Infinity, backoffMs: BACKOFF_FIRST_MS };
		this.#devices.set(id, tracker);
		return tracker;
	}

	#cancel(tracker: Tracker): void {
		if (tracker.timer !== undefined)
			this.#clock.clearTimeout(tracker.timer);
		tracker.timer = undefined;
	}
}
