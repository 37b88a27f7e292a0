/*
 * A real `nightlight server` process with a short --forget-after, against Mosquitto on 127.0.0.1:
 * a device that falls silent disappears from /api/devices, its retained command is cleared on the
 * broker, the "forgotten" event reaches a live stream, and the device comes back when heard
 * again. Then the overrides journal against kill -9: every change the API confirmed is there
 * after a restart.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import mqtt from "mqtt";
import { type TestBroker, freePort, mosquittoAvailable, startMosquitto } from "../support/brokers.js";
import { SseClient } from "../support/sse.js";
import { sleep, until } from "../support/wait.js";

const run = mosquittoAvailable() ? describe : describe.skip;
const tag = `forget${process.pid}`;

run("forgetting devices and keeping overrides, in a server process (Mosquitto)", () => {
	let broker: TestBroker;
	let dir: string;
	const children: ChildProcess[] = [];
	const clients: mqtt.MqttClient[] = [];

	async function startServer(args: string[]): Promise<{ child: ChildProcess; url: string }> {
		const child = spawn(process.execPath, ["dist/nightlight.js", "server", "--http-port", "0", "--log-level", "info", ...args], { stdio: ["ignore", "pipe", "pipe"] });
		children.push(child);
		let output = "";
		child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
		child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
		const url = await until(() => /HTTP API at (http:\/\/\S+?)\/?\s/.exec(output)?.[1], "the server's HTTP address", 15_000);
		return { child, url };
	}

	async function connect(): Promise<mqtt.MqttClient> {
		const client = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
		clients.push(client);
		return client;
	}

	/** The retained command a fresh subscriber gets for `id`, or undefined when there is none. */
	async function retainedCommand(id: string): Promise<string | undefined> {
		const client = await connect();
		const sentinel = `${tag}/sentinel`;
		await client.publishAsync(sentinel, "here", { qos: 1, retain: true });
		const got: Array<[string, string]> = [];
		client.on("message", (topic, payload) => got.push([topic, payload.toString()]));
		await client.subscribeAsync(`${id}/commands`, { qos: 1 });
		// The broker sends a subscription's retained messages before it handles the next one.
		await client.subscribeAsync(sentinel, { qos: 1 });
		await until(() => got.some(([topic]) => topic === sentinel), "the sentinel");
		await client.endAsync();
		return got.find(([topic]) => topic === `${id}/commands`)?.[1];
	}

	/** Polls an answer from the API until it holds. */
	async function eventually(probe: () => Promise<boolean>, what: string): Promise<void> {
		for (let tries = 0; !(await probe()); tries++) {
			if (tries > 100)
				throw new Error(`gave up waiting for ${what}`);
			await sleep(100);
		}
	}

	beforeAll(async () => {
		dir = mkdtempSync(join(tmpdir(), "nightlight-forget-"));
		broker = await startMosquitto();
	});

	afterAll(async () => {
		for (const child of children)
			child.kill("SIGKILL");
		for (const client of clients)
			await client.endAsync(true);
		await broker?.stop();
		rmSync(dir, { recursive: true, force: true });
	});

	test("a device not heard for --forget-after is forgotten everywhere; heard again, it comes back", async () => {
		const { url } = await startServer(["--broker", broker.url, "--forget-after", "3s", "--state-dir", join(dir, "forget")]);
		const [gone, stays] = [`${tag}-gone`, `${tag}-stays`];
		const events = new SseClient(`${url}/api/events`);
		await until(() => events.status === 200, "the event stream");
		const devices = async () => ((await (await fetch(`${url}/api/devices`)).json()) as { devices: Array<{ id: string }> }).devices.map((device) => device.id);
		const lesson = await connect();
		// A lesson-style device keeps talking; the other says one thing and falls silent.
		const talking = setInterval(() => lesson.publish(`${stays}/telemetry`, `{"light":700}`), 500);
		try {
			await lesson.publishAsync(`${gone}/telemetry`, `{"light":100}`, { qos: 1 });
			await until(() => events.events.some((event) => event.type === "command" && event.data.id === gone), "the command to the silent device");
			expect(JSON.parse((await retainedCommand(gone))!)).toMatchObject({ led_on: true });

			await until(() => events.events.some((event) => event.type === "forgotten" && event.data.id === gone), "the forgotten event", 20_000);
			expect(await devices()).toEqual([stays]);
			expect(await retainedCommand(gone)).toBeUndefined();
			expect(events.events.some((event) => event.type === "forgotten" && event.data.id === stays)).toBe(false);

			await lesson.publishAsync(`${gone}/telemetry`, `{"light":100}`, { qos: 1 });
			await eventually(async () => (await devices()).includes(gone), "the device back in the list");
			await eventually(async () => (await retainedCommand(gone)) !== undefined, "its command retained again");
		}
		finally {
			clearInterval(talking);
			events.close();
		}
	}, 60_000);

	test("overrides the API confirmed are all there after kill -9 (journal, no broker to restore them)", async () => {
		const stateDir = join(dir, "kill");
		// A closed port: no broker, so the overrides can only come back from the state files.
		const noBroker = ["--broker", `mqtt://127.0.0.1:${await freePort()}`, "--state-dir", stateDir];
		const first = await startServer(noBroker);
		const ids = Array.from({ length: 30 }, (_, n) => `${tag}-lamp${n}`);
		for (const [n, id] of ids.entries()) {
			const response = await fetch(`${first.url}/api/overrides/device/${id}`, { method: "PUT", body: JSON.stringify({ mode: n % 2 === 0 ? "on" : "off" }) });
			expect(response.status).toBe(200);
		}
		expect((await fetch(`${first.url}/api/overrides/device/${ids[0]}`, { method: "DELETE" })).status).toBe(200);
		first.child.kill("SIGKILL");
		await new Promise((resolve) => first.child.once("exit", resolve));
		expect(existsSync(join(stateDir, "overrides.journal"))).toBe(true);

		const second = await startServer(noBroker);
		const { overrides } = (await (await fetch(`${second.url}/api/overrides`)).json()) as { overrides: Array<{ id: string; mode: string }> };
		expect(overrides.map(({ id, mode }) => [id, mode]).sort()).toEqual(ids.slice(1).map((id, n) => [id, (n + 1) % 2 === 0 ? "on" : "off"]).sort());
		// Folded into the snapshot at start.
		expect(existsSync(join(stateDir, "overrides.journal"))).toBe(false);
	}, 60_000);
});
