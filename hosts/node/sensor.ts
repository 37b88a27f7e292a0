/*
 * A simulated light sensor for Node: its level (0..1023, the lesson's scale) is set by the
 * command line, stdin or a test. It tells the core at once when the level changes, the way an
 * interrupt-driven sensor would, so a step is reported without waiting for the next sample.
 */
import { LIGHT_MAX } from "../../src/contract.js";
import type { LightSensor } from "../../src/ports.js";

export class SimulatedLightSensor implements LightSensor {
	#level: number;
	#signals: boolean;
	onReadable: (() => void) | undefined;

	/** `signals: false` makes it a sensor that is only polled, like an ADC without an interrupt. */
	constructor(options: { level?: number; signals?: boolean } = {}) {
		this.#level = checkLevel(options.level ?? 500);
		this.#signals = options.signals ?? true;
	}

	get level(): number {
		return this.#level;
	}

	/** Sets the light, 0..1023; throws a RangeError for anything else. */
	set(level: number): void {
		this.#level = checkLevel(level);
		if (this.#signals)
			this.onReadable?.();
	}

	read(): number {
		return this.#level / LIGHT_MAX;
	}

	close(): void {
		this.onReadable = undefined;
	}
}

export function checkLevel(level: number): number {
	if (!Number.isFinite(level) || level < 0 || level > LIGHT_MAX)
		throw new RangeError(`light must be a number 0..${LIGHT_MAX}, got ${level}`);
	return level;
}

/** Parses one line typed by a user; undefined for a blank line. */
export function parseLevel(line: string): number | undefined {
	const text = line.trim();
	if (text === "")
		return undefined;
	const level = Number(text);
	if (!/^[0-9]+(\.[0-9]+)?$/.test(text) || level > LIGHT_MAX)
		throw new RangeError(`expected a light level 0..${LIGHT_MAX}, got ${JSON.stringify(text.slice(0, 20))}`);
	return level;
}
