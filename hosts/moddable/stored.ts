/*
 * The board's settings at start: what is stored on it (preferences) over what it was built with
 * (mc/config: manifest.json's "config" and mcconfig key=value) over the schema's defaults. The
 * SDK's own Wi-Fi keys (`ssid=`, `password=`) are the schema's `wifi_ssid` and `wifi_password`.
 */
import "system";
import { Settings } from "nightlight/config";
import type { Log } from "nightlight/ports";
import { type Values, fromConfig } from "nightlight/settings";
import { PreferenceStore } from "nightlight/moddable/preferences";
import type { RawConfig } from "nightlight/moddable/settings";

/** Restarts the board (the ECMA-419 "system" module's global System, on the ESP32 and the Pico). */
export function restartBoard(): void {
	const system = (globalThis as { System?: { restart?: () => void } }).System;
	if (!system?.restart)
		throw new Error("this board cannot restart itself; power it off and on");
	system.restart();
}

/** Throws a RangeError naming a bad build-time value; returns the settings and the config to run with. */
export function storedSettings(config: RawConfig, log: Log, apply: (values: Values) => void): { settings: Settings; config: RawConfig } {
	const build = { ...config, wifi_ssid: config.wifi_ssid ?? config.ssid, wifi_password: config.wifi_password ?? config.password };
	const { values, errors } = fromConfig(build);
	if (errors.length)
		throw new RangeError(errors[0]);
	const settings = new Settings({ store: new PreferenceStore(), config: values, log, apply });
	const effective = settings.values;
	return { settings, config: { ...config, ...effective, ssid: effective.wifi_ssid, password: effective.wifi_password } };
}
