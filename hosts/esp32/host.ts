/*
 * The ESP32 host: an ECMA-419 Analog light sensor, a Digital LED, the device id from the MAC
 * address and a Wi-Fi watcher. Board facts come from the board's host provider (the global
 * `device` of mcconfig's -p esp32/<board>); hosts/esp32/board.ts turns them and the config into
 * settings.
 */
import Net from "net";
import { type BoardSettings, boardSettings } from "nightlight/esp32/board";
import { WiFiKeeper } from "nightlight/esp32/wifi";
import { type BoardHost, NO_WIFI, boardId, providerPins, wifiSettings } from "nightlight/moddable/host";
import { AnalogLightSensor, DigitalLed } from "nightlight/moddable/io";
import type { RawConfig } from "nightlight/moddable/settings";

let board: BoardSettings | undefined;
let ssid: string | undefined;
let wifiPassword: string | undefined;

function settings(): BoardSettings {
	if (!board)
		throw new Error("the ESP32 host is used before configure()");
	return board;
}

const host: BoardHost = {
	name: "esp32",
	configure(config: RawConfig) {
		board = boardSettings(config, providerPins());
		({ ssid, password: wifiPassword } = wifiSettings(config));
	},
	defaultId() {
		return boardId(Net.get("MAC"));
	},
	describe() {
		const { sensorPin, attenuation, ledPin, ledActiveLow } = settings();
		return `sensor_pin=${sensorPin} attenuation=${attenuation}dB led_pin=${ledPin} led_active_low=${ledActiveLow} ssid=${ssid ?? "(none)"} MAC=${Net.get("MAC")}`;
	},
	sensor() {
		const { sensorPin, attenuation } = settings();
		return new AnalogLightSensor({ pin: sensorPin, attenuation });
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
		new WiFiKeeper({ ssid, password: wifiPassword, log }).start();
	},
};

export default host;
