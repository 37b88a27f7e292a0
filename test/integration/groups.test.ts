/*
 * A group on a real broker (Aedes): five simulated devices read the light of a stadium, two of them
 * carry its floodlights. One sensor shaded by a bird does not switch them; most sensors in the dark
 * do. Then an override saved in the state directory is in force again after a server restart.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import type { Led, Log } from "../../src/ports.js";
import { type NodeDevice, startNodeDevice } from "../../hosts/node/device.js";
import { parseGroups } from "../../server/groups.js";
import { type NodeServer, startNodeServer } from "../../server/node.js";
import { type TestBroker, startAedes } from "../support/brokers.js";
import { sleep, until } from "../support/wait.js";

const quiet: Log = () => undefined;
const RULE = { threshold: 300, hysteresis: 20 };

class RecordingLed implements Led {
	writes: boolean[] = [];
	write(on: boolean): void {
		this.writes.push(on);
	}
	get on(): boolean | undefined {
		return this.writes[this.writes.length - 1];
	}
}

describe("a stadium group on a real broker", () => {
	let broker: TestBroker;
	const stateDir = mkdtempSync(join(tmpdir(), "nightlight-groups-"));
	const prefix = `stadium-${process.pid}`;
	const ids = [1, 2, 3, 4, 5].map((n) => `${prefix}-${n}`);
	const leds = new Map(ids.map((id) => [id, new RecordingLed()]));
	const devices: NodeDevice[] = [];
	let server: NodeServer;
	const groups = parseGroups([{ name: "stadium", sensors: ids, leds: [ids[0]!, ids[1]!], minFresh: 3 }], RULE);

	beforeAll(async () => {
		broker = await startAedes();
		server = startNodeServer({ url: broker.url, rule: RULE, groups, stateDir, log: quiet });
		for (const id of ids)
			devices.push(startNodeDevice({ id, url: broker.url, light: 700, led: leds.get(id)!, log: quiet }));
	});

	afterAll(async () => {
		for (const device of devices)
			await device.stop();
		await server?.stop();
		await broker?.stop();
		rmSync(stateDir, { recursive: true, force: true });
	});

	const floodlights = () => [leds.get(ids[0]!)!.on, leds.get(ids[1]!)!.on];

	test("one shaded sensor does not switch the floodlights; three of five do", async () => {
		await until(() => server.server.groups()[0]?.fresh === 5 && floodlights().every((on) => on === false), "the group's first decision: off");
		devices[2]!.sensor.set(20);
		await until(() => (server.server.device(ids[2]!)?.light ?? 1023) < 100, "the shaded reading");
		await sleep(500);
		expect(floodlights()).toEqual([false, false]);
		devices[3]!.sensor.set(20);
		devices[4]!.sensor.set(20);
		await until(() => floodlights().every((on) => on === true), "floodlights on");
		// The sensors that are not floodlights were never commanded by the group.
		expect(leds.get(ids[2]!)!.writes.includes(true)).toBe(false);
	});

	test("an override is saved and in force again after a server restart", async () => {
		server.server.setOverride({ kind: "group", id: "stadium", mode: "off" });
		await until(() => floodlights().every((on) => on === false), "floodlights forced off");
		await server.stop();
		server = startNodeServer({ url: broker.url, rule: RULE, groups, stateDir, log: quiet });
		expect(server.server.overrides()).toEqual([{ kind: "group", id: "stadium", mode: "off", at: expect.any(Number), by: expect.any(String) }]);
		await sleep(1_500);
		expect(floodlights()).toEqual([false, false]);
		server.server.clearOverride("group", "stadium");
		await until(() => floodlights().every((on) => on === true), "floodlights back on (still dark)");
	});
});
