/*
 * The entry point on a plain Raspberry Pi Pico (no Wi-Fi): the nightlight standing alone. It reads
 * the build-time config, opens the light sensor (GP26 by default) and the LED (the on-board GP25
 * by default) over ECMA-419 IO, and runs the portable standalone core: the local rule, always.
 *
 * A bad setting stops here with one clear line naming the key; nothing is started half-way.
 */
import config from "mc/config";
import type { Settings } from "nightlight/config";
import { Standalone } from "nightlight/standalone";
import { SerialConsole } from "nightlight/moddable/console";
import { ModdableClock } from "nightlight/moddable/clock";
import { providerPins } from "nightlight/moddable/host";
import { AnalogLightSensor, DigitalLed } from "nightlight/moddable/io";
import { traceLog } from "nightlight/moddable/log";
import { type LocalSettings, type RawConfig, parseLocalSettings } from "nightlight/moddable/settings";
import { restartBoard, storedSettings } from "nightlight/moddable/stored";
import { type BoardSettings, PICO, PICO_CONSOLE, boardSettings, describeBoard } from "nightlight/pico/board";

const TAG = "main";

function start(): Standalone | undefined {
	const log = traceLog(config.log === "debug" ? "debug" : "info");
	let settings: LocalSettings;
	let board: BoardSettings;
	let stored: Settings;
	let nightlight: Standalone | undefined;
	try {
		let effective: RawConfig;
		({ settings: stored, config: effective } = storedSettings(config, log, (values) => {
			nightlight?.configure({ threshold: values.threshold as number, hysteresis: values.hysteresis as number });
		}));
		settings = parseLocalSettings(effective);
		board = boardSettings(effective, providerPins(), PICO);
	}
	catch (error) {
		log("error", TAG, `bad configuration: ${error instanceof Error ? error.message : String(error)}; fix it on the mcconfig command line (key=value) or in manifest.json's "config"`);
		return undefined;
	}
	log("info", TAG, `nightlight on pico, standalone: sample=${settings.samplePeriodMs}ms local rule: threshold=${settings.threshold} hysteresis=${settings.hysteresis}`);
	log("info", TAG, `board: ${describeBoard(board)}`);
	try {
		new SerialConsole(PICO_CONSOLE, { settings: stored, restart: restartBoard }, log);
	}
	catch (error) {
		log("error", TAG, `no settings console on UART0: ${error instanceof Error ? error.message : String(error)}`);
	}
	try {
		nightlight = new Standalone({
			sensor: new AnalogLightSensor({ pin: board.sensorPin }),
			led: new DigitalLed({ pin: board.ledPin, activeLow: board.ledActiveLow }),
			clock: new ModdableClock(),
			log,
			samplePeriodMs: settings.samplePeriodMs,
			rule: { threshold: settings.threshold, hysteresis: settings.hysteresis },
		});
		nightlight.start();
		return nightlight;
	}
	catch (error) {
		log("error", TAG, `cannot start: ${error instanceof Error ? error.message : String(error)}`);
		return undefined;
	}
}

start();
