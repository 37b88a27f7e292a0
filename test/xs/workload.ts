/*
 * The benchmark workload: the device core on a fake clock and a client that only counts what is
 * published (a recording fake would itself grow with every message and hide the core's own heap).
 * Portable: it runs on XS under test/xs and on Node alike.
 */
import { Device } from "../../src/device.js";
import type { Led, LightSensor, MqttClient, Payload, QoS } from "../../src/ports.js";
import { Emitter } from "../support/emitter.js";
import { FakeClock } from "../support/fake-clock.js";

export class CountingMqtt extends Emitter implements MqttClient {
	connected = false;
	published = 0;
	publish(_topic: string, _message: string, _options?: unknown, callback?: (error?: Error) => void): this {
		this.published++;
		callback?.();
		return this;
	}
	subscribe(_topic: string, _options: { qos: QoS }, callback?: (error: Error | null) => void): this {
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

const encoder = new TextEncoder();
const ON = encoder.encode(`{"led_on":true}`).buffer as ArrayBuffer;
const OFF = encoder.encode(`{"led_on":false}`).buffer as ArrayBuffer;

export class Workload {
	clock = new FakeClock();
	mqtt = new CountingMqtt();
	level = 500;
	ledWrites = 0;
	logLines = 0;
	device: Device;

	constructor() {
		const sensor: LightSensor = { read: () => this.level / 1023 };
		const led: Led = { write: () => { this.ledWrites++; } };
		this.device = new Device({
			id: "bench",
			sensor,
			led,
			clock: this.clock,
			mqtt: this.mqtt,
			log: () => { this.logLines++; },
		});
		this.mqtt.connected = true;
		this.device.start();
	}

	/** A steady room for `ms`: samples every 100 ms, a heartbeat a minute. */
	steady(ms: number): void {
		this.clock.advance(ms);
	}

	/** `count` light steps, each reported: the level jumps past the deadband, 300 ms apart (the gap is 250 ms). */
	telemetry(count: number): void {
		for (let i = 0; i < count; i++) {
			this.level = this.level === 200 ? 800 : 200;
			this.clock.advance(300);
		}
	}

	/** `count` commands as ArrayBuffers (as mqtt/js hands them over), alternating on and off. */
	commands(count: number): void {
		for (let i = 0; i < count; i++)
			this.mqtt.emit("message", "bench/commands", (i & 1 ? OFF : ON) as Payload);
	}

	get figures(): { telemetrySent: number; commandsApplied: number; published: number; ledWrites: number; rejected: number; logLines: number } {
		const stats = this.device.stats;
		return {
			telemetrySent: stats.telemetrySent,
			commandsApplied: stats.commandsApplied,
			published: this.mqtt.published,
			ledWrites: this.ledWrites,
			rejected: stats.rejected,
			logLines: this.logLines,
		};
	}
}
