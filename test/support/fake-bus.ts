/*
 * A fake broker for tests with several clients: what one FakeMqtt publishes reaches the others'
 * matching subscriptions in publish order, as one broker's single thread delivers it. Retained
 * messages are kept and delivered on subscription; `$share/<group>/<filter>` hands each message to
 * one member of the group (round robin); a client that drops has its will delivered. Messages wait
 * in a queue until `flush()`, so a test decides when the broker runs.
 */
import type { Payload, PublishOptions, QoS } from "../../src/ports.js";
import { FakeMqtt } from "./fake-mqtt.js";

interface Queued {
	from: BusClient;
	topic: string;
	message: string;
	retain: boolean;
}

export interface Will {
	topic: string;
	payload: string;
	retain: boolean;
}

/** Does an MQTT topic filter (with + and #) match a topic? */
export function topicMatches(filter: string, topic: string): boolean {
	const f = filter.split("/");
	const t = topic.split("/");
	for (let i = 0; i < f.length; i++) {
		if (f[i] === "#")
			return true;
		if (i >= t.length || (f[i] !== "+" && f[i] !== t[i]))
			return false;
	}
	return f.length === t.length;
}

export class BusClient extends FakeMqtt {
	readonly bus: FakeBus;
	readonly will: Will | undefined;

	constructor(bus: FakeBus, will?: Will) {
		super();
		this.bus = bus;
		this.will = will;
	}

	override publish(topic: string, message: string, options?: PublishOptions, callback?: (error?: Error) => void): this {
		super.publish(topic, message, options, callback);
		if (this.connected)
			this.bus.enqueue({ from: this, topic, message, retain: options?.retain ?? false });
		return this;
	}

	override subscribe(topic: string, options: { qos: QoS }, callback?: (error: Error | null) => void): this {
		super.subscribe(topic, options, callback);
		this.bus.retainedFor(this, topic);
		return this;
	}

	/** The connection ends without a goodbye: the broker publishes the will. */
	kill(): void {
		if (!this.connected)
			return;
		this.drop();
		if (this.will)
			this.bus.enqueue({ from: this, topic: this.will.topic, message: this.will.payload, retain: this.will.retain });
	}
}

export class FakeBus {
	readonly clients: BusClient[] = [];
	readonly retained = new Map<string, string>();
	#queue: Array<Queued | { to: BusClient; topic: string; message: string }> = [];
	#turn = new Map<string, number>();

	client(will?: Will): BusClient {
		const client = new BusClient(this, will);
		this.clients.push(client);
		return client;
	}

	enqueue(item: Queued): void {
		this.#queue.push(item);
	}

	/** Retained messages matching a new subscription, queued for that client only. */
	retainedFor(client: BusClient, filter: string): void {
		const plain = filter.startsWith("$share/") ? filter.split("/").slice(2).join("/") : filter;
		for (const [topic, message] of this.retained) {
			if (topicMatches(plain, topic))
				this.#queue.push({ to: client, topic, message });
		}
	}

	/** Delivers everything queued, and whatever that causes, in order. Returns how many were delivered. */
	flush(): number {
		let delivered = 0;
		for (let item = this.#queue.shift(); item; item = this.#queue.shift()) {
			if ("to" in item) {
				if (item.to.connected) {
					item.to.deliver(item.topic, item.message, { retain: true });
					delivered++;
				}
				continue;
			}
			if (item.retain) {
				if (item.message === "")
					this.retained.delete(item.topic);
				else
					this.retained.set(item.topic, item.message);
			}
			for (const client of this.#receivers(item.topic)) {
				client.deliver(item.topic, item.message as Payload);
				delivered++;
			}
		}
		return delivered;
	}

	/** Each client with a matching plain subscription, plus one client per matching share group. */
	#receivers(topic: string): BusClient[] {
		const receivers = new Set<BusClient>();
		const groups = new Map<string, BusClient[]>();
		for (const client of this.clients) {
			if (!client.connected)
				continue;
			for (const { topic: filter } of client.subscriptions) {
				if (filter.startsWith("$share/")) {
					const [, group, ...rest] = filter.split("/");
					const key = `${group}\n${rest.join("/")}`;
					if (topicMatches(rest.join("/"), topic) && !groups.get(key)?.includes(client))
						groups.set(key, [...(groups.get(key) ?? []), client]);
				}
				else if (topicMatches(filter, topic)) {
					receivers.add(client);
				}
			}
		}
		for (const [key, members] of groups) {
			const turn = this.#turn.get(key) ?? 0;
			this.#turn.set(key, turn + 1);
			receivers.add(members[turn % members.length]!);
		}
		return [...receivers];
	}
}
