/* The server's side of devices' settings, on a fake clock and a fake MQTT client. */
import { beforeEach, describe, expect, test } from "@jest/globals";
import { Server } from "../server/server.js";
import { FakeClock } from "./support/fake-clock.js";
import { FakeMqtt } from "./support/fake-mqtt.js";

let clock: FakeClock;
let mqtt: FakeMqtt;
let server: Server;

beforeEach(() => {
	clock = new FakeClock();
	mqtt = new FakeMqtt();
	server = new Server({ mqtt, clock, log: () => undefined, rule: { threshold: 300, hysteresis: 20 } });
	server.start();
	mqtt.connect();
});

const report = (revision: number, extra: object = {}) => JSON.stringify({ revision, settings: { threshold: 300, hysteresis: 20 }, stored: [], refused: {}, restart: [], ...extra });

describe("devices' settings, as the server sees them", () => {
	test("keeps what each device says; a change is sent and answered by the device's new revision", async () => {
		mqtt.deliver("a/config", report(3));
		expect(server.configs.get("a")?.revision).toBe(3);
		const outcome = server.configs.change("a", { threshold: 250 });
		expect(mqtt.last("a/config/set")).toMatchObject({ message: `{"threshold":250}`, qos: 1, retain: false });
		mqtt.deliver("a/config", report(4, { settings: { threshold: 250, hysteresis: 20 }, stored: ["threshold"] }));
		await expect(outcome).resolves.toMatchObject({ ok: true, report: { revision: 4 } });
	});

	test("a bad change is refused before it is sent; the device's refusal and its silence are told apart", async () => {
		await expect(server.configs.change("a", { threshold: 5000, colour: "red" })).resolves.toMatchObject({ ok: false, status: 400, refused: { threshold: expect.stringContaining("0..1024"), colour: "no such setting" } });
		await expect(server.configs.change("a", [1])).resolves.toMatchObject({ ok: false, status: 400 });
		expect(mqtt.sent("a/config/set")).toEqual([]);
		const refused = server.configs.change("a", { broker: "mqtt://10.0.0.2" });
		mqtt.deliver("a/config", report(0, { refused: { "*": "cannot store the settings: flash full" } }));
		await expect(refused).resolves.toMatchObject({ ok: false, status: 400, refused: { "*": expect.stringContaining("flash full") } });
		const silent = server.configs.change("a", { threshold: 200 });
		clock.advance(5_000);
		await expect(silent).resolves.toMatchObject({ ok: false, status: 504, error: expect.stringContaining("no answer from a within 5 s") });
	});

	test("a threshold stored on the device is the one the server decides it with", () => {
		mqtt.deliver("a/telemetry", `{"light":400,"seq":1}`);
		expect(mqtt.sent("a/commands").map((item) => JSON.parse(item.message).led_on)).toEqual([false]);
		mqtt.deliver("a/config", report(1, { settings: { threshold: 500, hysteresis: 20 }, stored: ["threshold"] }));
		expect(server.thresholdOf("a")).toBe(500);
		expect(mqtt.sent("a/commands").map((item) => JSON.parse(item.message).led_on)).toEqual([false, true]);
		// A built-in threshold (not stored) leaves the server's rule in charge.
		mqtt.deliver("b/config", report(0, { settings: { threshold: 900, hysteresis: 20 } }));
		expect(server.thresholdOf("b")).toBe(300);
		mqtt.deliver("c/config", "not json");
		expect(server.stats.rejected).toBe(1);
	});
});
