/* A fake clock for the portable core: time moves only when a test says so. No platform imports. */
import type { Clock, TimerHandle } from "../../src/ports.js";

interface Timer {
	id: number;
	at: number;
	every: number | undefined;
	callback: () => void;
}

export class FakeClock implements Clock {
	#now: number;
	#timers: Timer[] = [];
	#nextId = 1;

	constructor(start = 1_700_000_000_000) {
		this.#now = start;
	}

	now(): number {
		return this.#now;
	}

	/** How far the time of day is off: a device whose clock is wrong, or unset (-now()). */
	wallOffset = 0;

	wall(): number {
		return this.#now + this.wallOffset;
	}

	setTimeout(callback: () => void, ms: number): TimerHandle {
		return this.#add(callback, ms, undefined);
	}

	setInterval(callback: () => void, ms: number): TimerHandle {
		return this.#add(callback, ms, ms);
	}

	clearTimeout(handle: TimerHandle): void {
		this.#timers = this.#timers.filter((timer) => timer.id !== handle);
	}

	clearInterval(handle: TimerHandle): void {
		this.clearTimeout(handle);
	}

	/** Timers still pending. */
	get pending(): number {
		return this.#timers.length;
	}

	/** Moves time forward by `ms`, firing every timer due on the way, in order. */
	advance(ms: number): void {
		const end = this.#now + ms;
		for (;;) {
			let next: Timer | undefined;
			for (const timer of this.#timers) {
				if (timer.at <= end && (!next || timer.at < next.at || (timer.at === next.at && timer.id < next.id)))
					next = timer;
			}
			if (!next)
				break;
			this.#now = next.at;
			if (next.every === undefined)
				this.#timers = this.#timers.filter((timer) => timer !== next);
			else
				next.at += next.every;
			next.callback();
		}
		this.#now = end;
	}

	#add(callback: () => void, ms: number, every: number | undefined): number {
		const id = this.#nextId++;
		this.#timers.push({ id, at: this.#now + Math.max(0, ms), every: every === undefined ? undefined : Math.max(1, every), callback });
		return id;
	}
}
