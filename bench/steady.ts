/*
 * Messages and bytes per hour: the real core and the real server logic on a fake clock and an
 * in-memory broker, for one simulated hour of a given light trace (a steady room, or a day
 * compressed into the hour), with sensor noise. Compared with the lesson's device (telemetry
 * every 2 s) and server (a command for every telemetry message).
 */
import { Device } from "../src/device.js";
import type { ReportOptions } from "../src/filters.js";
import type { MqttClient, Payload, PublishOptions, QoS } from "../src/ports.js";
import { Server } from "../server/server.js";
import { Emitter, type Listener } from "../test/support/emitter.js";
import { FakeClock } from "../test/support/fake-clock.js";


/** Just enough of a broker: exact topics and `+` at the first level, delivered synchronously. */
class MemoryBroker {
	clients: MemoryClient[] = [];
	messages = 0;
	bytes = 0;
	route(topic: string, message: string): void {
		this.messages++;
		this.bytes += topic.length + message.length;
		for (const client of this.clients) {
			if (client.filters.some((filter) => matches(filter, topic)))
				client.emit("message", topic, new TextEncoder().encode(message));
		}
	}
}

function matches(filter: string, topic: string): boolean {
	const f = filter.split("/");
	const t = topic.split("/");
	return f.length === t.length && f.every((level, i) => level === "+" || level === t[i]);
}

class MemoryClient extends Emitter implements MqttClient {
	connected = true;
	filters: string[] = [];
	#broker: MemoryBroker;
	constructor(broker: MemoryBroker) {
		super();
		this.#broker = broker;
		broker.clients.push(this);
	}
	publish(topic: string, message: string, _options?: PublishOptions, callback?: (error?: Error) => void): this {
		this.#broker.route(topic, message);
		callback?.();
		return this;
	}
	subscribe(topic: string, _options: { qos: QoS }, callback?: (error: Error | null) => void): this {
		this.filters.push(topic);
		callback?.(null);
		return this;
	}
	end(): this {
		return this;
	}
	reconnect(): this {
		return this;
	}
}

export interface SteadyResult {
	name: string;
	telemetry: number;
	commands: number;
	messages: number;
	bytes: number;
}

/** A steady room: light 500. */
export const steadyRoom = () => 500;

/**
 * A day compressed into one hour (one minute is 24 minutes of the day): night at 30, dawn, a day
 * around 800 with passing clouds, dusk, night again.
 */
export function compressedDay(tMs: number): number {
	const hour = (tMs / 3_600_000) * 24;
	const daylight = Math.max(0, Math.sin(((hour - 6) / 12) * Math.PI));
	const clouds = 1 - 0.35 * Math.max(0, Math.sin(hour * 5.3)) * Math.max(0, Math.sin(hour * 1.7));
	return 30 + 770 * daylight * clouds;
}

export function steadyHour(name: string, report: Partial<ReportOptions>, lessonServer: boolean, noise: number, trace: (tMs: number) => number = steadyRoom): SteadyResult {
	const clock = new FakeClock();
	const broker = new MemoryBroker();
	const deviceClient = new MemoryClient(broker);
	const serverClient = new MemoryClient(broker);
	let telemetry = 0;
	let commands = 0;
	let seed = 7;
	const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
	const startedAt = clock.now();
	const sensor = { read: () => Math.min(1023, Math.max(0, trace(clock.now() - startedAt) + (random() * 2 - 1) * noise)) / 1023, onReadable: undefined };
	const quiet = () => undefined;
	if (lessonServer) {
		serverClient.subscribe("+/telemetry", { qos: 0 });
		serverClient.on("message", ((topic: string, payload: Payload) => {
			const light = JSON.parse(new TextDecoder().decode(payload as Uint8Array)).light as number;
			serverClient.publish(topic.replace("telemetry", "commands"), JSON.stringify({ led_on: light < 300 }));
		}) as Listener);
	}
	else {
		new Server({ mqtt: serverClient, clock, log: quiet, rule: { threshold: 300, hysteresis: 20 } }).start();
	}
	serverClient.on("message", ((topic: string) => { if (topic.endsWith("/telemetry")) telemetry++; }) as Listener);
	deviceClient.on("message", ((topic: string) => { if (topic.endsWith("/commands")) commands++; }) as Listener);
	const before = broker.messages;
	const bytesBefore = broker.bytes;
	const device = new Device({ id: "room", sensor, led: { write: () => undefined }, clock, mqtt: deviceClient, log: quiet, report });
	device.start();
	clock.advance(3_600_000);
	return { name, telemetry, commands, messages: broker.messages - before, bytes: broker.bytes - bytesBefore };
}
