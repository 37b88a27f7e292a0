/*
 * What a Moddable board host supplies to the shared app (hosts/moddable/main.ts): the facts and
 * drivers of one kind of board, nothing else. manifest.json maps the specifier "nightlight/host"
 * to one of them per platform (hosts/esp32/host.ts, hosts/sim/host.ts).
 */
import type { DeviceEvent } from "nightlight/device";
import type { Led, LightSensor, Log } from "nightlight/ports";
import type { RawConfig } from "nightlight/moddable/settings";

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
}
