/*
 * The device and the server together on a fake broker and a fake clock, through outages of 0.2 s
 * to 30 s while the light flaps across the threshold: replayed readings never decide, however
 * young, so the lamp never switches because of a replay; every reading arrives, in order. The
 * same with the device's clock an hour ahead or behind: no clock is compared across machines.
 */
import { describe, expect, test } from "@jest/globals";
import { Device, deviceWill } from "../src/device.js";
import type { Led, Log } from "../src/ports.js";
import { Server, type ServerEvent, serverWill } from "../server/server.js";
import { FakeBus } from "./support/fake-bus.js";
import { FakeClock } from "./support/fake-clock.js";
import { Sensor } from "./scenarios/device.js";

class CountingLed implements Led {
	on = false;
	switches = 0;
	write(on: boolean): void {
		if (on !== this.on)
			this.switches++;
		this.on = on;
	}
}

const quiet: Log = () => undefined;

function rig(wallOffset: number) {
	const bus = new FakeBus();
	const clock = new FakeClock();
	clock.wallOffset = wallOffset;
	const serverClient = bus.client(serverWill());
	const commands: ServerEvent[] = [];
	const server = new Server({ mqtt: serverClient, clock, log: quiet, rule: { threshold: 300, hysteresis: 20 }, onEvent: (event) => {
		if (event.type === "command" && event.reason === "changed")
			commands.push(event);
	} });
	const deviceClient = bus.client(deviceWill("room"));
	const readings: Array<{ seq: number; replay: boolean }> = [];
	const watcher = bus.client();
	watcher.connect();
	watcher.subscribe("room/telemetry", { qos: 1 });
	watcher.on("message", (_topic: string, payload: string, packet: { retain?: boolean }) => {
		if (packet?.retain)
			return;
		const body = JSON.parse(payload) as { seq: number; replay?: boolean };
		readings.push({ seq: body.seq, replay: body.replay === true });
	});
	const sensor = new Sensor();
	sensor.level = 100;
	const led = new CountingLed();
	const device = new Device({ id: "room", sensor, led, clock, mqtt: deviceClient, log: quiet, report: { minGapMs: 100 } });
	serverClient.connect();
	server.start();
	deviceClient.connect();
	device.start();
	const run = (ms: number) => {
		for (let t = 0; t < ms; t += 50) {
			clock.advance(Math.min(50, ms - t));
			bus.flush();
		}
	};
	run(1_000);
	return { bus, clock, server, device, deviceClient, sensor, led, commands, readings, run };
}

describe("outages of 0.2 s to 30 s, the device and the server together", () => {
	for (const [name, offset] of [["a true clock", 0], ["a device clock an hour ahead", 3_600_000], ["a device clock an hour behind", -3_600_000]] as const) {
		test(`with ${name}: no LED switch from a replay, every reading arrives in order`, () => {
			const r = rig(offset);
			expect(r.led.on).toBe(true);
			const switches = r.led.switches;
			const commands = r.commands.length;
			for (const outage of [200, 500, 1_000, 4_900, 12_000, 30_000]) {
				r.deviceClient.drop();
				// The light flaps across the threshold for up to 5 s, then it is dark again.
				for (let t = 0; t < outage; t += 100) {
					r.sensor.set(t < 5_000 && (t / 100) % 2 === 0 ? 900 : 100);
					r.run(100);
				}
				r.sensor.set(100);
				r.run(100);
				r.deviceClient.connect();
				r.run(3_000);
				expect(r.device.stats.queued).toBe(0);
				expect(r.device.mode).toBe("remote");
			}
			expect(r.led.switches - switches).toBe(0);
			expect(r.commands.length - commands).toBe(0);
			expect(r.led.on).toBe(true);
			const numbers = [...new Set(r.readings.map((item) => item.seq))];
			expect(numbers).toEqual([...Array(r.device.stats.readings).keys()]);
			expect(r.readings.filter((item) => item.replay).length).toBeGreaterThan(30);
			expect(r.server.stats.replayed).toBe(r.readings.filter((item) => item.replay).length);
		});
	}
});
