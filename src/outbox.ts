/*
 * The offline outbox: telemetry taken while the broker cannot be reached, kept in order with the
 * time each reading was taken, bounded in count and in bytes. When a bound is reached the oldest
 * reading is dropped and counted. Entries are stored as the exact text that will be sent, so the
 * byte bound is the payload bytes held.
 */

export interface OutboxLimits {
	maxCount: number;
	maxBytes: number;
}

/** Sized for an ESP32: at most 256 readings and 8 KB of payload, about 4 minutes of steady change. */
export const DEFAULT_OUTBOX_LIMITS: OutboxLimits = { maxCount: 256, maxBytes: 8 * 1024 };

export class Outbox {
	#limits: OutboxLimits;
	#entries: string[] = [];
	#head = 0;
	#bytes = 0;
	#dropped = 0;
	#peakBytes = 0;

	constructor(limits: Partial<OutboxLimits> = {}) {
		const merged = { ...DEFAULT_OUTBOX_LIMITS, ...limits };
		if (!(Number.isInteger(merged.maxCount) && merged.maxCount > 0))
			throw new RangeError(`outbox maxCount must be a positive integer, got ${merged.maxCount}`);
		if (!(Number.isInteger(merged.maxBytes) && merged.maxBytes > 0))
			throw new RangeError(`outbox maxBytes must be a positive integer, got ${merged.maxBytes}`);
		this.#limits = merged;
	}

	get size(): number {
		return this.#entries.length - this.#head;
	}

	get bytes(): number {
		return this.#bytes;
	}

	/** Readings dropped because a bound was reached. */
	get dropped(): number {
		return this.#dropped;
	}

	get peakBytes(): number {
		return this.#peakBytes;
	}

	get limits(): OutboxLimits {
		return { ...this.#limits };
	}

	/** Adds an entry; returns how many of the oldest were dropped to keep the bounds. */
	push(entry: string): number {
		if (entry.length > this.#limits.maxBytes) {
			this.#dropped++;
			return 0;
		}
		let dropped = 0;
		this.#entries.push(entry);
		this.#bytes += entry.length;
		while (this.size > this.#limits.maxCount || this.#bytes > this.#limits.maxBytes) {
			this.shift();
			this.#dropped++;
			dropped++;
		}
		if (this.#bytes > this.#peakBytes)
			this.#peakBytes = this.#bytes;
		return dropped;
	}

	/** Replaces every entry by `change(entry)`, in place: for marking what is kept as sent late. */
	rewrite(change: (entry: string) => string): void {
		for (let i = this.#head; i < this.#entries.length; i++) {
			const entry = this.#entries[i]!;
			const changed = change(entry);
			this.#entries[i] = changed;
			this.#bytes += changed.length - entry.length;
		}
		if (this.#bytes > this.#peakBytes)
			this.#peakBytes = this.#bytes;
	}

	/** Replaces the newest entry by `change(entry)`. */
	rewriteNewest(change: (entry: string) => string): void {
		const last = this.#entries.length - 1;
		if (last < this.#head)
			return;
		const entry = this.#entries[last]!;
		const changed = change(entry);
		this.#entries[last] = changed;
		this.#bytes += changed.length - entry.length;
	}

	/** The entry `index` places from the oldest. */
	at(index: number): string | undefined {
		return this.#entries[this.#head + index];
	}

	shift(): string | undefined {
		if (this.size === 0)
			return undefined;
		const entry = this.#entries[this.#head]!;
		this.#head++;
		this.#bytes -= entry.length;
		// Compact now and then rather than shifting the array on every entry.
		if (this.#head >= 64 && this.#head * 2 >= this.#entries.length) {
			this.#entries = this.#entries.slice(this.#head);
			this.#head = 0;
		}
		return entry;
	}
}
