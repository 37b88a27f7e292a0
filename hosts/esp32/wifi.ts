/*
 * Keeps the ESP32 on Wi-Fi. The SDK's setup/network joins the network named by `ssid=`/`password=`
 * before the app starts, and ESP-IDF retries a lost connection only a few times; after that the
 * board would stay offline for good. This watcher reconnects on every loss, with a backoff of
 * 1 s doubling to 60 s, reset when an address is obtained. MQTT reconnects on its own once the
 * network is back.
 */
import Timer from "timer";
import WiFi from "wifi";
import type { Log } from "nightlight/ports";

const TAG = "wifi";
const FIRST_RETRY_MS = 1_000;
const LONGEST_RETRY_MS = 60_000;

export class WiFiKeeper {
	#ssid: string;
	#password: string | undefined;
	#log: Log;
	#monitor: WiFi | undefined;
	#retry: Timer | undefined;
	#delayMs = FIRST_RETRY_MS;

	constructor(options: { ssid: string; password: string | undefined; log: Log }) {
		this.#ssid = options.ssid;
		this.#password = options.password;
		this.#log = options.log;
	}

	start(): void {
		this.#monitor = new WiFi(undefined, (message) => this.#changed(message));
	}

	close(): void {
		Timer.clear(this.#retry);
		this.#retry = undefined;
		this.#monitor?.close();
		this.#monitor = undefined;
	}

	#changed(message: string): void {
		if (message === WiFi.gotIP) {
			this.#log("info", TAG, `on ${JSON.stringify(this.#ssid)}`);
			this.#delayMs = FIRST_RETRY_MS;
			Timer.clear(this.#retry);
			this.#retry = undefined;
		}
		else if (message === WiFi.disconnected && this.#retry === undefined) {
			this.#log("warn", TAG, `lost ${JSON.stringify(this.#ssid)}; joining again in ${this.#delayMs / 1000} s`);
			this.#retry = Timer.set(() => this.#join(), this.#delayMs);
			this.#delayMs = Math.min(this.#delayMs * 2, LONGEST_RETRY_MS);
		}
	}

	#join(): void {
		this.#retry = undefined;
		try {
			WiFi.connect(this.#password ? { ssid: this.#ssid, password: this.#password } : { ssid: this.#ssid });
		}
		catch (error) {
			this.#log("warn", TAG, `cannot join ${JSON.stringify(this.#ssid)}: ${error instanceof Error ? error.message : String(error)}`);
			this.#changed(WiFi.disconnected);
		}
	}
}
