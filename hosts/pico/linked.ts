/*
 * The plain Raspberry Pi Pico joined to the system over a serial line (built with link=serial):
 * the light sensor on GP26..GP28, the LED on GP25 or a GPIO, as on the standalone Pico; MQTT goes
 * through hosts/moddable/serial-link.ts on UART0 (GP0/GP1) to `nightlight bridge`. The line takes
 * UART0, so there is no settings console: settings arrive over MQTT (`<id>/config/set`).
 *
 * A Pico has no MAC address to derive an id from: give each board its own with id=<name>.
 */
import { type BoardHost, providerPins } from "nightlight/moddable/host";
import { AnalogLightSensor, DigitalLed } from "nightlight/moddable/io";
import type { RawConfig } from "nightlight/moddable/settings";
import { type BoardSettings, PICO, boardSettings, describeBoard } from "nightlight/pico/board";

/** The id of a linked Pico built without id=. */
const DEFAULT_ID = "nightlight-pico";

let board: BoardSettings | undefined;

function settings(): BoardSettings {
	if (!board)
		throw new Error("the Pico host is used before configure()");
	return board;
}

const host: BoardHost = {
	name: "pico, serial link",
	configure(config: RawConfig) {
		board = boardSettings(config, providerPins(), PICO);
	},
	defaultId() {
		return DEFAULT_ID;
	},
	describe() {
		return `${describeBoard(settings())} link=serial (UART0: GP0 TX, GP1 RX; no settings console)`;
	},
	sensor() {
		return new AnalogLightSensor({ pin: settings().sensorPin });
	},
	led() {
		const { ledPin, ledActiveLow } = settings();
		return new DigitalLed({ pin: ledPin, activeLow: ledActiveLow });
	},
};

export default host;
