/*
 * Keeps the Pico W on Wi-Fi, over the ECMA-419 network interface the SDK's pico port provides
 * (`embedded:network/interface/wifi`, the one its setup/network uses to join the network named by
 * `ssid=`/`password=` before the app starts). The CYW43 driver does not rejoin a lost network by
 * itself: this watcher joins again on every loss, with a backoff of 1 s doubling to 60 s, reset
 * when an address is obtained. MQTT reconnects on its own once the network is back.
 *
 * The same interface object gives the MAC address (read from the Wi-Fi chip, so it is there
 * even before the network is joined).
 */
import WiFi from "embedded:network/interface/wifi";
import Timer from "timer";
import type { Log } from "nightlight/ports";

const TAG = "wifi";
const FIRST_RETRY_MS = 1_000;
const LONGEST_RETRY_MS = 60_000;
/** ECMA-419 `connection` values: 200 disconnected, 300 connecting, 400 joined, 500 has an address. */
const DISCONNECTED = 200;
const GOT_ADDRESS = 500;

export class PicoWiFi {
	#wifi: WiFi;
	#ssid: string | undefined;
	#password: string | undefined;
	#log: Log | undefined;
	#retry: Timer | undefined;
	#delayMs = FIRST_RETRY_MS;

	constructor() {
		this.#wifi = new WiFi({ onChanged: (property) => this.#changed(property) });
	}

	/** "28:CD:C1:0A:8B:1E" */
	get mac(): string | undefined {
		return this.#wifi.MAC;
	}

	get address(): string | undefined {
		return this.#wifi.address;
	}

	/** Starts rejoining `ssid` whenever the network is lost. */
	keep(options: { ssid: string; password: string | undefined; log: Log }): void {
		this.#ssid = options.ssid;
		this.#password = options.password;
		this.#log = options.log;
		if (this.#wifi.connection === GOT_ADDRESS)
			this.#log("info", TAG, `on ${JSON.stringify(this.#ssid)} as ${this.#wifi.address ?? "?"}`);
		else
			this.#changed("connection");
	}

	close(): void {
		Timer.clear(this.#retry);
		this.#retry = undefined;
		this.#log = undefined;
		this.#wifi.close();
	}

	#changed(property: string): void {
		const log = this.#log;
		if (!log || property !== "connection")
			return;
		const connection = this.#wifi.connection;
		if (connection === GOT_ADDRESS) {
			log("info", TAG, `on ${JSON.stringify(this.#ssid)} as ${this.#wifi.address ?? "?"}`);
			this.#delayMs = FIRST_RETRY_MS;
			Timer.clear(this.#retry);
			this.#retry = undefined;
		}
		else if (connection <= DISCONNECTED && this.#retry === undefined) {
			log("warn", TAG, `not on ${JSON.stringify(this.#ssid)}; joining again in ${this.#delayMs / 1000} s`);
			this.#retry = Timer.set(() => this.#join(), this.#delayMs);
			this.#delayMs = Math.min(this.#delayMs * 2, LONGEST_RETRY_MS);
		}
	}

	#join(): void {
		this.#retry = undefined;
		const ssid = this.#ssid;
		if (ssid === undefined)
			return;
		try {
			this.#wifi.connect(this.#password ? { SSID: ssid, password: this.#password } : { SSID: ssid });
		}
		catch (error) {
			this.#log?.("warn", TAG, `cannot join ${JSON.stringify(ssid)}: ${error instanceof Error ? error.message : String(error)}`);
			this.#changed("connection");
		}
	}
}
