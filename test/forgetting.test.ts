import { beforeEach, describe, expect, test } from "@jest/globals";
import type { Log } from "../src/ports.js";
import { SWEEP_MAX_RECORDS, formatDuration, parseDuration } from "../server/forgetting.js";
import { parseGroups } from "../server/groups.js";
import { Server, type ServerEvent } from "../server/server.js";
import { FakeClock } from "./support/fake-clock.js";
import { FakeMqtt } from "./support/fake-mqtt.js";

const RULE = { threshold: 300, hysteresis: 20 };
const HOUR_MS = 3_600_000;
const FORGET_AFTER_MS = 12 * HOUR_MS;

let clock: FakeClock;
let mqtt: FakeMqtt;
let events: ServerEvent[];
let lines: string[];
let server: Server;
const log: Log = (level, tag, message) => lines.push(`${level} ${tag}: ${message}`);

function start(options: { share?: string } = {}): void {
	server = new Server({
		mqtt, clock, log, rule: RULE, forgetAfterMs: FORGET_AFTER_MS, ...options,
		groups: parseGroups([{ name: "pitch", sensors: ["s1", "s2"], leds: ["flood"] }], RULE),
		onEvent: (event) => events.push(event),
	});
	server.start();
	mqtt.connect();
}

const forgotten = () => events.filter((event) => event.type === "forgotten").map((event) => (event as { id: string }).id);

beforeEach(() => {
	clock = new FakeClock();
	mqtt = new FakeMqtt();
	events = [];
	lines = [];
});

describe("forgetting devices not heard for --forget-after", () => {
	test("a silent device is forgotten: gone from the server, its retained command cleared, the event emitted; a talking one stays", () => {
		start();
		mqtt.deliver("gone/telemetry", `{"light":100}`);
		mqtt.deliver("gone/state", `{"led_on":false,"mode":"remote","rejected":0}`);
		expect(mqtt.last("gone/commands")?.retain).toBe(true);
		for (let hour = 0; hour < 11; hour++) {
			clock.advance(HOUR_MS);
			mqtt.deliver("talks/telemetry", `{"light":${500 + hour}}`);
		}
		clock.advance(HOUR_MS - 60_000);
		expect(server.device("gone")).toBeDefined();
		clock.advance(2 * 60_000);
		expect(server.device("gone")).toBeUndefined();
		expect(server.deviceIds(undefined, 10)).toEqual(["talks"]);
		expect(server.deviceCount).toBe(1);
		expect(mqtt.last("gone/commands")).toEqual({ topic: "gone/commands", message: "", qos: 0, retain: true });
		expect(forgotten()).toEqual(["gone"]);
		expect(server.stats.forgotten).toBe(1);
		expect(lines).toContain("info server: forgot 1 device not heard for 12h: gone");
		// Its drift correction stopped with it: nothing more is sent to it.
		const sent = mqtt.sent("gone/commands").length;
		clock.advance(10 * 60_000);
		expect(mqtt.sent("gone/commands")).toHaveLength(sent);
	});

	test("a forgotten device heard again comes back and is commanded afresh", () => {
		start();
		mqtt.deliver("back/telemetry", `{"light":100}`);
		clock.advance(FORGET_AFTER_MS + 60_000);
		expect(forgotten()).toEqual(["back"]);
		mqtt.deliver("back/telemetry", `{"light":100}`);
		expect(server.device("back")).toMatchObject({ light: 100, ledOn: true });
		expect(JSON.parse(mqtt.last("back/commands")!.message)).toMatchObject({ led_on: true, seq: 1, ts: clock.now() });
		expect(server.deviceIds(undefined, 10)).toEqual(["back"]);
	});

	test("a device this server does not command loses no retained command; a group keeps its configuration", () => {
		start();
		// s1 is a sensor of the group: the server never commands it.
		mqtt.deliver("s1/telemetry", `{"light":100}`);
		mqtt.deliver("s2/telemetry", `{"light":100}`);
		expect(JSON.parse(mqtt.last("flood/commands")!.message).led_on).toBe(true);
		clock.advance(FORGET_AFTER_MS + 60_000);
		expect(forgotten().sort()).toEqual(["s1", "s2"]);
		expect(mqtt.sent("s1/commands")).toEqual([]);
		// The floodlight was never heard itself: it is kept, and so is its command.
		expect(server.device("flood")).toBeDefined();
		expect(mqtt.last("flood/commands")!.message).not.toBe("");
		mqtt.deliver("s1/telemetry", `{"light":900}`);
		mqtt.deliver("s2/telemetry", `{"light":900}`);
		expect(JSON.parse(mqtt.last("flood/commands")!.message).led_on).toBe(false);
		expect(server.groupOf("s1")).toBe("pitch");
	});

	test("in a share group, only the device's owner clears its command", () => {
		server = new Server({ mqtt, clock, log, rule: RULE, share: "night", instance: "server-a", forgetAfterMs: 60_000, onEvent: (event) => events.push(event) });
		server.start();
		mqtt.connect();
		const own = JSON.parse(mqtt.last("nightlight/servers/night/server-a")!.message) as { groups: string };
		// Another live server: each device has one owner of the two.
		const other = () => mqtt.deliver("nightlight/servers/night/server-b", JSON.stringify({ say: "here", groups: own.groups }));
		other();
		clock.advance(2_000);
		expect(server.servers()).toEqual(["server-a", "server-b"]);
		const ids = Array.from({ length: 20 }, (_, n) => `lamp${n}`);
		for (const id of ids)
			mqtt.deliver(`${id}/commands`, `{"led_on":true,"seq":1,"ts":${clock.now()}}`);
		for (let step = 0; step < 40; step++) {
			other();
			clock.advance(2_000);
		}
		expect(forgotten().sort()).toEqual([...ids].sort());
		const cleared = ids.filter((id) => mqtt.last(`${id}/commands`)?.message === "");
		expect(cleared.length).toBeGreaterThan(0);
		expect(cleared.length).toBeLessThan(ids.length);
	});

	test("nothing is forgotten while the broker is away: the silence is the server's", () => {
		start();
		mqtt.deliver("kept/telemetry", `{"light":500}`);
		mqtt.drop();
		clock.advance(FORGET_AFTER_MS * 2);
		expect(server.device("kept")).toBeDefined();
		mqtt.connect();
		clock.advance(2 * 60_000);
		expect(forgotten()).toEqual(["kept"]);
	});

	test("each sweep looks at a bounded number of records and the next one carries on", () => {
		server = new Server({ mqtt, clock, log, rule: RULE, forgetAfterMs: 4 * 60_000, onEvent: (event) => events.push(event) });
		server.start();
		mqtt.connect();
		const count = SWEEP_MAX_RECORDS * 2 + 500;
		for (let n = 0; n < count; n++)
			mqtt.deliver(`d${n}/status`, "online");
		clock.advance(4 * 60_000);
		expect(forgotten()).toHaveLength(SWEEP_MAX_RECORDS);
		clock.advance(60_000);
		expect(forgotten()).toHaveLength(SWEEP_MAX_RECORDS * 2);
		clock.advance(60_000);
		expect(forgotten()).toHaveLength(count);
		expect(server.deviceCount).toBe(0);
	});

	test("the sweep runs every minute, or more often for a short forget-after", () => {
		server = new Server({ mqtt, clock, log, rule: RULE, forgetAfterMs: 2_000, onEvent: (event) => events.push(event) });
		server.start();
		mqtt.connect();
		mqtt.deliver("quick/telemetry", `{"light":500}`);
		clock.advance(2_500);
		expect(forgotten()).toEqual(["quick"]);
		expect(() => new Server({ mqtt, clock, log, rule: RULE, forgetAfterMs: 10 })).toThrow(/at least 1 s/);
	});

	test.each([
		["30d", 30 * 24 * HOUR_MS],
		["12h", 12 * HOUR_MS],
		["15m", 900_000],
		["90s", 90_000],
		["1.5h", 5_400_000],
		["2500", 2_500],
		["500ms", 500],
	])("the duration %s is %i ms", (text, ms) => {
		expect(parseDuration(text)).toBe(ms);
	});

	test.each(["", "d", "-1d", "3 weeks", "1e3", "10y"])("%j is no duration", (text) => {
		expect(parseDuration(text)).toBeUndefined();
	});

	test("durations are shown in their largest whole unit", () => {
		expect([30 * 24 * HOUR_MS, 36 * HOUR_MS, 90_000, 2_500].map(formatDuration)).toEqual(["30d", "36h", "90s", "2500ms"]);
	});
});
