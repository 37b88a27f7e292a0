/*
 * Groups and overrides in a split fleet: two `nightlight server --share --groups` processes against
 * Mosquitto on 127.0.0.1. The stadium's five sensors report as lesson devices do; whichever server
 * the broker hands a reading to, both know the group's median, one commands the floodlights, once per
 * change. An override made through one server's API is in force on the other. When the owner is
 * killed, the survivor takes the group over and sends the change the owner could not.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import mqtt from "mqtt";
import { type TestBroker, mosquittoAvailable, startMosquitto } from "../support/brokers.js";
import { sleep, until } from "../support/wait.js";

const run = mosquittoAvailable() ? describe : describe.skip;
const tag = `fleet${process.pid}`;
const SENSORS = ["north", "south", "east", "west", "roof"].map((name) => `${tag}-${name}`);
const FLOODLIGHTS = [`${tag}-flood1`, `${tag}-flood2`];

interface RunningServer {
	child: ChildProcess;
	url: string;
	instance: string;
}

run("groups and overrides across two servers sharing the fleet (Mosquitto)", () => {
	let broker: TestBroker;
	let dir: string;
	const servers: RunningServer[] = [];
	let sensors: mqtt.MqttClient;
	let watcher: mqtt.MqttClient;
	/** Commands as sent (not retained copies), per floodlight, with when they arrived. */
	const commands = new Map<string, Array<{ led_on: boolean; at: number }>>();
	const ledsOf = (id: string) => (commands.get(id) ?? []).map((command) => command.led_on);
	const sent = () => FLOODLIGHTS.map(ledsOf);

	async function startServer(name: string): Promise<RunningServer> {
		const args = ["dist/nightlight.js", "server", "--broker", broker.url, "--share", "night", "--groups", join(dir, "groups.json"), "--state-dir", join(dir, name), "--http-port", "0", "--log-level", "info"];
		const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
		let output = "";
		child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
		child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
		const url = await until(() => /HTTP API at (http:\/\/\S+?)\/?\s/.exec(output)?.[1], `server ${name}'s HTTP address`, 15_000);
		const health = (await (await fetch(`${url}/api/health`)).json()) as { server: string };
		const server = { child, url, instance: health.server };
		servers.push(server);
		return server;
	}

	async function api<T>(server: RunningServer, method: string, path: string, body?: unknown): Promise<T> {
		const response = await fetch(`${server.url}${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }) });
		return (await response.json()) as T;
	}

	async function report(lights: number[]): Promise<void> {
		SENSORS.forEach((id, index) => sensors.publish(`${id}/telemetry`, JSON.stringify({ light: lights[index] }), { qos: 0 }));
		await sleep(50);
	}

	/** Waits for `count` commands per floodlight, then a little more to catch a second copy. */
	async function commandsReach(count: number, what: string): Promise<void> {
		await until(() => FLOODLIGHTS.every((id) => ledsOf(id).length >= count) || undefined, what, 10_000);
		await sleep(700);
	}

	beforeAll(async () => {
		dir = mkdtempSync(join(tmpdir(), "nightlight-fleet-"));
		writeFileSync(join(dir, "groups.json"), JSON.stringify({ groups: [{ name: "stadium", sensors: SENSORS, leds: FLOODLIGHTS, minFresh: 3 }] }));
		broker = await startMosquitto();
		watcher = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
		watcher.on("message", (topic, payload, packet) => {
			if (packet.retain)
				return;
			const id = topic.slice(0, topic.indexOf("/"));
			commands.set(id, [...(commands.get(id) ?? []), { led_on: JSON.parse(payload.toString()).led_on as boolean, at: Date.now() }]);
		});
		await watcher.subscribeAsync(FLOODLIGHTS.map((id) => `${id}/commands`), { qos: 1 });
		sensors = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
		const [a, b] = [await startServer("a"), await startServer("b")];
		for (const server of [a!, b!]) {
			for (let i = 0; ; i++) {
				const health = await api<{ servers: string[] }>(server, "GET", "/api/health");
				if (health.servers.length === 2)
					break;
				if (i > 100)
					throw new Error(`server ${server.instance} never heard the other: ${JSON.stringify(health.servers)}`);
				await sleep(100);
			}
		}
		// Both settled: each has heard the other and waited out its settling time.
		await sleep(1_200);
	}, 60_000);

	afterAll(async () => {
		for (const server of servers)
			server.child.kill("SIGKILL");
		await watcher?.endAsync(true);
		await sensors?.endAsync(true);
		await broker?.stop();
		rmSync(dir, { recursive: true, force: true });
	});

	test("the stadium: one shaded sensor switches nothing, three do, once per floodlight", async () => {
		await report([700, 700, 700, 700, 700]);
		await commandsReach(1, "the group's first decision");
		expect(sent()).toEqual([[false], [false]]);
		const views = await Promise.all(servers.map((server) => api<{ groups: Array<{ light: number; fresh: number; owner: string }> }>(server, "GET", "/api/groups")));
		// Both servers know the whole group, whichever of them each reading reached.
		expect(views.map((view) => view.groups[0])).toEqual([expect.objectContaining({ light: 700, fresh: 5 }), expect.objectContaining({ light: 700, fresh: 5 })]);
		expect(views[0]!.groups[0]!.owner).toBe(views[1]!.groups[0]!.owner);
		await report([700, 700, 20, 700, 700]);
		await sleep(700);
		expect(sent()).toEqual([[false], [false]]);
		await report([700, 700, 20, 20, 20]);
		await commandsReach(2, "floodlights on");
		expect(sent()).toEqual([[false, true], [false, true]]);
	}, 30_000);

	test("an override made through one server is in force on both, and commanded once", async () => {
		const [a, b] = servers as [RunningServer, RunningServer];
		await api(a, "PUT", "/api/overrides/group/stadium", { mode: "off" });
		await commandsReach(3, "floodlights forced off");
		expect(sent()).toEqual([[false, true, false], [false, true, false]]);
		expect(await api<{ overrides: unknown[] }>(b, "GET", "/api/overrides")).toEqual({ overrides: [expect.objectContaining({ kind: "group", id: "stadium", mode: "off", by: a.instance })] });
		await api(b, "DELETE", "/api/overrides/group/stadium");
		await commandsReach(4, "floodlights back to the group's decision");
		expect(sent()).toEqual([[false, true, false, true], [false, true, false, true]]);
		expect(await api<{ overrides: unknown[] }>(a, "GET", "/api/overrides")).toEqual({ overrides: [] });
	}, 30_000);

	test("the owner killed: the survivor takes the group over and sends the change it missed", async () => {
		const owner = (await api<{ groups: Array<{ owner: string }> }>(servers[0]!, "GET", "/api/groups")).groups[0]!.owner;
		const victim = servers.find((server) => server.instance === owner)!;
		const survivor = servers.find((server) => server.instance !== owner)!;
		const killedAt = Date.now();
		victim.child.kill("SIGKILL");
		// Daylight comes back while the owner is gone.
		await report([700, 700, 700, 700, 700]);
		await commandsReach(5, "the survivor's command");
		expect(sent()).toEqual([[false, true, false, true, false], [false, true, false, true, false]]);
		const failoverMs = Math.max(...FLOODLIGHTS.map((id) => commands.get(id)!.at(-1)!.at)) - killedAt;
		process.stdout.write(`figure: group failover, owner SIGKILL to the survivor's command: ${failoverMs} ms\n`);
		const view = await api<{ groups: Array<{ owner: string }> }>(survivor, "GET", "/api/groups");
		expect(view.groups[0]!.owner).toBe(survivor.instance);
		expect((await api<{ servers: string[] }>(survivor, "GET", "/api/health")).servers).toEqual([survivor.instance]);
	}, 30_000);
});
