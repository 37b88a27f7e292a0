/*
 * Does the broker deliver through shared subscriptions? A server started with `share` depends on
 * them: a broker without them (Aedes, the embedded lab broker) grants `$share/…` as a plain filter
 * that matches nothing, so the server would hear no telemetry and say nothing. At its first
 * connection the server subscribes to a share group of its own and publishes one probe message
 * to itself; if the probe has not come back within `PROBE_TIMEOUT_MS`, it reports the problem.
 */
import type { Clock, MqttClient, TimerHandle } from "../src/ports.js";

export const PROBE_TIMEOUT_MS = 3_000;

export interface ShareProbeOptions {
	mqtt: MqttClient;
	clock: Clock;
	/** This server's name: the probe's topic and share group are its own. */
	instance: string;
	/** Told once, when the probe did not come back: what is wrong, in one sentence. */
	onFailed: (problem: string) => void;
}

export class ShareProbe {
	#options: ShareProbeOptions;
	#timer: TimerHandle | undefined;
	#done = false;
	/** The topic the probe is published on. */
	readonly topic: string;
	readonly filter: string;

	constructor(options: ShareProbeOptions) {
		this.#options = options;
		this.topic = `nightlight/probe/${options.instance}`;
		this.filter = `$share/probe-${options.instance}/${this.topic}`;
	}

	/** The server is connected: probe, unless an earlier connection already did. */
	start(): void {
		if (this.#done || this.#timer !== undefined)
			return;
		const { mqtt, clock } = this.#options;
		const fail = (problem: string) => {
			this.stop();
			this.#done = true;
			this.#options.onFailed(problem);
		};
		this.#timer = clock.setTimeout(() => fail(`the broker delivered nothing through the shared subscription ${this.filter} within ${PROBE_TIMEOUT_MS / 1000} s: it has no MQTT shared subscriptions`), PROBE_TIMEOUT_MS);
		try {
			mqtt.subscribe(this.filter, { qos: 1 }, (error) => {
				if (error)
					fail(`the broker refused the shared subscription ${this.filter}: ${error.message}`);
				else if (!this.#done)
					mqtt.publish(this.topic, "probe", { qos: 1, retain: false });
			});
		}
		catch {
			// Not connected after all: the next connection probes.
			this.stop();
		}
	}

	/** A message on the probe's topic: shared subscriptions work. */
	delivered(): void {
		if (this.#done)
			return;
		this.stop();
		this.#done = true;
	}

	/** Forgets a probe in flight (the connection dropped, or the server stops). */
	stop(): void {
		if (this.#timer !== undefined)
			this.#options.clock.clearTimeout(this.#timer);
		this.#timer = undefined;
	}
}
