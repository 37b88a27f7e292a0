/*
 * Raspberry Pi Pico and Pico W board facts and settings, as plain data. The pins default to what
 * the SDK's host provider says (`device.Analog.default.pin` is GP26, `device.pin.led` the on-board
 * LED); the config can override each one:
 *
 *   sensor_pin=26        ADC pin of the light sensor: GP26, GP27 or GP28 (ADC0..ADC2)
 *   led_pin=32           the on-board LED: GP25 on the Pico; 32 on the Pico W, where it sits on the
 *                        Wi-Fi chip (CYW43 GPIO 0), not on an RP2040 pin; an external LED goes on
 *                        GP2..GP22 or a spare GP26..GP28 (GP0 and GP1 carry the settings console)
 *   led_active_low=1     the LED lights when its pin is low (an external LED wired from 3V3)
 *
 * The ADC resolution is not a setting: it comes from the driver (12 bits on the RP2040).
 * Platform-free (the provider's facts are passed in), so jest checks it on Node.
 */
import { type RawConfig, flag, optionalInteger } from "../moddable/settings.js";

/** The RP2040 pins with an ADC channel a sensor can use (GP29 measures VSYS on both boards). */
export const ADC_PINS = [26, 27, 28] as const;
/** The SDK's number for the LED on the CYW43 Wi-Fi chip: ECMA-419 Digital bank 1, pin 0. */
export const ONBOARD_LED = 32;
/** GP23 (WL_ON), GP24 (WL_D), GP25 (WL_CS) and GP29 (WL_CLK) drive the Wi-Fi chip on the Pico W. */
export const WIFI_PINS = [23, 24, 25, 29] as const;

/** The settings console: UART0 on GP0 (TX) and GP1 (RX), 115200 baud, on both boards. */
export const PICO_CONSOLE = { port: 0, transmit: 0, receive: 1, baud: 115_200 } as const;

/** What differs between the boards this host runs on, as data. */
export interface PicoModel {
	name: string;
	/** The LED on the board: GP25 on the Pico, the Wi-Fi chip's GPIO 0 (SDK pin 32) on the Pico W. */
	onboardLed: number;
	onboardLedName: string;
	/** Pins the board itself drives, refused for an LED, and why. */
	reserved: readonly number[];
	reservedWhy: string;
}

export const PICO_W: PicoModel = {
	name: "Pico W",
	onboardLed: ONBOARD_LED,
	onboardLedName: "on-board (Wi-Fi chip GPIO 0)",
	reserved: WIFI_PINS,
	reservedWhy: "GP23, GP24, GP25 and GP29 drive the Wi-Fi chip",
};

export const PICO: PicoModel = {
	name: "Pico",
	onboardLed: 25,
	onboardLedName: "on-board GP25",
	reserved: [23, 24, 29],
	reservedWhy: "GP23 sets the power supply's mode, GP24 senses VBUS, GP29 measures VSYS",
};

/** What the board's host provider tells about it. */
export interface ProviderFacts {
	ledPin: number | undefined;
	analogPin: number | undefined;
}

export interface BoardSettings {
	sensorPin: number;
	ledPin: number;
	ledActiveLow: boolean;
	/** The LED is the one on the board rather than one wired to a GPIO. */
	onboardLed: boolean;
	/** The name of the on-board LED, for the start-up log. */
	onboardLedName: string;
}

export function boardSettings(config: RawConfig, facts: ProviderFacts, model: PicoModel = PICO_W): BoardSettings {
	const sensorPin = optionalInteger(config, "sensor_pin", 0, 29) ?? facts.analogPin ?? ADC_PINS[0];
	if (!(ADC_PINS as readonly number[]).includes(sensorPin))
		throw new RangeError(`config "sensor_pin" must be an ADC pin of the ${model.name}: 26, 27 or 28 (GP26..GP28), got ${sensorPin}`);
	const highest = Math.max(29, model.onboardLed);
	const ledPin = optionalInteger(config, "led_pin", 0, highest) ?? facts.ledPin ?? model.onboardLed;
	if (ledPin !== model.onboardLed) {
		if (model.reserved.includes(ledPin) || ledPin > 29)
			throw new RangeError(`config "led_pin" ${ledPin} is not free on the ${model.name} (${model.reservedWhy}): use GP2..GP22, GP26..GP28, or ${model.onboardLed} for the on-board LED`);
		if (ledPin === sensorPin)
			throw new RangeError(`config "led_pin" and "sensor_pin" are both GP${ledPin}: give the LED its own pin`);
		if (ledPin === PICO_CONSOLE.transmit || ledPin === PICO_CONSOLE.receive)
			throw new RangeError(`config "led_pin" ${ledPin} carries the settings console (UART0 on GP0 and GP1): use GP2..GP22`);
	}
	return {
		sensorPin,
		ledPin,
		ledActiveLow: flag(config, "led_active_low", false),
		onboardLed: ledPin === model.onboardLed,
		onboardLedName: model.onboardLedName,
	};
}

/** The board settings for the start-up log. */
export function describeBoard(board: BoardSettings): string {
	const led = board.onboardLed ? board.onboardLedName : `GP${board.ledPin}`;
	return `sensor_pin=GP${board.sensorPin} (ADC${board.sensorPin - 26}) led_pin=${board.ledPin} ${led} led_active_low=${board.ledActiveLow}`;
}

export { idFromMac } from "../moddable/identity.js";
