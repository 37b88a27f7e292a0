/*
 * Forgetting: a device not heard for `afterMs` (default 30 days) is dropped from the server's
 * memory, so a fleet whose ids come and go does not grow the server without end. The sweep runs
 * every `sweepMs` (a minute, or a quarter of `afterMs` when that is shorter) and looks at no more
 * than SWEEP_MAX_RECORDS records each time, resuming where it stopped: its work is bounded however
 * large the fleet, and every record is looked at within a few sweeps.
 *
 * It sweeps only while `active()` says so (the server runs and has its broker): a server cut off
 * from the broker hears nobody, which says nothing about the devices. A device never heard
 * itself (a group's LED the server commanded before it spoke) has no `lastSeen` and is kept.
 * This module only keeps time; the server says what forgetting a device means.
 */
import type { Clock, Log, TimerHandle } from "../src/ports.js";

export const DEFAULT_FORGET_AFTER_MS = 30 * 24 * 3_600_000;
export const SWEEP_MAX_MS = 60_000;
export const SWEEP_MIN_MS = 250;
export const SWEEP_MAX_RECORDS = 10_000;
const TAG = "server";

export interface ForgettingOptions {
	clock: Clock;
	log: Log;
	afterMs: number;
	/** The server's records, by id; a sweep reads `lastSeen` and may delete through `forget`. */
	records: ReadonlyMap<string, { lastSeen: number | undefined }>;
	/** Whether sweeping makes sense now. */
	active(): boolean;
	/** Forgets one device: the caller removes it from `records`. */
	forget(id: string): void;
}

export class Forgetting {
	readonly afterMs: number;
	#options: ForgettingOptions;
	#timer: TimerHandle | undefined;
	#cursor: Iterator<[string, { lastSeen: number | undefined }]> | undefined;
	#forgotten = 0;

	constructor(options: ForgettingOptions) {
		if (!Number.isSafeInteger(options.afterMs) || options.afterMs < 1_000)
			throw new RangeError(`forget-after must be at least 1 s (1000 ms), got ${options.afterMs}`);
		this.afterMs = options.afterMs;
		this.#options = options;
	}

	/** Devices forgotten since the server started. */
	get forgotten(): number {
		return this.#forgotten;
	}

	get sweepMs(): number {
		return Math.max(SWEEP_MIN_MS, Math.min(SWEEP_MAX_MS, Math.floor(this.afterMs / 4)));
	}

	start(): void {
		if (this.#timer === undefined)
			this.#timer = this.#options.clock.setInterval(() => this.sweep(), this.sweepMs);
	}

	stop(): void {
		if (this.#timer !== undefined)
			this.#options.clock.clearInterval(this.#timer);
		this.#timer = undefined;
	}

	/** Looks at the next records (at most SWEEP_MAX_RECORDS) and forgets those not heard for afterMs. */
	sweep(): void {
		const { clock, records, log } = this.#options;
		if (!this.#options.active())
			return;
		const oldest = clock.now() - this.afterMs;
		const due: string[] = [];
		for (let looked = 0; looked < Math.min(SWEEP_MAX_RECORDS, records.size);) {
			// A Map's iterator follows deletions and additions: the sweep resumes where it stopped.
			this.#cursor ??= records.entries();
			const next = this.#cursor.next();
			if (next.done) {
				this.#cursor = undefined;
				continue;
			}
			looked++;
			const [id, record] = next.value;
			if (record.lastSeen !== undefined && record.lastSeen <= oldest)
				due.push(id);
		}
		for (const id of due)
			this.#options.forget(id);
		// An iterator left on an emptied map would keep its old storage alive.
		if (records.size === 0)
			this.#cursor = undefined;
		this.#forgotten += due.length;
		if (due.length > 0)
			log("info", TAG, `forgot ${due.length} device${due.length === 1 ? "" : "s"} not heard for ${formatDuration(this.afterMs)}${due.length <= 3 ? `: ${due.join(", ")}` : ""}`);
	}
}

const UNITS: Array<[string, number]> = [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1_000], ["ms", 1]];

/** A duration from "30d", "12h", "15m", "90s", "500ms" or a bare number of milliseconds; undefined when it is none. */
export function parseDuration(text: string): number | undefined {
	const match = /^\s*(\d+(?:\.\d+)?)\s*(d|h|m|s|ms)?\s*$/.exec(text);
	if (!match)
		return undefined;
	const unit = UNITS.find(([name]) => name === (match[2] ?? "ms"))![1];
	const ms = Math.round(Number(match[1]) * unit);
	return Number.isSafeInteger(ms) ? ms : undefined;
}

/** The largest whole unit that says a duration exactly: 2592000000 → "30d". */
export function formatDuration(ms: number): string {
	const [name, size] = UNITS.find(([, size]) => ms % size === 0 && ms >= size) ?? ["ms", 1];
	return `${ms / size}${name}`;
}
