/*
 * The settings kept on a board, in Moddable's `preference` module (flash on the Pico and the
 * ESP8266 family, NVS on the ESP32, a file in the simulator), domain "nightlight".
 *
 * The Pico's preferences hold at most 63 bytes per value, so a string is kept in pieces of
 * PIECE characters: `key`, then `key.1`, `key.2` … The revision is the key `revision`.
 */
import Preference from "preference";
import type { SettingsStore } from "nightlight/config";
import { SETTINGS, type Values } from "nightlight/settings";

const DOMAIN = "nightlight";
const PIECE = 48;
const MAX_PIECES = 4;

export class PreferenceStore implements SettingsStore {
	load(): { values: Values; revision: number } {
		const values: Values = {};
		for (const { key, type } of SETTINGS) {
			const first = Preference.get(DOMAIN, key);
			if (first === undefined)
				continue;
			if (type === "int" && typeof first === "number") {
				values[key] = first;
				continue;
			}
			if (typeof first !== "string")
				continue;
			let text = first;
			for (let piece = 1; piece < MAX_PIECES; piece++) {
				const more = Preference.get(DOMAIN, `${key}.${piece}`);
				if (typeof more !== "string")
					break;
				text += more;
			}
			values[key] = text;
		}
		const revision = Preference.get(DOMAIN, "revision");
		return { values, revision: typeof revision === "number" ? revision : 0 };
	}

	save(values: Values, revision: number): void {
		for (const { key } of SETTINGS) {
			const value = values[key];
			let pieces: Array<string | number> = [];
			if (typeof value === "number")
				pieces = [value];
			else if (typeof value === "string") {
				for (let at = 0; at < value.length || at === 0; at += PIECE)
					pieces.push(value.slice(at, at + PIECE));
			}
			for (let piece = 0; piece < MAX_PIECES; piece++) {
				const name = piece === 0 ? key : `${key}.${piece}`;
				if (piece < pieces.length) {
					if (Preference.get(DOMAIN, name) !== pieces[piece])
						Preference.set(DOMAIN, name, pieces[piece]!);
				}
				else if (Preference.get(DOMAIN, name) !== undefined)
					Preference.delete(DOMAIN, name);
			}
		}
		Preference.set(DOMAIN, "revision", revision);
	}
}
