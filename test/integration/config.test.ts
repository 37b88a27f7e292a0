/*
 * Settings changed on a running Node device, as a user does it: `nightlight device` with a state
 * folder, its console on stdin, `<id>/config/set` over MQTT and `nightlight config`, against
 * Mosquitto (or Aedes) on 127.0.0.1. What is set survives a restart of the process.
 */
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, test } from "@jest/globals";
import mqtt from "mqtt";
import { type TestBroker, mosquittoAvailable, startAedes, startMosquitto } from "../support/brokers.js";
import { runCli, startCli, stopCli } from "../support/cli.js";
import { sleep, until } from "../support/wait.js";

const children: ChildProcessWithoutNullStreams[] = [];
const dir = mkdtempSync(join(tmpdir(), "nightlight-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const brokers: TestBroker[] = [];
afterEach(async () => {
	while (children.length)
		await stopCli(children.pop()!);
	while (brokers.length)
		await brokers.pop()!.stop();
});

async function broker(): Promise<TestBroker> {
	const started = mosquittoAvailable() ? await startMosquitto() : await startAedes();
	brokers.push(started);
	return started;
}

/** Everything said on `<id>/config` and `<id>/state`, newest last. */
async function watch(url: string, id: string) {
	const client = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
	const config: Array<{ revision: number; settings: Record<string, unknown>; refused: Record<string, string>; restart: string[] }> = [];
	const state: Array<{ led_on: boolean; mode: string }> = [];
	client.on("message", (topic, payload) => {
		if (payload.length === 0)
			return;
		if (topic === `${id}/config`)
			config.push(JSON.parse(payload.toString()));
		else if (topic === `${id}/state`)
			state.push(JSON.parse(payload.toString()));
	});
	await client.subscribeAsync([`${id}/config`, `${id}/state`], { qos: 1 });
	return { client, config, state, close: () => client.endAsync() };
}

function device(url: string, id: string, stateDir: string, extra: string[] = []) {
	return startCli(["device", "--broker", url, "--id", id, "--state-dir", stateDir, "--grace-ms", "500", "--light", "280", ...extra], children);
}

describe("settings on a running device", () => {
	test("over MQTT: applied live, kept, answered on <id>/config; a bad change is refused whole", async () => {
		const { url } = await broker();
		const stateDir = join(dir, "mqtt");
		const seen = await watch(url, "cfg1");
		try {
			// The server is announced gone: the device decides by itself with its own threshold.
			await seen.client.publishAsync("nightlight/server/status", "offline", { qos: 1, retain: true });
			const { output } = device(url, "cfg1", stateDir);
			await until(() => seen.config.length > 0, "the device says its settings at connect");
			expect(seen.config.at(-1)).toMatchObject({ revision: 0, refused: {}, restart: [] });
			expect(seen.config.at(-1)!.settings).toMatchObject({ threshold: 300, broker: url, id: "cfg1" });
			// Local mode, light 280 under threshold 300: lit.
			await until(() => seen.state.at(-1)?.mode === "local" && seen.state.at(-1)?.led_on === true, "local mode, lit");
			await seen.client.publishAsync("cfg1/config/set", JSON.stringify({ threshold: 250 }), { qos: 1 });
			await until(() => seen.config.at(-1)?.revision === 1, "revision 1");
			expect(seen.config.at(-1)!.settings.threshold).toBe(250);
			await until(() => seen.state.at(-1)?.led_on === false, "threshold 250 applied at once: 280 is bright now");
			await seen.client.publishAsync("cfg1/config/set", JSON.stringify({ threshold: 9999, hysteresis: 5, colour: "red" }), { qos: 1 });
			await until(() => Object.keys(seen.config.at(-1)?.refused ?? {}).length > 0, "the refusal");
			expect(Object.keys(seen.config.at(-1)!.refused).sort()).toEqual(["colour", "threshold"]);
			expect(seen.config.at(-1)).toMatchObject({ revision: 1, settings: { threshold: 250, hysteresis: 20 } });
			await seen.client.publishAsync("cfg1/config/set", "not json", { qos: 1 });
			await until(() => seen.config.at(-1)?.refused["*"] === "not JSON", "malformed payload refused");
			const file = JSON.parse(readFileSync(join(stateDir, "device-cfg1.json"), "utf8")) as { revision: number; settings: Record<string, unknown> };
			expect(file).toEqual({ revision: 1, settings: { threshold: 250 } });
			expect(output.text).toContain("settings changed: threshold (revision 1)");
		}
		finally {
			await seen.close();
		}
	}, 30_000);

	test("the console on stdin, and what is set survives a restart of the device", async () => {
		const { url } = await broker();
		const stateDir = join(dir, "console");
		const first = device(url, "cfg2", stateDir);
		await until(() => first.output.text.includes("connected"), "connected");
		first.child.stdin.write("set threshold 200\n");
		await until(() => first.output.text.includes("ok: threshold=200"), "set answered");
		first.child.stdin.write("set keepalive 20\n");
		await until(() => first.output.text.includes("ok: keepalive=20; type reboot to use it"), "a restart setting says so");
		first.child.stdin.write("set threshold lots\n");
		await until(() => first.output.text.includes(`error: threshold must be an integer 0..1024, got "lots"`), "a bad value: one clear line");
		first.child.stdin.write("show\n");
		await until(() => first.output.text.includes("threshold=200 (stored)") && first.output.text.includes("at the next reboot: keepalive"), "show");
		first.child.stdin.write("500\n");
		await until(() => first.output.text.includes("light set to 500"), "a light level still works");
		await stopCli(first.child);
		const seen = await watch(url, "cfg2");
		try {
			const second = device(url, "cfg2", stateDir, ["--threshold", "300"]);
			await until(() => seen.config.some((report) => report.revision === 2 && report.restart.length === 0), "the restarted device's report");
			expect(seen.config.at(-1)!.settings).toMatchObject({ threshold: 200, keepalive: 20 });
			expect(second.output.text).toContain(`threshold: the stored value wins over the command line's (type "unset threshold" to use the command line's)`);
			second.child.stdin.write("unset threshold\n");
			await until(() => second.output.text.includes("ok: threshold=300"), "unset: the command line's again");
		}
		finally {
			await seen.close();
		}
	}, 40_000);

	test("nightlight config <id> k=v: the answer printed, refusals named, exit codes", async () => {
		const { url } = await broker();
		device(url, "cfg3", join(dir, "cli"));
		const seen = await watch(url, "cfg3");
		try {
			await until(() => seen.config.length > 0, "online");
			const changed = runCli(["config", "cfg3", "threshold=240", "deadband=30", "--broker", url]);
			expect(changed.stderr).toBe("");
			expect(changed.status).toBe(0);
			expect(changed.stdout).toContain("cfg3: revision 1 (changed)");
			expect(changed.stdout).toContain("threshold=240");
			const shown = runCli(["config", "cfg3", "--broker", url]);
			expect(shown.status).toBe(0);
			expect(shown.stdout).toContain("deadband=30");
			const bad = runCli(["config", "cfg3", "threshold=lots", "--broker", url]);
			expect(bad.status).toBe(2);
			expect(bad.stderr).toContain(`threshold must be an integer 0..1024, got "lots"`);
			const unknown = runCli(["config", "cfg3", "colour=red", "--broker", url]);
			expect(unknown.status).toBe(2);
			expect(unknown.stderr).toContain(`no setting "colour"`);
			const absent = runCli(["config", "nobody-here", "threshold=1", "--broker", url, "--timeout-ms", "1500"]);
			expect(absent.status).toBe(1);
			expect(absent.stderr).toContain("no answer from nobody-here within 1.5 s");
		}
		finally {
			await seen.close();
		}
	}, 40_000);
});

describe("settings through the HTTP API of nightlight up", () => {
	test("PUT /api/devices/<id>/config changes the device and the server's decision; PUT /api/config the fleet's", async () => {
		const { child, output } = startCli(["up", "--mqtt-port", "0", "--ws-port", "0", "--http-port", "0", "--state-dir", join(dir, "up"), "--id", "cfg-up", "--light", "400"], children);
		await until(() => /dashboard\s+http:\/\/127\.0\.0\.1:\d+\//.test(output.text), "the banner", 15_000);
		const base = /dashboard\s+(http:\/\/127\.0\.0\.1:\d+\/)/.exec(output.text)![1]!;
		const api = (path: string, init?: RequestInit) => fetch(new URL(path, base), init).then(async (response) => ({ status: response.status, body: await response.json() as Record<string, unknown> }));
		for (let tries = 0; tries < 150 && (await api("api/devices/cfg-up/config")).status !== 200; tries++)
			await sleep(100);
		const put = (path: string, body: unknown) => api(path, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
		// Light 400 is bright under the server's threshold 300: the LED is off.
		expect(output.text).not.toContain("LED on");
		const changed = await put("api/devices/cfg-up/config", { threshold: 500 });
		expect(changed.status).toBe(200);
		expect(changed.body.config).toMatchObject({ revision: 1, settings: { threshold: 500 }, stored: ["threshold"] });
		await until(() => output.text.includes("LED on"), "the server decides with the device's new threshold: 400 is dark under 500");
		const devices = await api("api/devices");
		expect((devices.body.devices as Array<{ id: string; threshold: number }>).find((item) => item.id === "cfg-up")?.threshold).toBe(500);
		const refused = await put("api/devices/cfg-up/config", { threshold: "high" });
		expect(refused.status).toBe(400);
		expect(refused.body.refused).toMatchObject({ threshold: expect.stringContaining("integer") });
		const absent = await put("api/devices/nobody/config", { threshold: 250 });
		expect(absent.status).toBe(504);
		const fleet = await put("api/config", { threshold: 350 });
		expect(fleet.status).toBe(200);
		expect(fleet.body).toMatchObject({ changed: 1, failed: 0, devices: { "cfg-up": { ok: true, revision: 2 } } });
		const shown = await api("api/devices/cfg-up/config");
		expect(shown.body.config).toMatchObject({ revision: 2, settings: { threshold: 350 } });
		expect(child.exitCode).toBe(null);
	}, 60_000);
});
