/*
 * The Moddable clock: `timer` for timers and `Time.ticks` for time. Ticks are milliseconds since
 * boot that may wrap (32 bits on microcontrollers, every ~49.7 days), so `now()` accumulates
 * unsigned differences: it stays monotonic as long as it is read at least once per wrap, which
 * the core's sampler does many times a second. The wall clock (Date.now) jumps when SNTP sets
 * it, so it only stamps readings (`wall`), once it reads as a real date.
 */
import Time from "time";
import Timer from "timer";
import type { Clock, TimerHandle } from "nightlight/ports";

export class ModdableClock implements Clock {
	#lastTicks = Time.ticks;
	#now = 0;

	now(): number {
		const ticks = Time.ticks;
		this.#now += (ticks - this.#lastTicks) >>> 0;
		this.#lastTicks = ticks;
		return this.#now;
	}

	wall(): number {
		return Date.now();
	}

	setTimeout(callback: () => void, ms: number): TimerHandle {
		return Timer.set(() => callback(), ms);
	}

	clearTimeout(handle: TimerHandle): void {
		if (handle)
			Timer.clear(handle as Timer);
	}

	setInterval(callback: () => void, ms: number): TimerHandle {
		return Timer.repeat(() => callback(), ms);
	}

	clearInterval(handle: TimerHandle): void {
		if (handle)
			Timer.clear(handle as Timer);
	}
}
