/*
 * Two server processes share the fleet through MQTT shared subscriptions, against Mosquitto on
 * 127.0.0.1: every device is commanded once per change (never twice, never forgotten), and when
 * one server is killed the other carries the whole fleet while the devices keep seeing a server
 * online.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import mqtt from "mqtt";
import { type TestBroker, mosquittoAvailable, startMosquitto } from "../support/brokers.js";
import { sleep, until } from "../support/wait.js";

const DEVICES = 60;
const run = mosquittoAvailable() ? describe : describe.skip;

run("two servers sharing the fleet (Mosquitto)", () => {
	let broker: TestBroker;
	const servers: ChildProcess[] = [];
	let fleet: mqtt.MqttClient;
	let watcher: mqtt.MqttClient;
	const commands = new Map<string, boolean[]>();
	const serverStatus: string[] = [];
	const ids = Array.from({ length: DEVICES }, (_, i) => `share-${process.pid}-${i}`);

	function startServer(): ChildProcess {
		const child = spawn(process.execPath, ["dist/nightlight.js", "server", "--http-port", "0", "--broker", broker.url, "--share", "nightlight", "--hysteresis", "0", "--log-level", "warn"], { stdio: "ignore" });
		servers.push(child);
		return child;
	}

	/** Every device reports `light`, 20 ms apart, as lesson devices (QoS 0, no retain) do. */
	async function reportAll(light: number): Promise<void> {
		for (const id of ids) {
			fleet.publish(`${id}/telemetry`, JSON.stringify({ light }), { qos: 0 });
			await sleep(20);
		}
	}

	const received = () => [...commands.values()].reduce((sum, list) => sum + list.length, 0);

	beforeAll(async () => {
		broker = await startMosquitto();
		watcher = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
		watcher.on("message", (topic, payload, packet) => {
			if (topic === "nightlight/server/status") {
				serverStatus.push(payload.toString());
				return;
			}
			if (packet.retain)
				return;
			const id = topic.slice(0, topic.indexOf("/"));
			commands.set(id, [...(commands.get(id) ?? []), JSON.parse(payload.toString()).led_on as boolean]);
		});
		await watcher.subscribeAsync(["+/commands", "nightlight/server/status"], { qos: 1 });
		fleet = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
		startServer();
		startServer();
		await until(() => serverStatus.filter((status) => status === "online").length >= 2, "both servers online", 15_000);
		await sleep(500);
	}, 30_000);

	afterAll(async () => {
		for (const child of servers)
			child.kill("SIGKILL");
		await watcher?.endAsync(true);
		await fleet?.endAsync(true);
		await broker?.stop();
	});

	test("each device is commanded once per change, whichever server reads it", async () => {
		await reportAll(900);
		await until(() => received() === DEVICES || undefined, "one command per device", 10_000);
		await reportAll(100);
		await until(() => received() === 2 * DEVICES || undefined, "a second command per device", 10_000);
		await reportAll(120);
		await reportAll(900);
		await until(() => received() === 3 * DEVICES || undefined, "a third command per device", 10_000);
		await sleep(500);
		for (const id of ids)
			expect([id, commands.get(id)]).toEqual([id, [false, true, false]]);
	}, 60_000);

	test("with one server killed the other carries the whole fleet, and devices still see a server online", async () => {
		const before = serverStatus.length;
		servers[0]!.kill("SIGKILL");
		await until(() => serverStatus.length > before + 1 || undefined, "the will, then the survivor's online", 10_000);
		expect(serverStatus.slice(before)).toEqual(["offline", "online"]);
		commands.clear();
		await reportAll(100);
		await until(() => received() === DEVICES || undefined, "a command per device from the survivor", 10_000);
		await sleep(500);
		for (const id of ids)
			expect([id, commands.get(id)]).toEqual([id, [true]]);
	}, 30_000);
});
