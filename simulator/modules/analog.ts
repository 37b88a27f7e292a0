/*
 * The simulator's `embedded:io/analog`: the ECMA-419 Analog shape, its level set by the light
 * slider of our simulated device (simulator/nightlight.js) over the simulator's JSON channel.
 * 10 bits, like the Grove light sensor's 0..1023. It calls `onReadable` when the slider moves, and
 * `read()` gives undefined until the slider's first position has arrived (as ECMA-419 allows).
 */
import Control from "control";

const RESOLUTION = 10;
const MAX = (1 << RESOLUTION) - 1;

export default class Analog extends Control {
	/** Undefined until the simulated device has told the slider's position. */
	#value: number | undefined;
	#onReadable: (() => void) | undefined;

	constructor(options: { pin: number; onReadable?: () => void }) {
		super();
		this.#onReadable = options.onReadable;
		// Ask the simulated device for the slider's position; it answers with {"light": n}.
		this.postJSON({ ready: "analog" });
	}

	get resolution(): number {
		return RESOLUTION;
	}

	override onJSON(json: { light?: unknown }): void {
		const light = json.light;
		if (typeof light !== "number" || !Number.isFinite(light))
			return;
		this.#value = Math.min(Math.max(Math.round(light), 0), MAX);
		this.#onReadable?.call(this);
	}

	read(): number | undefined {
		return this.#value;
	}

	override close(): void {
		this.#onReadable = undefined;
		super.close();
	}
}
