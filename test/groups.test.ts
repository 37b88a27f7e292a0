import { beforeEach, describe, expect, test } from "@jest/globals";
import type { Log } from "../src/ports.js";
import { GroupConfigError, aggregate, parseGroups } from "../server/groups.js";
import { parseOverride } from "../server/overrides.js";
import { Server, type ServerEvent } from "../server/server.js";
import { FakeClock } from "./support/fake-clock.js";
import { FakeMqtt } from "./support/fake-mqtt.js";

const RULE = { threshold: 300, hysteresis: 20 };
const log: Log = () => undefined;

describe("group configuration", () => {
	test("fills defaults: median, 60 s staleness, one fresh reading, the server's rule", () => {
		expect(parseGroups({ groups: [{ name: "pitch", sensors: ["s1", "s2"], leds: ["l1"] }] }, RULE)).toEqual([
			{ name: "pitch", sensors: ["s1", "s2"], leds: ["l1"], aggregate: "median", staleMs: 60_000, minFresh: 1, rule: RULE },
		]);
		expect(parseGroups([{ name: "g", sensors: ["a"], leds: [], aggregate: "max", staleMs: 5_000, threshold: 100, hysteresis: 0 }], RULE)[0]).toMatchObject({ aggregate: "max", staleMs: 5_000, rule: { threshold: 100, hysteresis: 0 } });
	});

	test.each([
		[{}, /expected \{"groups"/],
		[{ groups: [{ name: "a b", sensors: ["x"], leds: [] }] }, /groups\[0\]\.name/],
		[{ groups: [{ name: "g", sensors: [], leds: [] }] }, /groups\[0\]\.sensors must name at least one/],
		[{ groups: [{ name: "g", sensors: "x", leds: [] }] }, /groups\[0\]\.sensors must be an array/],
		[{ groups: [{ name: "g", sensors: ["x/y"], leds: [] }] }, /groups\[0\]\.sensors: "x\/y" is not a device id/],
		[{ groups: [{ name: "g", sensors: ["x"], leds: [], aggregate: "mode" }] }, /groups\[0\]\.aggregate must be one of median, mean, min, max/],
		[{ groups: [{ name: "g", sensors: ["x"], leds: [], staleMs: 0 }] }, /groups\[0\]\.staleMs/],
		[{ groups: [{ name: "g", sensors: ["x"], leds: [], minFresh: 2 }] }, /groups\[0\]\.minFresh must be an integer 1\.\.1/],
		[{ groups: [{ name: "g", sensors: ["x"], leds: [], threshold: 2000 }] }, /groups\[0\]\.threshold/],
		[{ groups: [{ name: "g", sensors: ["x"], leds: [], colour: "red" }] }, /groups\[0\]\.colour is not a group field/],
		[{ groups: [{ name: "g", sensors: ["x"], leds: ["l"] }, { name: "g", sensors: ["x"], leds: [] }] }, /groups\[1\]\.name "g" is used twice/],
		[{ groups: [{ name: "g", sensors: ["x"], leds: ["l"] }, { name: "h", sensors: ["x"], leds: ["l"] }] }, /groups\[1\]\.leds: "l" is already commanded by group "g"/],
	])("refuses %j, naming the field", (json, message) => {
		expect(() => parseGroups(json, RULE)).toThrow(GroupConfigError);
		expect(() => parseGroups(json, RULE)).toThrow(message);
	});

	test("aggregates", () => {
		expect(aggregate("median", [700, 20, 710, 690, 705])).toBe(700);
		expect(aggregate("median", [1, 3, 5, 100])).toBe(4);
		expect(aggregate("mean", [100, 200])).toBe(150);
		expect(aggregate("min", [5, 1, 9])).toBe(1);
		expect(aggregate("max", [5, 1, 9])).toBe(9);
		expect(aggregate("median", [])).toBeUndefined();
	});
});

describe("overrides", () => {
	test("parses a device or group override and refuses anything else with a reason", () => {
		expect(parseOverride("device", "a", { mode: "on" })).toEqual({ ok: true, value: { kind: "device", id: "a", mode: "on" } });
		expect(parseOverride("group", "g", { mode: "auto", threshold: 500 })).toEqual({ ok: true, value: { kind: "group", id: "g", mode: "auto", threshold: 500 } });
		for (const [kind, id, body, message] of [
			["room", "a", { mode: "on" }, /kind/],
			["device", "a/b", { mode: "on" }, /id/],
			["device", "a", "on", /JSON object/],
			["device", "a", { mode: "dim" }, /"mode"/],
			["device", "a", { mode: "on", threshold: -1 }, /"threshold"/],
			["device", "a", { mode: "on", colour: 1 }, /unknown field "colour"/],
		] as const) {
			const parsed = parseOverride(kind, id, body);
			expect(parsed.ok).toBe(false);
			expect(parsed.ok ? "" : parsed.error).toMatch(message);
		}
	});
});

describe("the server with groups", () => {
	let clock: FakeClock;
	let mqtt: FakeMqtt;
	let events: ServerEvent[];
	const sensors = ["s1", "s2", "s3", "s4", "s5"];

	function start(groups = parseGroups({ groups: [{ name: "stadium", sensors, leds: ["l1", "l2"], minFresh: 3, staleMs: 10_000 }] }, RULE), overrides: ConstructorParameters<typeof Server>[0]["overrides"] = []): Server {
		clock = new FakeClock();
		mqtt = new FakeMqtt();
		events = [];
		const server = new Server({ mqtt, clock, log, rule: RULE, groups, overrides, onEvent: (event) => events.push(event) });
		server.start();
		mqtt.connect();
		return server;
	}

	function read(id: string, light: number): void {
		mqtt.deliver(`${id}/telemetry`, `{"light":${light}}`);
	}

	function leds(id: string): boolean[] {
		return mqtt.sent(`${id}/commands`).map((item) => JSON.parse(item.message).led_on as boolean);
	}

	let server: Server;
	beforeEach(() => {
		server = start();
	});

	test("the stadium: one sensor shaded by a bird does not switch the lights; most shaded does", () => {
		for (const id of sensors)
			read(id, 700);
		expect(leds("l1")).toEqual([false]);
		expect(leds("l2")).toEqual([false]);
		read("s3", 20);
		expect(leds("l1")).toEqual([false]);
		expect(server.groups()[0]).toMatchObject({ name: "stadium", light: 700, fresh: 5, ledOn: false });
		read("s1", 50);
		read("s2", 40);
		expect(leds("l1")).toEqual([false, true]);
		expect(leds("l2")).toEqual([false, true]);
		// The sensors' own LEDs are not the group's: nothing is sent to them.
		expect(leds("s3")).toEqual([]);
	});

	test("commands carry a seq per LED device, retained at QoS 1", () => {
		for (const id of ["s1", "s2", "s3"])
			read(id, 100);
		const last = mqtt.last("l1/commands")!;
		expect(JSON.parse(last.message)).toEqual({ led_on: true, seq: 1, ts: clock.now() });
		expect(last.retain).toBe(true);
		expect(last.qos).toBe(1);
	});

	test("no decision until minFresh readings are fresh; stale readings stop counting", () => {
		read("s1", 100);
		read("s2", 100);
		expect(leds("l1")).toEqual([]);
		read("s3", 100);
		expect(leds("l1")).toEqual([true]);
		clock.advance(11_000);
		// s1..s3 are stale now: two fresh bright readings are not enough to decide.
		read("s4", 900);
		read("s5", 900);
		expect(leds("l1")).toEqual([true]);
		read("s1", 900);
		expect(leds("l1")).toEqual([true, false]);
	});

	test("the group decides with hysteresis", () => {
		for (const id of ["s1", "s2", "s3"])
			read(id, 299);
		for (const id of ["s1", "s2", "s3"])
			read(id, 310);
		expect(leds("l1")).toEqual([true]);
		for (const id of ["s1", "s2", "s3"])
			read(id, 320);
		expect(leds("l1")).toEqual([true, false]);
	});

	test("a group LED device coming back online is told its state again", () => {
		for (const id of ["s1", "s2", "s3"])
			read(id, 100);
		mqtt.deliver("l1/status", "offline");
		mqtt.deliver("l1/status", "online");
		expect(leds("l1")).toEqual([true, true]);
	});

	test("devices in no group keep deciding alone", () => {
		read("lone", 100);
		expect(leds("lone")).toEqual([true]);
	});

	test("without groups every device is its own group", () => {
		server.stop();
		server = start([]);
		read("s1", 100);
		expect(leds("s1")).toEqual([true]);
	});

	test("a group override forces its LEDs at once; auto hands them back to the group", () => {
		for (const id of sensors)
			read(id, 700);
		expect(server.setOverride({ kind: "group", id: "stadium", mode: "on" })).toEqual({ ok: true });
		expect(leds("l1")).toEqual([false, true]);
		read("s1", 710);
		expect(leds("l1")).toEqual([false, true]);
		server.setOverride({ kind: "group", id: "stadium", mode: "auto" });
		expect(leds("l1")).toEqual([false, true, false]);
		expect(events.filter((event) => event.type === "overrides")).toHaveLength(2);
	});

	test("a group threshold override re-decides at once", () => {
		for (const id of sensors)
			read(id, 400);
		expect(leds("l1")).toEqual([false]);
		server.setOverride({ kind: "group", id: "stadium", mode: "auto", threshold: 500 });
		expect(leds("l2")).toEqual([false, true]);
		expect(server.groups()[0]?.threshold).toBe(500);
		expect(server.thresholdOf("l1")).toBe(500);
	});

	test("a device override beats its group's decision, until cleared", () => {
		for (const id of sensors)
			read(id, 700);
		server.setOverride({ kind: "device", id: "l2", mode: "on" });
		expect(leds("l2")).toEqual([false, true]);
		expect(leds("l1")).toEqual([false]);
		expect(server.clearOverride("device", "l2")).toBe(true);
		expect(leds("l2")).toEqual([false, true, false]);
		expect(server.clearOverride("device", "l2")).toBe(false);
	});

	test("a device override of a lone device: on, off, auto with its own threshold", () => {
		read("lone", 400);
		expect(leds("lone")).toEqual([false]);
		server.setOverride({ kind: "device", id: "lone", mode: "on" });
		read("lone", 900);
		expect(leds("lone")).toEqual([false, true]);
		server.setOverride({ kind: "device", id: "lone", mode: "auto", threshold: 500 });
		expect(leds("lone")).toEqual([false, true, false]);
		read("lone", 450);
		expect(leds("lone")).toEqual([false, true, false, true]);
		expect(server.thresholdOf("lone")).toBe(500);
		expect(server.overrides()).toEqual([{ kind: "device", id: "lone", mode: "auto", threshold: 500, at: expect.any(Number), by: server.instance }]);
	});

	test("overrides given at start are in force; one of an unknown group is refused or dropped", () => {
		server.stop();
		server = start(undefined, [{ kind: "device", id: "lone", mode: "on" }, { kind: "group", id: "gone", mode: "on" }]);
		expect(server.overrides()).toEqual([{ kind: "device", id: "lone", mode: "on" }]);
		read("lone", 900);
		expect(leds("lone")).toEqual([true]);
		expect(server.setOverride({ kind: "group", id: "nope", mode: "on" })).toEqual({ ok: false, error: `no group named "nope"` });
	});

	test("follows each device's state for the API", () => {
		mqtt.deliver("l1/state", `{"led_on":true,"mode":"local","rejected":0}`);
		expect(server.device("l1")).toMatchObject({ ledState: true, mode: "local" });
		expect(events).toContainEqual({ type: "state", id: "l1", led_on: true, mode: "local" });
	});

});
