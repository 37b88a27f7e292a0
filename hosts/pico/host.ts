/*
 * The Raspberry Pi Pico W host: an ECMA-419 Analog light sensor on GP26..GP28, a Digital LED (the
 * on-board one, which the SDK's Digital drives through the Wi-Fi chip as pin 32, or one on a
 * GPIO), the device id from the Wi-Fi MAC address and a Wi-Fi watcher. Board facts come from the
 * SDK's pico_w host provider (the global `device` of mcconfig's -p pico/pico_w);
 * hosts/pico/board.ts turns them and the config into settings.
 */
import { type BoardHost, NO_WIFI, boardId, providerPins, wifiSettings } from "nightlight/moddable/host";
import { AnalogLightSensor, DigitalLed } from "nightlight/moddable/io";
import type { RawConfig } from "nightlight/moddable/settings";
import { type BoardSettings, boardSettings, describeBoard } from "nightlight/pico/board";
import { PicoWiFi } from "nightlight/pico/wifi";
import { SerialConsole } from "nightlight/moddable/console";
import { PICO_CONSOLE } from "nightlight/pico/board";

let board: BoardSettings | undefined;
let ssid: string | undefined;
let wifiPassword: string | undefined;
let wifi: PicoWiFi | undefined;

function settings(): BoardSettings {
	if (!board)
		throw new Error("the Pico W host is used before configure()");
	return board;
}

/** One interface object for the MAC address and the watcher; creating it starts the Wi-Fi chip. */
function network(): PicoWiFi {
	wifi ??= new PicoWiFi();
	return wifi;
}

const host: BoardHost = {
	name: "pico_w",
	configure(config: RawConfig) {
		board = boardSettings(config, providerPins());
		({ ssid, password: wifiPassword } = wifiSettings(config));
	},
	defaultId() {
		return boardId(network().mac);
	},
	describe() {
		return `${describeBoard(settings())} ssid=${ssid ?? "(none)"} MAC=${network().mac ?? "?"}`;
	},
	sensor() {
		return new AnalogLightSensor({ pin: settings().sensorPin });
	},
	led() {
		const { ledPin, ledActiveLow } = settings();
		return new DigitalLed({ pin: ledPin, activeLow: ledActiveLow });
	},
	keepNetwork(log) {
		if (!ssid) {
			log("error", "wifi", NO_WIFI);
			return;
		}
		network().keep({ ssid, password: wifiPassword, log });
	},
	openConsole(options, log, onCommand) {
		try {
			new SerialConsole(PICO_CONSOLE, options, log).onCommand = onCommand;
		}
		catch (error) {
			log("error", "console", `no settings console on UART0: ${error instanceof Error ? error.message : String(error)}`);
		}
	},
};

export default host;
