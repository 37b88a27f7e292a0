/*
 * The desktop simulator host (mcsim on Linux, macOS, Windows): the same ECMA-419 sensor and LED
 * code as on ESP32, with simulator/manifest.json mapping `embedded:io/analog` and
 * `embedded:io/digital` to our simulated device's light slider and lamp. It also feeds the
 * device's status rows (connection, last telemetry, last command) and traces LED changes.
 */
import Control from "control";
import type { DeviceEvent } from "nightlight/device";
import type { BoardHost } from "nightlight/moddable/host";
import { AnalogLightSensor, DigitalLed } from "nightlight/moddable/io";
import type { Log } from "nightlight/ports";

/** The simulator has no MAC address to read; give each simulated device its own id= when several share a broker. */
const SIMULATOR_ID = "nightlight-sim";

/** The status rows of simulator/nightlight.js, fed over the simulator's JSON channel. */
class StatusRows extends Control {
	#commands = 0;
	#telemetry = 0;

	show(event: DeviceEvent): void {
		switch (event.type) {
		case "connection":
			this.postJSON({ status: { connection: event.connected ? "connected" : "offline, retrying" } });
			break;
		case "telemetry":
			this.#telemetry++;
			this.postJSON({ status: { telemetry: `{"light":${event.light}} (#${this.#telemetry})` } });
			break;
		case "command":
			this.#commands++;
			this.postJSON({ status: { command: `{"led_on":${event.led_on}} (#${this.#commands})` } });
			break;
		case "rejected":
			this.postJSON({ status: { command: `rejected: ${event.reason.slice(0, 40)}` } });
			break;
		case "led":
			break;
		}
	}
}

let rows: StatusRows | undefined;
let log: Log | undefined;

const host: BoardHost = {
	name: "simulator",
	configure(_config, hostLog) {
		log = hostLog;
	},
	defaultId() {
		return SIMULATOR_ID;
	},
	describe() {
		return "simulated light slider (0..1023) and lamp";
	},
	sensor() {
		return new AnalogLightSensor({ pin: 0, notifies: true });
	},
	led() {
		return new DigitalLed({ pin: 0 });
	},
	onEvent(event) {
		rows ??= new StatusRows();
		rows.show(event);
		if (event.type === "led")
			log?.("info", "sim", event.on ? "LED on" : "LED off");
		else if (event.type === "telemetry")
			log?.("info", "sim", `telemetry {"light":${event.light}}`);
		else if (event.type === "command")
			log?.("info", "sim", `command {"led_on":${event.led_on}}`);
	},
};

export default host;
