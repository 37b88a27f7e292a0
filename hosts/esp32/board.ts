/*
 * ESP32 board facts and settings, as plain data. The pins default to what the board's own host
 * provider says (`device.pin.led`, `device.Analog.default.pin`); the config can override each one:
 *
 *   sensor_pin=34        ADC1 pin of the light sensor (ADC2 is unusable while Wi-Fi is on)
 *   attenuation=12       ADC attenuation in dB: 0, 2.5, 6 or 12 (12 reads up to ~3.1 V)
 *   led_pin=2            the LED's GPIO
 *   led_active_low=1     the LED lights when its pin is low
 *
 * Platform-free (the provider's facts are passed in), so jest checks it on Node.
 */
import { type RawConfig, flag, oneOf, optionalInteger } from "../moddable/settings.js";

export const ATTENUATIONS_DB = [0, 2.5, 6, 11, 12] as const;

/** What the board's host provider tells about it. */
export interface ProviderFacts {
	ledPin: number | undefined;
	analogPin: number | undefined;
}

export interface BoardSettings {
	sensorPin: number;
	attenuation: number;
	ledPin: number;
	ledActiveLow: boolean;
}

export function boardSettings(config: RawConfig, facts: ProviderFacts): BoardSettings {
	const sensorPin = optionalInteger(config, "sensor_pin", 0, 48) ?? facts.analogPin;
	if (sensorPin === undefined)
		throw new RangeError(`this board names no analog pin: set sensor_pin=<ADC1 GPIO> on the mcconfig command line`);
	const ledPin = optionalInteger(config, "led_pin", 0, 48) ?? facts.ledPin;
	if (ledPin === undefined)
		throw new RangeError(`this board has no built-in LED: set led_pin=<GPIO> on the mcconfig command line`);
	const attenuation = oneOf(config, "attenuation", 12, ATTENUATIONS_DB);
	return {
		sensorPin,
		// The SDK names the widest range 12 dB; IDF calls it 11 dB.
		attenuation: attenuation === 11 ? 12 : attenuation,
		ledPin,
		ledActiveLow: flag(config, "led_active_low", false),
	};
}

/** The default id from the MAC address; shared with the other Moddable boards. */
export { idFromMac } from "../moddable/identity.js";
