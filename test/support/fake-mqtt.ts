/*
 * A fake MQTT client with the port's shape: it records what the core publishes and subscribes,
 * and lets a test connect, drop and deliver messages. No platform imports, so it runs on XS too.
 */
import type { MqttClient, Payload, PublishOptions, QoS } from "../../src/ports.js";
import { Emitter } from "./emitter.js";

export interface Published {
	topic: string;
	message: string;
	qos: QoS;
	retain: boolean;
}

export class FakeMqtt extends Emitter implements MqttClient {
	connected = false;
	published: Published[] = [];
	subscriptions: Array<{ topic: string; qos: QoS }> = [];
	/** When set, publish throws this, as a client that refuses a message would. */
	failPublish: Error | undefined;
	/** When set, QoS 1 publishes are not acknowledged (their callbacks are never called). */
	holdAcks = false;

	publish(topic: string, message: string, options?: PublishOptions, callback?: (error?: Error) => void): this {
		if (this.failPublish)
			throw this.failPublish;
		this.published.push({ topic, message, qos: options?.qos ?? 0, retain: options?.retain ?? false });
		if (!this.holdAcks || (options?.qos ?? 0) === 0)
			callback?.();
		return this;
	}

	subscribe(topic: string, options: { qos: QoS }, callback?: (error: Error | null) => void): this {
		this.subscriptions.push({ topic, qos: options.qos });
		callback?.(null);
		return this;
	}

	end(_force?: boolean, callback?: () => void): this {
		this.connected = false;
		callback?.();
		return this;
	}

	/** Connection attempts the core asked for. */
	reconnects = 0;

	reconnect(): this {
		this.reconnects++;
		return this;
	}

	/** An attempt failed: the client reports close, as MQTT.js and mqtt/js do. */
	fail(error?: Error): void {
		this.connected = false;
		if (error)
			this.emit("error", error);
		this.emit("close");
	}


	/** The broker accepted the connection. */
	connect(): void {
		this.connected = true;
		this.emit("connect");
	}

	/** The connection dropped. */
	drop(): void {
		this.connected = false;
		this.emit("offline");
		this.emit("close");
	}

	/** A message from the broker; `packet.retain` marks one delivered from the retained store. */
	deliver(topic: string, payload: Payload, packet: { retain?: boolean } = {}): void {
		this.emit("message", topic, payload, packet);
	}

	/** Messages published to `topic`, oldest first. */
	sent(topic: string): Published[] {
		return this.published.filter((item) => item.topic === topic);
	}

	last(topic: string): Published | undefined {
		const list = this.sent(topic);
		return list[list.length - 1];
	}

}
