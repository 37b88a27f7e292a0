/*
 * What a Moddable board host supplies to the shared app (hosts/moddable/main.ts): the facts and
 * drivers of one kind of board, nothing else. manifest.json maps the specifier "nightlight/host"
 * to one of them per platform (hosts/esp32/host.ts, hosts/sim/host.ts).
 */
import type { ConsoleOptions } from "nightlight/config";
import type { DeviceEvent } from "nightlight/device";
import type { Led, LightSensor, Log } from "nightlight/ports";
import { idFromMac } from "nightlight/moddable/identity";
import { type RawConfig, text } from "nightlight/moddable/settings";

export interface BoardHost {
	/** What this host is, for the start-up log: "esp32", "simulator". */
	readonly name: string;
	/** Reads the board's own settings (pins, polarity...) from the config; throws a RangeError on bad ones. */
	configure(config: RawConfig, log: Log): void;
	/** A device id unique to this board, used when the config gives none. Never random. */
	defaultId(): string;
	/** The board's facts and settings for the start-up log, one line. */
	describe(): string;
	sensor(): LightSensor;
	led(): Led;
	/** Keeps the network up (Wi-Fi reconnection) where the host has to. */
	keepNetwork?(log: Log): void;
	/** Told what the device does (for a status display). */
	onEvent?(event: DeviceEvent): void;
	/** Opens the settings console on the board's serial port, where it has one; `onCommand` is told after each line. */
	openConsole?(options: ConsoleOptions, log: Log, onCommand: () => void): void;
}

/** The pins a board's host provider names (the global `device` of mcconfig's -p <platform>/<board>), if any. */
export function providerPins(): { ledPin: number | undefined; analogPin: number | undefined } {
	const provider = (globalThis as { device?: { pin?: { led?: number }; Analog?: { default?: { pin?: number } } } }).device;
	return { ledPin: provider?.pin?.led, analogPin: provider?.Analog?.default?.pin };
}

/** The Wi-Fi network a board joins: `ssid=` and `password=` on the mcconfig command line. */
export function wifiSettings(config: RawConfig): { ssid: string | undefined; password: string | undefined } {
	return { ssid: text(config, "ssid"), password: text(config, "password") };
}

/** The board's MAC-based id, or an error saying how to name the device instead. */
export function boardId(mac: string | undefined): string {
	const id = idFromMac(mac);
	if (!id)
		throw new Error("no MAC address to derive a device id from: set id=<name> on the mcconfig command line");
	return id;
}

export const NO_WIFI = "no Wi-Fi network configured: on the console type set wifi_ssid <network>, set wifi_password <secret>, set broker mqtt://<host>, then reboot (or build with ssid=<network> password=<secret>)";
