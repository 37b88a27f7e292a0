/*
 * "Needs setup", shown on the LED: a board built without its Wi-Fi network blinks twice, briefly,
 * every 3 s, whatever its local rule has the LED do in between, until it is given its settings on
 * the console (or over the serial line by `nightlight setup`) and restarted. The rule's state is
 * what the LED returns to after each blink.
 */
import Timer from "timer";
import type { Led } from "nightlight/ports";

const TICK_MS = 100;
/** Ticks of one cycle: off-on-off-on in the first four, then the rule's state for the rest of 3 s. */
const CYCLE = 30;

export class SetupSignal implements Led {
	#inner: Led;
	#on = false;
	#tick = 0;
	#timer: Timer | undefined;

	constructor(inner: Led) {
		this.#inner = inner;
		this.#timer = Timer.repeat(() => this.#step(), TICK_MS);
	}

	write(on: boolean): void {
		this.#on = on;
		if (this.#tick >= 4)
			this.#inner.write(on);
	}

	close(): void {
		Timer.clear(this.#timer);
		this.#timer = undefined;
		this.#inner.write(this.#on);
		this.#inner.close?.();
	}

	#step(): void {
		const tick = this.#tick;
		this.#tick = (tick + 1) % CYCLE;
		if (tick < 4) {
			try {
				this.#inner.write(tick % 2 === 0 ? !this.#on : this.#on);
			}
			catch {
				// The rule's own write reports a failing LED; a blink need not.
			}
		}
	}
}
