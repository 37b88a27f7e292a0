/*
 * MQTT on Moddable: the SDK's `mqtt/js` (examples/io/tcp/mqtt, MQTT.js's API over the ECMA-419
 * client) behind the core's MqttClient port.
 *
 * Why an adapter rather than the raw client:
 * - mqtt/js calls its listeners in a plain loop inside its socket callbacks; a listener that throws
 *   there skips the rest of the loop, and in its error path that includes arming the reconnect
 *   timer. Here each listener runs in its own try/catch and a fault is logged.
 * - mqtt/js reports connection failures with no reason at all (`error` with undefined); the core
 *   expects an Error, so one is made.
 * - mqtt/js `end()` throws while (re)connecting; here the end is deferred to the next connect.
 *
 * Connection policy: mqtt/js's own fixed-period reconnection is off (`reconnectPeriod: 0`); the
 * core's Link calls `reconnect()` with jittered exponential backoff and a cap on attempts per
 * minute (src/link.ts). QoS 1 messages in flight are republished by mqtt/js after a reconnect;
 * the core keeps offline telemetry in its own bounded outbox. mqtt/js drops `clean`, so the
 * broker always sees a clean session: the core subscribes again on every connect, and the
 * retained command (ordered by its ts and seq) replaces the queued commands a persistent
 * session would have kept.
 */
import { Client } from "mqtt/js";
import type { Log, MqttClient, Payload, PublishOptions, QoS } from "nightlight/ports";

const TAG = "mqtt";

type EventName = "connect" | "close" | "offline" | "reconnect" | "message" | "error";
type Listener = (...args: never[]) => void;

export interface MqttSettings {
	broker: string;
	clientId: string;
	username?: string | undefined;
	password?: string | undefined;
	keepaliveSeconds: number;
	will: { topic: string; payload: string; qos: QoS; retain: boolean };
}

export class ModdableMqtt implements MqttClient {
	#client: Client;
	#log: Log;
	#listeners: Record<EventName, Listener[]> = { connect: [], close: [], offline: [], reconnect: [], message: [], error: [] };
	#pendingEnd: { force: boolean; callback: (() => void) | undefined } | undefined;
	#connects = 0;
	#drops = 0;

	constructor(settings: MqttSettings, log: Log) {
		this.#log = log;
		const options: ConstructorParameters<typeof Client>[1] = {
			clientId: settings.clientId,
			keepalive: settings.keepaliveSeconds,
			// The core's Link reconnects, with backoff.
			reconnectPeriod: 0,
			// The core subscribes in its connect handler; mqtt/js must not do it a second time.
			resubscribe: false,
			will: settings.will,
		};
		if (settings.username !== undefined)
			options.username = settings.username;
		if (settings.password !== undefined)
			options.password = settings.password;
		const client = new Client(settings.broker, options);
		this.#client = client;
		client.on("connect", () => {
			this.#connects++;
			const pending = this.#pendingEnd;
			if (pending) {
				this.#pendingEnd = undefined;
				this.end(pending.force, pending.callback);
				return;
			}
			this.#emit("connect");
		});
		client.on("close", () => this.#emit("close"));
		client.on("offline", () => {
			this.#drops++;
			this.#emit("offline");
		});
		client.on("reconnect", () => this.#emit("reconnect"));
		client.on("message", (topic: string, payload: ArrayBuffer) => this.#emit("message", topic, payload));
		client.on("error", (reason: unknown) => {
			const error = reason instanceof Error ? reason : new Error(reason === undefined ? "cannot connect to the broker" : String(reason));
			this.#emit("error", error);
		});
	}

	get connected(): boolean {
		return this.#client.connected;
	}

	/** Connections made and lost since boot, for the status display and the log. */
	get counts(): { connects: number; drops: number } {
		return { connects: this.#connects, drops: this.#drops };
	}

	publish(topic: string, message: string, options?: PublishOptions, callback?: (error?: Error) => void): this {
		this.#client.publish(topic, message, { qos: options?.qos ?? 0, retain: options?.retain ?? false }, callback);
		return this;
	}

	subscribe(topic: string, options: { qos: QoS }, callback?: (error: Error | null) => void): this {
		this.#client.subscribe(topic, { qos: options.qos }, (error: Error | null) => callback?.(error ?? null));
		return this;
	}

	reconnect(): this {
		this.#client.reconnect();
		return this;
	}

	end(force = false, callback?: () => void): this {
		try {
			this.#client.end(force, {}, callback);
		}
		catch {
			// mqtt/js refuses to end while it is connecting: end as soon as it is connected.
			this.#pendingEnd = { force, callback };
		}
		return this;
	}

	on(event: "connect" | "close" | "offline" | "reconnect", listener: () => void): this;
	on(event: "message", listener: (topic: string, payload: Payload) => void): this;
	on(event: "error", listener: (error: Error) => void): this;
	on(event: EventName, listener: Listener): this {
		this.#listeners[event]?.push(listener);
		return this;
	}

	off(event: string, listener: Listener): this {
		const list = this.#listeners[event as EventName];
		if (list) {
			const index = list.indexOf(listener);
			if (index >= 0)
				list.splice(index, 1);
		}
		return this;
	}

	#emit(event: EventName, ...args: unknown[]): void {
		for (const listener of this.#listeners[event].slice()) {
			try {
				(listener as (...args: unknown[]) => void)(...args);
			}
			catch (error) {
				this.#log("error", TAG, `${event} listener failed: ${error instanceof Error ? error.message : String(error)}`);
			}
		}
	}
}
