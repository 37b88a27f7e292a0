/*
 * Fault injection against real Mosquitto on 127.0.0.1: a proxy of ours (test/support/fault-proxy.ts)
 * between the device (and the server) and the broker black-holes, delays, cuts up and resets the
 * link, and the device's clock is set wrong. Each test is bounded in time and prints what it
 * measured as `figure:` lines: readings lost, LED switches per outage, time to local mode.
 */
import { afterEach, describe, expect, test } from "@jest/globals";
import mqtt from "mqtt";
import type { DeviceEvent } from "../../src/device.js";
import type { Clock, Led, Log } from "../../src/ports.js";
import { deviceClock } from "../../runtime/node/clock.js";
import { type NodeDevice, startNodeDevice } from "../../hosts/node/device.js";
import { type NodeServer, startNodeServer } from "../../server/node.js";
import type { ServerEvent } from "../../server/server.js";
import { FaultProxy } from "../support/fault-proxy.js";
import { mosquittoAvailable, startMosquitto } from "../support/brokers.js";
import { sleep, until } from "../support/wait.js";

class RecordingLed implements Led {
	on = false;
	switches: Array<{ on: boolean; at: number }> = [];
	write(on: boolean): void {
		if (on !== this.on)
			this.switches.push({ on, at: Date.now() });
		this.on = on;
	}
}

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
	while (cleanups.length)
		await cleanups.pop()!();
});

const quiet: Log = () => undefined;

function figure(line: string): void {
	console.log(`figure: ${line}`);
}

/** Every reading of one device as a subscriber on the broker sees it, in arrival order. */
async function watchReadings(url: string, id: string): Promise<Array<{ light: number; seq: number; replay: boolean }>> {
	const seen: Array<{ light: number; seq: number; replay: boolean }> = [];
	const client = mqtt.connect(url, { clientId: `watch-${id}-${process.pid}`, reconnectPeriod: 200 });
	cleanups.push(() => new Promise<void>((resolve) => client.end(true, {}, () => resolve())));
	client.on("message", (_topic, payload) => {
		const body = JSON.parse(payload.toString()) as { light: number; seq: number; replay?: boolean };
		seen.push({ light: body.light, seq: body.seq, replay: body.replay === true });
	});
	await new Promise<void>((resolve, reject) => {
		client.once("connect", () => client.subscribe(`${id}/telemetry`, { qos: 1 }, (error) => (error ? reject(error) : resolve())));
	});
	return seen;
}

/** The numbers 0..count-1 each arrived, and the first arrival of each is in order. */
function lostAndDisorder(seen: Array<{ seq: number }>, count: number): { lost: number[]; disorder: number } {
	const first: number[] = [];
	const known = new Set<number>();
	for (const { seq } of seen) {
		if (!known.has(seq)) {
			known.add(seq);
			first.push(seq);
		}
	}
	const lost: number[] = [];
	for (let seq = 0; seq < count; seq++) {
		if (!known.has(seq))
			lost.push(seq);
	}
	let disorder = 0;
	for (let i = 1; i < first.length; i++) {
		if (first[i]! < first[i - 1]!)
			disorder++;
	}
	return { lost, disorder };
}

function server(url: string, onEvent?: (event: ServerEvent) => void): NodeServer {
	const node = startNodeServer({ url, rule: { threshold: 300, hysteresis: 20 }, log: quiet, link: { initialDelayMs: 100, maxDelayMs: 1_000, stableMs: 1_000, maxAttemptsPerMinute: 120 }, ...(onEvent ? { onEvent } : {}) });
	cleanups.push(() => node.stop());
	return node;
}

function device(options: Partial<Parameters<typeof startNodeDevice>[0]> & { id: string; url: string }): NodeDevice & { led: RecordingLed; events: Array<DeviceEvent & { at: number }> } {
	const led = new RecordingLed();
	const events: Array<DeviceEvent & { at: number }> = [];
	const node = startNodeDevice({
		light: 800,
		log: quiet,
		led,
		report: { minGapMs: 100 },
		onEvent: (event) => events.push({ ...event, at: Date.now() }),
		...options,
	});
	cleanups.push(() => node.stop());
	return { ...node, led, events };
}

const run = mosquittoAvailable() ? describe : describe.skip;

run("fault injection, against Mosquitto", () => {
	test("a black hole: every reading taken arrives, in order; local mode from the last packet heard lights the dark room", async () => {
		const broker = await startMosquitto();
		cleanups.push(() => broker.stop());
		const proxy = await FaultProxy.start(broker.port);
		cleanups.push(() => proxy.close());
		const seen = await watchReadings(broker.url, "hole1");
		server(broker.url);
		// The defaults that matter here: keep-alive 10 s, grace 10 s.
		const node = device({ id: "hole1", url: proxy.url });
		await until(() => node.device.stats.telemetrySent > 0 && node.device.mode === "remote", "the device online");
		await sleep(300);
		// Readings every 300 ms, all bright (no LED change), while the link works and after it stops.
		let level = 700;
		const step = async (count: number) => {
			for (let i = 0; i < count; i++) {
				level = level === 700 ? 760 : 700;
				node.sensor.set(level);
				await sleep(300);
			}
		};
		await step(5);
		const holeAt = Date.now();
		proxy.blackHole();
		await step(7);
		node.sensor.set(100);
		await until(() => node.device.mode === "local" && node.led.on, "local mode lighting the dark room", 40_000);
		const local = node.events.find((event) => event.type === "mode" && event.mode === "local" && event.at >= holeAt)!;
		const lit = node.led.switches.find((item) => item.on && item.at >= holeAt)!;
		figure(`black hole (keep-alive 10 s, grace 10 s): local mode after ${((local.at - holeAt) / 1000).toFixed(1)} s, the dark room lit after ${((lit.at - holeAt) / 1000).toFixed(1)} s (promise: within grace + keep-alive, 20 s)`);
		expect(local.at - holeAt).toBeGreaterThan(0);
		proxy.heal();
		const taken = node.device.stats.readings;
		await until(() => lostAndDisorder(seen, taken).lost.length === 0 && node.device.stats.queued === 0, "every reading at the broker", 30_000);
		const { lost, disorder } = lostAndDisorder(seen, taken);
		figure(`black hole: ${taken} readings taken, ${lost.length} lost, ${disorder} out of order, ${seen.length - taken} repeats (harmless: numbered)`);
		expect(lost).toEqual([]);
		expect(disorder).toBe(0);
		await until(() => node.device.mode === "remote", "control handed back", 15_000);
		await sleep(1_000);
		expect(node.led.on).toBe(true);
		expect(node.led.switches.filter((item) => item.at >= holeAt)).toHaveLength(1);
	}, 90_000);

	test("20 outages of 0.2 s to 3 s, broker links of device and server cut together: nothing lost, no LED switch from a replay", async () => {
		const broker = await startMosquitto();
		cleanups.push(() => broker.stop());
		const deviceLink = await FaultProxy.start(broker.port);
		const serverLink = await FaultProxy.start(broker.port);
		cleanups.push(() => deviceLink.close(), () => serverLink.close());
		const seen = await watchReadings(broker.url, "flap1");
		const commands: ServerEvent[] = [];
		server(serverLink.url, (event) => {
			if (event.type === "command" && event.reason === "changed")
				commands.push(event);
		});
		const node = device({ id: "flap1", url: deviceLink.url, light: 100, link: { initialDelayMs: 100, maxDelayMs: 1_000, stableMs: 1_000, maxAttemptsPerMinute: 120 } });
		await until(() => node.led.on, "the LED on in the dark");
		const commandsBefore = commands.length;
		const switchesBefore = node.led.switches.length;
		const durations = [200, 500, 1_000, 2_000, 3_000];
		const perOutage: number[] = [];
		for (let i = 0; i < 20; i++) {
			const switches = node.led.switches.length;
			deviceLink.refuse(true);
			serverLink.refuse(true);
			// The light flaps across the threshold during the outage and comes back to dark.
			const end = Date.now() + durations[i % durations.length]!;
			let bright = true;
			while (Date.now() < end) {
				node.sensor.set(bright ? 900 : 100);
				bright = !bright;
				await sleep(Math.min(120, Math.max(10, end - Date.now())));
			}
			node.sensor.set(100);
			deviceLink.refuse(false);
			serverLink.refuse(false);
			await until(() => node.device.stats.queued === 0 && node.device.mode === "remote" && node.client.connected, `reconnected after outage ${i + 1}`, 20_000);
			await sleep(600);
			perOutage.push(node.led.switches.length - switches);
		}
		const taken = node.device.stats.readings;
		await until(() => lostAndDisorder(seen, taken).lost.length === 0, "every reading at the broker", 20_000);
		const { lost, disorder } = lostAndDisorder(seen, taken);
		const replays = seen.filter((item) => item.replay).length;
		figure(`20 outages: ${taken} readings taken, ${lost.length} lost, ${disorder} out of order, ${replays} replayed; LED switches per outage ${perOutage.join(" ")}; server commands ${commands.length - commandsBefore}`);
		expect(lost).toEqual([]);
		expect(disorder).toBe(0);
		expect(replays).toBeGreaterThan(20);
		expect(node.led.switches.length - switchesBefore).toBe(0);
		expect(commands.length - commandsBefore).toBe(0);
		expect(node.led.on).toBe(true);
	}, 180_000);

	test("a device clock an hour behind, an hour ahead, unset or jumping: the server commands it, and after a local spell it follows again", async () => {
		const broker = await startMosquitto();
		cleanups.push(() => broker.stop());
		const variants: Array<[string, () => number]> = [
			["an hour behind", () => Date.now() - 3_600_000],
			["an hour ahead", () => Date.now() + 3_600_000],
			["unset (1970)", () => performance.now()],
			["jumping by hours", () => Date.now() + (Math.floor(performance.now() / 700) % 2 ? 7_200_000 : -7_200_000)],
		];
		let first: NodeServer | undefined = server(broker.url);
		for (const [name, wall] of variants) {
			const id = `clock-${variants.findIndex(([other]) => other === name)}`;
			const clock: Clock = { ...deviceClock, wall };
			const node = device({ id, url: broker.url, clock, graceMs: 1_000 });
			await until(() => node.device.mode === "remote" && node.device.stats.telemetrySent > 0, `${name}: online`);
			node.sensor.set(100);
			await until(() => node.led.on, `${name}: the server lights the dark room`);
			node.sensor.set(900);
			await until(() => !node.led.on, `${name}: and puts it out`);
			// The server goes away: the device decides by itself for a while, then the server is back.
			await first!.stop();
			first = undefined;
			await until(() => node.device.mode === "local", `${name}: local mode`);
			node.sensor.set(100);
			await until(() => node.led.on, `${name}: local decision`);
			first = server(broker.url);
			await until(() => node.device.mode === "remote", `${name}: control handed back`);
			node.sensor.set(900);
			await until(() => !node.led.on, `${name}: the server's command is followed after the local spell`);
			node.sensor.set(100);
			await until(() => node.led.on, `${name}: and the next`);
			figure(`device clock ${name}: the server commanded it before and after a local spell`);
			await node.stop();
		}
	}, 120_000);

	test("latency and a link that delivers a few bytes at a time: the nightlight still works, nothing rejected", async () => {
		const broker = await startMosquitto();
		cleanups.push(() => broker.stop());
		const proxy = await FaultProxy.start(broker.port);
		cleanups.push(() => proxy.close());
		proxy.latencyMs = 150;
		proxy.chunkBytes = 3;
		proxy.chunkGapMs = 2;
		const node0 = server(broker.url);
		const node = device({ id: "slow1", url: proxy.url });
		await until(() => node.device.mode === "remote" && node.device.stats.telemetrySent > 0, "online through the slow link", 20_000);
		const started = Date.now();
		node.sensor.set(100);
		await until(() => node.led.on, "lit through the slow link", 20_000);
		figure(`150 ms latency, 3-byte pieces 2 ms apart: dark to LED on in ${Date.now() - started} ms`);
		node.sensor.set(900);
		await until(() => !node.led.on, "put out through the slow link", 20_000);
		expect(node0.server.stats.rejected).toBe(0);
		expect(node.device.stats.rejected).toBe(0);
	}, 60_000);
});
