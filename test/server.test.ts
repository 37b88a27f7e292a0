import { beforeEach, describe, expect, test } from "@jest/globals";
import type { Log } from "../src/ports.js";
import { Server, type ServerEvent } from "../server/server.js";
import { PROBE_TIMEOUT_MS } from "../server/share-probe.js";
import { FakeClock } from "./support/fake-clock.js";
import { FakeMqtt } from "./support/fake-mqtt.js";

let clock: FakeClock;
let mqtt: FakeMqtt;
let lines: string[];
let events: ServerEvent[];
let server: Server;

const log: Log = (level, tag, message) => {
	lines.push(`${level} ${tag}: ${message}`);
};

/** The led_on of each command sent to a device. */
function commands(id: string): Array<{ led_on: boolean }> {
	return mqtt.sent(`${id}/commands`).map((item) => ({ led_on: JSON.parse(item.message).led_on as boolean }));
}

beforeEach(() => {
	clock = new FakeClock();
	mqtt = new FakeMqtt();
	lines = [];
	events = [];
	server = new Server({ mqtt, clock, log, rule: { threshold: 300, hysteresis: 20 }, onEvent: (event) => events.push(event) });
	server.start();
	mqtt.connect();
});

describe("the server", () => {
	test("subscribes to every device's telemetry and status on connect, and again on reconnect", () => {
		expect(mqtt.subscriptions).toEqual([{ topic: "+/telemetry", qos: 1 }, { topic: "+/status", qos: 1 }, { topic: "nightlight/server/status", qos: 1 }, { topic: "+/state", qos: 1 }, { topic: "nightlight/overrides/+/+", qos: 1 }, { topic: "+/config", qos: 1 }]);
		mqtt.drop();
		clock.advance(1_000);
		expect(mqtt.reconnects).toBe(1);
		mqtt.connect();
		expect(mqtt.subscriptions).toHaveLength(12);
	});

	test("announces itself: online retained on connect, offline on a clean stop", () => {
		expect(mqtt.last("nightlight/server/status")).toEqual({ topic: "nightlight/server/status", message: "online", qos: 1, retain: true });
		server.stop();
		expect(mqtt.last("nightlight/server/status")?.message).toBe("offline");
	});

	test("each command carries when it was decided and its number for the device", () => {
		mqtt.deliver("a/telemetry", `{"light":500}`);
		clock.advance(1_000);
		mqtt.deliver("a/telemetry", `{"light":100}`);
		const sent = mqtt.sent("a/commands").map((item) => JSON.parse(item.message));
		expect(sent).toEqual([
			{ led_on: false, seq: 1, ts: 1_700_000_000_000 },
			{ led_on: true, seq: 2, ts: 1_700_000_001_000 },
		]);
	});

	test("readings are taken in the order of their numbers: repeats and late ones are dropped", () => {
		mqtt.deliver("a/telemetry", `{"light":100,"seq":7}`);
		mqtt.deliver("a/telemetry", `{"light":100,"seq":7}`);
		mqtt.deliver("a/telemetry", `{"light":900,"seq":6,"replay":true}`);
		expect(commands("a")).toEqual([{ led_on: true }]);
		expect(server.stats.outOfOrder).toBe(2);
		expect(server.device("a")?.light).toBe(100);
	});

	test("a live reading numbered below the newest is a restarted device, and decides", () => {
		mqtt.deliver("a/telemetry", `{"light":900,"seq":5000}`);
		mqtt.deliver("a/telemetry", `{"light":100,"seq":0}`);
		expect(commands("a")).toEqual([{ led_on: false }, { led_on: true }]);
		mqtt.deliver("a/telemetry", `{"light":100,"seq":0}`);
		expect(server.stats.outOfOrder).toBe(1);
	});

	test("without a number (older firmware) only that very reading again is a repeat", () => {
		const t0 = clock.now();
		mqtt.deliver("a/telemetry", `{"light":600,"ts":${t0}}`);
		mqtt.deliver("a/telemetry", `{"light":600,"ts":${t0}}`);
		mqtt.deliver("a/telemetry", `{"light":50,"ts":${t0}}`);
		expect(commands("a")).toEqual([{ led_on: false }, { led_on: true }]);
		expect(server.stats.outOfOrder).toBe(1);
	});

	test("a replayed burst is recorded but never decides, however young; the fresh reading after it does", () => {
		mqtt.deliver("a/telemetry", `{"light":900,"seq":1}`);
		for (const [seq, light] of [[2, 100], [3, 900], [4, 100], [5, 900], [6, 100]] as const)
			mqtt.deliver("a/telemetry", `{"light":${light},"ts":${clock.now()},"seq":${seq},"replay":true}`);
		expect(commands("a")).toEqual([{ led_on: false }]);
		expect(server.stats.replayed).toBe(5);
		expect(server.device("a")?.light).toBe(900);
		mqtt.deliver("a/telemetry", `{"light":100,"seq":7}`);
		expect(commands("a")).toEqual([{ led_on: false }, { led_on: true }]);
		expect(events.filter((event) => event.type === "telemetry" && event.replayed)).toHaveLength(5);
	});

	test("no device clock is trusted: a reading stamped an hour behind, ahead or in 1970 is as fresh as its arrival", () => {
		for (const [seq, offset, light] of [[1, -3_600_000, 100], [2, 3_600_000, 900], [3, -clock.now() + 1, 100]] as const)
			mqtt.deliver("a/telemetry", `{"light":${light},"ts":${Math.max(clock.now() + offset, 946684800000)},"seq":${seq}}`);
		expect(commands("a")).toEqual([{ led_on: true }, { led_on: false }, { led_on: true }]);
		expect(server.stats.replayed).toBe(0);
		expect(server.device("a")?.lightAt).toBe(clock.now());
	});

	test("an old reading delivered as retained is the last known value and decides", () => {
		const old = clock.now() - 3_600_000;
		mqtt.deliver("a/telemetry", Buffer.from(`{"light":100,"ts":${old}}`), { retain: true });
		expect(commands("a")).toEqual([{ led_on: true }]);
	});

	test("the re-send on reconnection keeps the decision's time and number", () => {
		mqtt.deliver("a/telemetry", `{"light":100}`);
		clock.advance(5_000);
		mqtt.deliver("a/status", "offline");
		mqtt.deliver("a/status", "online");
		const sent = mqtt.sent("a/commands").map((item) => item.message);
		expect(sent).toHaveLength(2);
		expect(sent[1]).toBe(sent[0]);
	});

	test("commands a device when its decision changes, retained at QoS 1", () => {
		mqtt.deliver("a/telemetry", `{"light":500}`);
		mqtt.deliver("a/telemetry", `{"light":100}`);
		expect(commands("a")).toEqual([{ led_on: false }, { led_on: true }]);
		const last = mqtt.last("a/commands")!;
		expect(last.qos).toBe(1);
		expect(last.retain).toBe(true);
	});

	test("does not repeat a command while the decision holds", () => {
		for (const light of [100, 120, 90, 200, 250])
			mqtt.deliver("a/telemetry", `{"light":${light}}`);
		expect(commands("a")).toEqual([{ led_on: true }]);
	});

	test("hysteresis: on below the threshold, off only at threshold + hysteresis", () => {
		for (const light of [500, 299, 305, 319, 320, 310, 299])
			mqtt.deliver("a/telemetry", `{"light":${light}}`);
		expect(commands("a")).toEqual([{ led_on: false }, { led_on: true }, { led_on: false }, { led_on: true }]);
	});

	test("with hysteresis 0 it is the lesson's rule, led_on = light < threshold", () => {
		server.stop();
		mqtt = new FakeMqtt();
		server = new Server({ mqtt, clock, log, rule: { threshold: 300, hysteresis: 0 } });
		server.start();
		mqtt.connect();
		for (const light of [299, 300, 299])
			mqtt.deliver("a/telemetry", `{"light":${light}}`);
		expect(commands("a")).toEqual([{ led_on: true }, { led_on: false }, { led_on: true }]);
	});

	test("devices are decided independently", () => {
		mqtt.deliver("a/telemetry", `{"light":100}`);
		mqtt.deliver("b/telemetry", `{"light":900}`);
		expect(commands("a")).toEqual([{ led_on: true }]);
		expect(commands("b")).toEqual([{ led_on: false }]);
		expect(server.devices().map((device) => device.id).sort()).toEqual(["a", "b"]);
	});

	test("re-sends the desired state when a device comes back online", () => {
		mqtt.deliver("a/status", "online");
		mqtt.deliver("a/telemetry", `{"light":100}`);
		mqtt.deliver("a/status", "offline");
		mqtt.deliver("a/status", "online");
		expect(commands("a")).toEqual([{ led_on: true }, { led_on: true }]);
		expect(events.filter((event) => event.type === "command").map((event) => (event as { reason: string }).reason)).toEqual(["changed", "online"]);
		expect(server.device("a")?.availability).toBe("online");
	});

	test("a device coming online before any reading gets no command", () => {
		mqtt.deliver("a/status", "online");
		expect(commands("a")).toEqual([]);
	});

	test("bad telemetry is counted and ignored; an empty retained status is not an error", () => {
		for (const payload of ["nope", `{"light":"dark"}`, `{"light":5000}`, new Uint8Array([0xff]), "x".repeat(10_000)])
			mqtt.deliver("a/telemetry", payload);
		mqtt.deliver("a/status", "");
		mqtt.deliver("a/status", "maybe");
		expect(server.stats.rejected).toBe(6);
		expect(commands("a")).toEqual([]);
		expect(lines.some((line) => line.includes("a/telemetry: rejected"))).toBe(true);
	});

	test("topics that are not a device's are ignored", () => {
		mqtt.deliver("a/b/telemetry", `{"light":1}`);
		mqtt.deliver("$SYS/broker/uptime", "1");
		expect(mqtt.published.filter((item) => item.topic !== "nightlight/server/status")).toEqual([]);
		expect(server.stats.rejected).toBe(0);
	});

	test("a throwing listener or a refused publish is logged, never thrown", () => {
		server.stop();
		mqtt = new FakeMqtt();
		server = new Server({ mqtt, clock, log, rule: { threshold: 300, hysteresis: 0 }, onEvent: () => { throw new Error("chart broke"); } });
		server.start();
		mqtt.connect();
		mqtt.deliver("a/telemetry", `{"light":1}`);
		expect(lines.some((line) => line.includes("chart broke"))).toBe(true);
		mqtt.failPublish = new Error("client disconnecting");
		mqtt.deliver("a/telemetry", `{"light":900}`);
		expect(lines.some((line) => line.includes("client disconnecting"))).toBe(true);
	});

	test("in a group, it shares the fleet's subscriptions and follows every server's commands", () => {
		server.stop();
		mqtt = new FakeMqtt();
		server = new Server({ mqtt, clock, log, rule: { threshold: 300, hysteresis: 0 }, share: "night" });
		server.start();
		mqtt.connect();
		expect(mqtt.subscriptions.map((item) => item.topic)).toEqual(["$share/night/+/telemetry", "+/status", "nightlight/server/status", "+/state", "nightlight/overrides/+/+", "+/config", "+/commands", "nightlight/servers/night/+", `$share/probe-${server.instance}/nightlight/probe/${server.instance}`]);
		// Another server of the group decided "on" for this device (seq 4).
		mqtt.deliver("a/commands", `{"led_on":true,"seq":4,"ts":${clock.now()}}`);
		mqtt.deliver("a/telemetry", `{"light":100}`);
		expect(mqtt.sent("a/commands")).toEqual([]);
		clock.advance(1_000);
		mqtt.deliver("a/telemetry", `{"light":900}`);
		expect(mqtt.sent("a/commands").map((item) => JSON.parse(item.message))).toEqual([{ led_on: false, seq: 5, ts: clock.now() }]);
	});

	test("in a group, it checks at its first connection that the broker delivers through shared subscriptions", () => {
		server.stop();
		const problems: string[] = [];
		const probed = (deliver: boolean) => {
			mqtt = new FakeMqtt();
			server = new Server({ mqtt, clock, log, rule: { threshold: 300, hysteresis: 0 }, share: "night", instance: "s1", onShareProblem: (problem) => problems.push(problem) });
			server.start();
			mqtt.connect();
			expect(mqtt.last("nightlight/probe/s1")).toMatchObject({ qos: 1, retain: false });
			if (deliver)
				mqtt.deliver("nightlight/probe/s1", "probe");
			clock.advance(PROBE_TIMEOUT_MS);
			server.stop();
		};
		probed(true);
		expect(problems).toEqual([]);
		probed(false);
		expect(problems).toEqual(["the broker delivered nothing through the shared subscription $share/probe-s1/nightlight/probe/s1 within 3 s: it has no MQTT shared subscriptions"]);
		expect(lines.filter((line) => line.startsWith("error server: share group night: the broker delivered nothing"))).toHaveLength(1);
	});

	test("a connection lost during the probe: the next connection probes again", () => {
		server.stop();
		const problems: string[] = [];
		mqtt = new FakeMqtt();
		server = new Server({ mqtt, clock, log, rule: { threshold: 300, hysteresis: 0 }, share: "night", instance: "s1", onShareProblem: (problem) => problems.push(problem) });
		server.start();
		mqtt.connect();
		mqtt.drop();
		clock.advance(PROBE_TIMEOUT_MS);
		expect(problems).toEqual([]);
		mqtt.connect();
		expect(mqtt.sent("nightlight/probe/s1")).toHaveLength(2);
		mqtt.deliver("nightlight/probe/s1", "probe");
		clock.advance(PROBE_TIMEOUT_MS);
		expect(problems).toEqual([]);
	});

	test("when another server's will says offline, a living server says online again", () => {
		mqtt.deliver("nightlight/server/status", "offline");
		expect(mqtt.last("nightlight/server/status")?.message).toBe("online");
		expect(mqtt.sent("nightlight/server/status")).toHaveLength(2);
	});

	test("refuses a bad rule at construction", () => {
		expect(() => new Server({ mqtt, clock, log, rule: { threshold: -1, hysteresis: 0 } })).toThrow(/threshold/);
		expect(() => new Server({ mqtt, clock, log, rule: { threshold: 300, hysteresis: 1.5 } })).toThrow(/hysteresis/);
	});
});
