/*
 * The light sensor and the LED over ECMA-419 IO (`embedded:io/analog`, `embedded:io/digital`).
 * On a board these are the SDK's drivers; in the desktop simulator our simulator/manifest.json maps
 * the same specifiers to simulated ones, so this code runs unchanged on both.
 */
import Analog from "embedded:io/analog";
import Digital from "embedded:io/digital";
import type { Led, LightSensor } from "nightlight/ports";

export interface AnalogSensorOptions {
	pin: number;
	/** ESP32 ADC attenuation in dB (0, 2.5, 6 or 12); left out where the platform has none. */
	attenuation?: number | undefined;
	/** Whether the driver calls back when the level changes (the simulated one does; ESP32's does not). */
	notifies?: boolean;
}

/** `read()` gives the level as a fraction of full scale, from the driver's own resolution. */
export class AnalogLightSensor implements LightSensor {
	#analog: Analog;
	#fullScale: number;
	onReadable: (() => void) | undefined;

	constructor(options: AnalogSensorOptions) {
		// `attenuation` is an ESP32 option the typings leave out; a variable skips the literal check.
		const analogOptions: ConstructorParameters<typeof Analog>[0] & { attenuation?: number } = { pin: options.pin };
		if (options.attenuation !== undefined)
			analogOptions.attenuation = options.attenuation;
		if (options.notifies)
			analogOptions.onReadable = () => this.onReadable?.();
		this.#analog = new Analog(analogOptions);
		this.#fullScale = (1 << this.#analog.resolution) - 1;
	}

	get resolution(): number {
		return this.#analog.resolution;
	}

	/** Undefined while the driver has no reading yet (the simulated one before its slider reports). */
	read(): number | undefined {
		const raw = this.#analog.read() as number | undefined;
		return raw === undefined ? undefined : raw / this.#fullScale;
	}

	close(): void {
		this.onReadable = undefined;
		(this.#analog as { close?(): void }).close?.();
	}
}

export interface DigitalLedOptions {
	pin: number;
	/** The LED lights when the pin is low (e.g. XIAO ESP32S3's user LED). */
	activeLow?: boolean;
}

export class DigitalLed implements Led {
	#digital: Digital;
	#activeLow: boolean;

	constructor(options: DigitalLedOptions) {
		this.#activeLow = options.activeLow ?? false;
		this.#digital = new Digital({ pin: options.pin, mode: Digital.Output });
	}

	write(on: boolean): void {
		this.#digital.write(on !== this.#activeLow ? 1 : 0);
	}

	close(): void {
		this.#digital.close();
	}
}
