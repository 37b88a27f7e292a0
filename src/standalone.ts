/*
 * The nightlight standing alone, for a board with no network (a plain Raspberry Pi Pico): it
 * samples the light sensor, smooths the reading as the connected device does, and drives the LED
 * by the local rule (threshold with hysteresis). It is always in local mode and says so at start.
 * No MQTT, no outbox, no link: the same filters and rule as nightlight/device, nothing else, so a
 * small board carries only what it uses.
 *
 * Error policy: bad options throw at construction. A sensor or LED that throws is logged (once
 * per kind of fault until it recovers) and counted; the next sample tries again.
 */
import { LIGHT_MAX } from "./contract.js";
import { callSafely, messageOf } from "./errors.js";
import { Chain, Round, SMOOTHING, Scale, Smooth } from "./filters.js";
import type { Clock, Led, LightSensor, Log, TimerHandle } from "./ports.js";
import { DEFAULT_RULE, type RuleOptions, checkRule, decide } from "./rule.js";

const TAG = "nightlight";

export interface StandaloneOptions {
	sensor: LightSensor;
	led: Led;
	clock: Clock;
	log: Log;
	/** How often the sensor is read, in ms (at least 10). */
	samplePeriodMs?: number;
	rule?: RuleOptions;
	/** Told of every LED switch, for a host's display. A throwing listener is logged. */
	onSwitch?: (on: boolean, light: number) => void;
}

export interface StandaloneStats {
	samples: number;
	switches: number;
	faults: number;
}

export class Standalone {
	#sensor: LightSensor;
	#led: Led;
	#clock: Clock;
	#log: Log;
	#rule: RuleOptions;
	#samplePeriodMs: number;
	#onSwitch: ((on: boolean, light: number) => void) | undefined;
	#measure = new Chain([new Scale(LIGHT_MAX), new Smooth(SMOOTHING), new Round()]);
	#sampler: TimerHandle | undefined;
	#ledOn: boolean | undefined;
	#light: number | undefined;
	#fault: string | undefined;
	#stats: StandaloneStats = { samples: 0, switches: 0, faults: 0 };

	constructor(options: StandaloneOptions) {
		const samplePeriodMs = options.samplePeriodMs ?? 100;
		if (!(samplePeriodMs >= 10))
			throw new RangeError(`sample period must be at least 10 ms, got ${samplePeriodMs}`);
		this.#rule = checkRule(options.rule ?? DEFAULT_RULE);
		this.#samplePeriodMs = samplePeriodMs;
		this.#sensor = options.sensor;
		this.#led = options.led;
		this.#clock = options.clock;
		this.#log = options.log;
		this.#onSwitch = options.onSwitch;
	}

	get ledOn(): boolean {
		return this.#ledOn === true;
	}

	/** The last reading on the 0..1023 scale, after smoothing. */
	get light(): number | undefined {
		return this.#light;
	}

	get stats(): StandaloneStats {
		return { ...this.#stats };
	}

	/** A new local rule, taken at once (from the settings console); throws a RangeError on a bad one. */
	configure(rule: RuleOptions): void {
		this.#rule = checkRule(rule);
		this.#log("info", TAG, `the LED goes on below ${rule.threshold} and off again at ${rule.threshold + rule.hysteresis}`);
		if (this.#light !== undefined && this.#sampler !== undefined) {
			const on = decide(this.#rule, this.#light, this.#ledOn);
			if (on !== this.#ledOn)
				this.#write(on, this.#light);
		}
	}

	start(): void {
		if (this.#sampler !== undefined)
			return;
		const { threshold, hysteresis } = this.#rule;
		this.#log("info", TAG, `mode local, always: no network on this board; the LED goes on below ${threshold} and off again at ${threshold + hysteresis}, sampled every ${this.#samplePeriodMs} ms`);
		this.#write(false, undefined);
		this.#sensor.onReadable = () => this.#sample();
		this.#sampler = this.#clock.setInterval(() => this.#sample(), this.#samplePeriodMs);
		this.#sample();
	}

	stop(): void {
		this.#clock.clearInterval(this.#sampler);
		this.#sampler = undefined;
		this.#sensor.onReadable = undefined;
	}

	#sample(): void {
		let raw: number | undefined;
		try {
			raw = this.#sensor.read();
		}
		catch (error) {
			this.#trouble(`light sensor: ${messageOf(error)}`);
			return;
		}
		if (raw === undefined)
			return;
		this.#stats.samples++;
		const light = this.#measure.next(raw);
		if (light === undefined)
			return;
		this.#light = light;
		const on = decide(this.#rule, light, this.#ledOn);
		if (on !== this.#ledOn)
			this.#write(on, light);
	}

	#write(on: boolean, light: number | undefined): void {
		try {
			this.#led.write(on);
		}
		catch (error) {
			this.#trouble(`LED: ${messageOf(error)}`);
			return;
		}
		this.#fault = undefined;
		const first = this.#ledOn === undefined;
		this.#ledOn = on;
		if (first || light === undefined)
			return;
		this.#stats.switches++;
		this.#log("info", TAG, `LED ${on ? "on" : "off"}: light ${light}`);
		const listener = this.#onSwitch;
		if (listener)
			callSafely(this.#log, TAG, "switch listener", () => listener(on, light));
	}

	/** Logs a fault once until it changes or the LED is written again; counts every one. */
	#trouble(message: string): void {
		this.#stats.faults++;
		if (message === this.#fault)
			return;
		this.#fault = message;
		this.#log("error", TAG, message);
	}
}
