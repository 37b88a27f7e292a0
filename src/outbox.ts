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

	push(entry: string): void {
		if (entry.length > this.#limits.maxBytes) {
			this.#dropped++;
			return;
		}
		this.#entries.push(entry);
		this.#bytes += entry.length;
		while (this.size > this.#limits.maxCount || this.#bytes > this.#limits.maxBytes) {
			this.shift();
			this.#dropped++;
		}
		if (this.#bytes > this.#peakBytes)
			this.#peakBytes = this.#bytes;
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
