/*
 * Servers that split the fleet (`share`) with groups and overrides, on a fake broker that delivers
 * in order and hands shared subscriptions round robin: every server knows every group's state, one
 * commands it, a killed owner's groups move on without a change lost or sent twice, and overrides
 * made on one server are in force on all.
 */
import { beforeEach, describe, expect, test } from "@jest/globals";
import { hashString } from "../src/link.js";
import type { Log } from "../src/ports.js";
import { parseGroups } from "../server/groups.js";
import { EXPIRE_MS, HEARTBEAT_MS, Members, SETTLE_MS, parseMemberMessage } from "../server/members.js";
import { type Override, encodeOverrideMessage, parseOverrideMessage } from "../server/overrides.js";
import { Server, serverWill } from "../server/server.js";
import { type BusClient, FakeBus } from "./support/fake-bus.js";
import { FakeClock } from "./support/fake-clock.js";

const RULE = { threshold: 300, hysteresis: 20 };
const SENSORS = ["s1", "s2", "s3", "s4", "s5"];
const GROUPS = parseGroups([{ name: "stadium", sensors: SENSORS, leds: ["f1", "f2"], minFresh: 3 }], RULE);

let bus: FakeBus;
let clock: FakeClock;
let lines: string[];
let devices: BusClient;
let watcher: BusClient;
/** Commands as they were sent (not the retained copies), per device. */
let commands: Map<string, boolean[]>;
const log: Log = (level, tag, message) => lines.push(`${level} ${tag}: ${message}`);

interface Running {
	server: Server;
	client: BusClient;
}

function startServer(instance: string, options: { groups?: typeof GROUPS; overrides?: Override[] } = {}): Running {
	const client = bus.client(serverWill());
	const server = new Server({ mqtt: client, clock, log, rule: RULE, share: "night", instance, groups: options.groups ?? GROUPS, ...(options.overrides ? { overrides: options.overrides } : {}) });
	server.start();
	client.connect();
	bus.flush();
	return { server, client };
}

/** Lets the broker run and the servers' timers fire for `ms`. */
function run(ms = 0): void {
	bus.flush();
	for (let left = ms; left > 0; left -= 100) {
		clock.advance(Math.min(100, left));
		bus.flush();
	}
}

function report(lights: Record<string, number>): void {
	for (const [id, light] of Object.entries(lights))
		devices.publish(`${id}/telemetry`, JSON.stringify({ light }), { qos: 0 });
	run();
}

const all = (light: number) => Object.fromEntries(SENSORS.map((id) => [id, light]));

/** The rendezvous owner of a group among `members`, as Members computes it. */
function ownerOf(group: string, members: string[]): string {
	return [...members].sort((a, b) => hashString(`${b}\n${group}`) - hashString(`${a}\n${group}`) || a.localeCompare(b))[0]!;
}

/** Two instance names of which `first` owns the group when both are alive. */
function namesWithOwner(group: string): [string, string] {
	for (let i = 0; ; i++) {
		if (ownerOf(group, ["alpha", `beta${i}`]) === "alpha")
			return ["alpha", `beta${i}`];
	}
}

beforeEach(() => {
	bus = new FakeBus();
	clock = new FakeClock();
	lines = [];
	commands = new Map();
	devices = bus.client();
	devices.connect();
	watcher = bus.client();
	watcher.connect();
	watcher.subscribe("+/commands", { qos: 1 });
	watcher.on("message", (topic: string, payload: string, packet: { retain?: boolean }) => {
		if (packet?.retain)
			return;
		const id = topic.slice(0, topic.indexOf("/"));
		commands.set(id, [...(commands.get(id) ?? []), JSON.parse(payload).led_on as boolean]);
	});
});

describe("groups in a split fleet", () => {
	test("every server hears every grouped sensor; only the group's owner commands, once per change", () => {
		const a = startServer("alpha");
		const b = startServer("beta");
		run(SETTLE_MS);
		expect(b.client.subscriptions.map((item) => item.topic)).toEqual(expect.arrayContaining(SENSORS.map((id) => `${id}/telemetry`)));
		report(all(700));
		for (const { server } of [a, b])
			expect(server.groups()[0]).toMatchObject({ light: 700, fresh: 5, ledOn: false, owner: ownerOf("stadium", ["alpha", "beta"]) });
		expect(commands).toEqual(new Map([["f1", [false]], ["f2", [false]]]));
		// A bird shades one sensor: the median is still bright.
		report({ s3: 20 });
		expect(commands).toEqual(new Map([["f1", [false]], ["f2", [false]]]));
		report({ s4: 20, s5: 20 });
		expect(commands).toEqual(new Map([["f1", [false, true]], ["f2", [false, true]]]));
		for (const { server } of [a, b])
			expect(server.groups()[0]).toMatchObject({ light: 20, ledOn: true });
	});

	test("the owner is killed: the other takes the group over after the roll call and sends the change it missed", () => {
		const [first, second] = namesWithOwner("stadium");
		const owner = startServer(first);
		const other = startServer(second);
		run(SETTLE_MS);
		report(all(700));
		expect(commands.get("f1")).toEqual([false]);
		owner.client.kill();
		// Dusk falls before the survivor knows the owner is gone: it decides but does not command.
		report(all(20));
		expect(other.server.groups()[0]).toMatchObject({ ledOn: true, owner: first });
		expect(commands.get("f1")).toEqual([false]);
		run(SETTLE_MS + 100);
		expect(other.server.groups()[0]).toMatchObject({ owner: second });
		expect(commands).toEqual(new Map([["f1", [false, true]], ["f2", [false, true]]]));
		expect(lines.some((line) => line.includes(`server ${first} dropped: did not answer the roll call`))).toBe(true);
		// And it goes on deciding alone.
		report(all(900));
		expect(commands.get("f2")).toEqual([false, true, false]);
	});

	test("a server that joins commands nothing until it has heard the others, then starts from the group's last decision", () => {
		const [first, second] = namesWithOwner("stadium");
		// The newcomer is the one that will own the group.
		const early = startServer(second);
		run(SETTLE_MS);
		report(all(20));
		report(all(310));
		// Inside the hysteresis band (300 + 20): still on.
		expect(commands.get("f1")).toEqual([true]);
		const late = startServer(first);
		expect(late.server.groups()[0]).toMatchObject({ ledOn: true });
		report(all(310));
		run(SETTLE_MS);
		expect(late.server.groups()[0]).toMatchObject({ owner: first, ledOn: true });
		expect(commands.get("f1")).toEqual([true]);
		report(all(400));
		expect(commands.get("f1")).toEqual([true, false]);
		expect(early.server.servers()).toEqual([first, second].sort());
	});

	test("a server that stops cleanly hands its groups over at once", () => {
		const [first, second] = namesWithOwner("stadium");
		const owner = startServer(first);
		const other = startServer(second);
		run(SETTLE_MS);
		report(all(700));
		owner.server.stop();
		run();
		expect(other.server.servers()).toEqual([second]);
		report(all(20));
		expect(commands.get("f1")).toEqual([false, true]);
	});

	test("every server knows every device's availability; one of them reminds a device that comes back", () => {
		const a = startServer("alpha");
		const b = startServer("beta");
		run(SETTLE_MS);
		report({ lone: 100 });
		expect(commands.get("lone")).toEqual([true]);
		for (const status of ["online", "offline", "online"]) {
			devices.publish("lone/status", status, { qos: 1, retain: true });
			run();
			expect([a.server.device("lone")?.availability, b.server.device("lone")?.availability]).toEqual([status, status]);
		}
		// The decision, then one reminder each time the device came online.
		expect(commands.get("lone")).toEqual([true, true, true]);
	});

	test("servers with different groups files are told so", () => {
		startServer("alpha");
		startServer("beta", { groups: parseGroups([{ name: "other", sensors: ["x"], leds: [] }], RULE) });
		run(SETTLE_MS);
		expect(lines.filter((line) => line.includes("has a different groups configuration"))).toHaveLength(2);
	});
});

describe("overrides shared between servers", () => {
	test("a group forced on through one server is in force on both and commanded once", () => {
		const a = startServer("alpha");
		const b = startServer("beta");
		run(SETTLE_MS);
		report(all(700));
		expect(a.server.setOverride({ kind: "group", id: "stadium", mode: "on" })).toEqual({ ok: true });
		run();
		expect(b.server.overrides()).toEqual([{ kind: "group", id: "stadium", mode: "on", at: clock.now(), by: "alpha" }]);
		expect(commands.get("f1")).toEqual([false, true]);
		expect(b.server.clearOverride("group", "stadium")).toBe(true);
		run();
		expect(a.server.overrides()).toEqual([]);
		expect(commands.get("f1")).toEqual([false, true, false]);
		// Stamped after the override it removes, even within the same millisecond.
		expect(JSON.parse(bus.retained.get("nightlight/overrides/group/stadium")!)).toEqual({ cleared: true, at: clock.now() + 1, by: "beta" });
	});

	test("a lone device's override is applied by the server that took it; the others follow its commands", () => {
		const a = startServer("alpha");
		const b = startServer("beta");
		run(SETTLE_MS);
		report({ lone: 700 });
		expect(commands.get("lone")).toEqual([false]);
		b.server.setOverride({ kind: "device", id: "lone", mode: "on" });
		run();
		expect(commands.get("lone")).toEqual([false, true]);
		// Whichever server hears the next readings keeps the override.
		report({ lone: 710 });
		report({ lone: 720 });
		expect(commands.get("lone")).toEqual([false, true]);
		expect(a.server.thresholdOf("lone")).toBe(300);
		expect(a.server.device("lone")).toMatchObject({ ledOn: true });
	});

	test("a server restarted with an older override learns the newer one and does not overwrite it", () => {
		const a = startServer("alpha");
		run(SETTLE_MS);
		a.server.setOverride({ kind: "group", id: "stadium", mode: "off" });
		run();
		const stale = { kind: "group" as const, id: "stadium", mode: "on" as const, at: clock.now() - 60_000, by: "gamma" };
		const c = startServer("gamma", { overrides: [stale] });
		run(SETTLE_MS + 100);
		expect(c.server.overrides()).toEqual([{ kind: "group", id: "stadium", mode: "off", at: expect.any(Number), by: "alpha" }]);
		expect(JSON.parse(bus.retained.get("nightlight/overrides/group/stadium")!)).toMatchObject({ mode: "off", by: "alpha" });
		// A stale copy on the broker (e.g. from a restored backup) is answered with the newer one.
		devices.publish("nightlight/overrides/group/stadium", encodeOverrideMessage({ cleared: false, override: stale }), { qos: 1, retain: true });
		run();
		expect(JSON.parse(bus.retained.get("nightlight/overrides/group/stadium")!)).toMatchObject({ mode: "off", by: "alpha" });
		expect(a.server.overrides()[0]).toMatchObject({ mode: "off" });
	});

	test("a server's overrides from its file reach a broker that has none", () => {
		startServer("alpha", { overrides: [{ kind: "device", id: "desk", mode: "on", at: 5, by: "alpha" }] });
		expect(bus.retained.size).toBe(1);
		run(SETTLE_MS);
		expect(JSON.parse(bus.retained.get("nightlight/overrides/device/desk")!)).toEqual({ mode: "on", at: 5, by: "alpha" });
	});

	test("bad override messages are rejected and counted, never adopted", () => {
		const a = startServer("alpha");
		run(SETTLE_MS);
		for (const [topic, payload] of [
			["nightlight/overrides/device/desk", "{"],
			["nightlight/overrides/device/desk", `{"mode":"dim","at":1,"by":"x"}`],
			["nightlight/overrides/device/desk", `{"mode":"on"}`],
			["nightlight/overrides/lamp/desk", `{"mode":"on","at":1,"by":"x"}`],
			["nightlight/overrides/device/desk", `{"cleared":false,"at":1,"by":"x"}`],
		] as const)
			devices.publish(topic, payload, { qos: 1 });
		run();
		expect(a.server.overrides()).toEqual([]);
		expect(a.server.stats.rejected).toBe(5);
	});
});

describe("override messages", () => {
	test("round trip, and strict parsing", () => {
		const set = { cleared: false as const, override: { kind: "device" as const, id: "desk", mode: "auto" as const, threshold: 450, at: 12, by: "alpha" } };
		expect(parseOverrideMessage("nightlight/overrides/device/desk", encodeOverrideMessage(set))).toEqual({ ok: true, value: set });
		const cleared = { cleared: true as const, kind: "group" as const, id: "pitch", at: 13, by: "beta" };
		expect(parseOverrideMessage("nightlight/overrides/group/pitch", encodeOverrideMessage(cleared))).toEqual({ ok: true, value: cleared });
		expect(parseOverrideMessage("nightlight/overrides/group/pitch", `{"cleared":true,"mode":"on","at":1,"by":"x"}`)).toMatchObject({ ok: false });
		expect(parseOverrideMessage("nightlight/overrides/device/desk", `{"mode":"on","at":-1,"by":"x"}`)).toMatchObject({ ok: false, error: expect.stringContaining(`"at"`) });
	});
});

describe("members", () => {
	let said: string[];
	let changes: number;

	function members(self: string): Members {
		return new Members({ self, clock, log, groups: "g", say: (message) => said.push(message.say), onChange: () => changes++ });
	}

	beforeEach(() => {
		said = [];
		changes = 0;
	});

	test("join, settle, answer, heartbeat, expiry", () => {
		const m = members("a");
		m.up();
		expect(said).toEqual(["join"]);
		expect(m.settled).toBe(false);
		m.message("b", { say: "join", groups: "g" });
		expect(said).toEqual(["join", "here"]);
		clock.advance(SETTLE_MS);
		expect(m.settled).toBe(true);
		expect(m.list()).toEqual(["a", "b"]);
		// b falls silent: dropped once not heard for EXPIRE_MS.
		clock.advance(EXPIRE_MS + HEARTBEAT_MS);
		expect(m.list()).toEqual(["a"]);
		expect(said.filter((say) => say === "here").length).toBeGreaterThan(3);
	});

	test("a roll call drops only those that do not answer", () => {
		const m = members("a");
		m.up();
		m.message("b", { say: "here", groups: "g" });
		m.message("c", { say: "here", groups: "g" });
		clock.advance(SETTLE_MS);
		m.rollCall();
		m.message("b", { say: "here", groups: "g" });
		clock.advance(SETTLE_MS);
		expect(m.list()).toEqual(["a", "b"]);
	});

	test("down: commands nothing; up again: forgets the others and settles again", () => {
		const m = members("a");
		m.up();
		m.message("b", { say: "here", groups: "g" });
		clock.advance(SETTLE_MS);
		m.down();
		expect(m.settled).toBe(false);
		m.up();
		expect(m.list()).toEqual(["a"]);
		expect(clock.pending).toBeGreaterThan(0);
	});

	test("owners spread over members and move only from a member that leaves", () => {
		const groups = Array.from({ length: 200 }, (_, i) => `g${i}`);
		const m = members("a");
		m.up();
		for (const other of ["b", "c", "d"])
			m.message(other, { say: "here", groups: "g" });
		const before = new Map(groups.map((group) => [group, m.owner(group)]));
		const counts = new Map<string, number>();
		for (const owner of before.values())
			counts.set(owner, (counts.get(owner) ?? 0) + 1);
		expect(Math.min(...counts.values())).toBeGreaterThan(25);
		m.message("c", { say: "bye", groups: "g" });
		for (const group of groups) {
			if (before.get(group) !== "c")
				expect(m.owner(group)).toBe(before.get(group));
			else
				expect(m.owner(group)).not.toBe("c");
		}
	});

	test("messages are parsed strictly", () => {
		expect(parseMemberMessage(`{"say":"here","groups":"abc"}`)).toEqual({ say: "here", groups: "abc" });
		expect(parseMemberMessage(`{"say":"hello","groups":"abc"}`)).toBeUndefined();
		expect(parseMemberMessage("not json")).toBeUndefined();
		expect(parseMemberMessage("null")).toBeUndefined();
	});
});
