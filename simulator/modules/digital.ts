/*
 * The simulator's `embedded:io/digital`: the ECMA-419 Digital shape for an output; each write
 * lights or darkens the lamp of our simulated device (simulator/nightlight.js).
 */
import Control from "control";

export default class Digital extends Control {
	static readonly Input = 0;
	static readonly InputPullUp = 1;
	static readonly InputPullDown = 2;
	static readonly InputPullUpDown = 3;
	static readonly Output = 8;
	static readonly OutputOpenDrain = 9;
	static readonly Rising = 1;
	static readonly Falling = 2;

	#pin: number;
	#value: 0 | 1 = 0;

	constructor(options: { pin: number; mode: unknown }) {
		super();
		this.#pin = options.pin;
	}

	read(): 0 | 1 {
		return this.#value;
	}

	write(value: 0 | 1): void {
		this.#value = value ? 1 : 0;
		this.postJSON({ led: this.#value, pin: this.#pin });
	}
}
