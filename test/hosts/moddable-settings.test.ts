/* The Moddable hosts' settings: mc/config values (strings from the mcconfig command line) to checked settings. */
import { describe, expect, test } from "@jest/globals";
import { boardSettings, idFromMac } from "../../hosts/esp32/board.js";
import { describeSettings, flag, integer, parseAppSettings, parseBroker } from "../../hosts/moddable/settings.js";

describe("app settings", () => {
	test("the manifest's defaults give a local broker and change reporting", () => {
		const settings = parseAppSettings({ id: "", broker: "mqtt://127.0.0.1:1883", keepalive: 30, report: "change" });
		expect(settings.id).toBeUndefined();
		expect(settings.brokerHost).toBe("127.0.0.1");
		expect(settings.brokerPort).toBe(1883);
		expect(settings.report).toBe("change");
		expect(settings.samplePeriodMs).toBe(100);
	});

	test("command-line strings are parsed", () => {
		const settings = parseAppSettings({ id: "kitchen", broker: "mqtt://broker.local", keepalive: "60", sample_ms: "250", report: "period", period_ms: "5000" });
		expect(settings).toMatchObject({ id: "kitchen", brokerHost: "broker.local", brokerPort: 1883, keepaliveSeconds: 60, samplePeriodMs: 250, report: "period", periodMs: 5000 });
	});

	test("mqtts:// asks for TLS, on port 8883 unless told", () => {
		expect(parseBroker("mqtts://abc.s1.eu.hivemq.cloud")).toEqual({ host: "abc.s1.eu.hivemq.cloud", port: 8883, tls: true });
		expect(parseBroker("mqtts://localhost:18883/")).toEqual({ host: "localhost", port: 18883, tls: true });
		expect(parseBroker("mqtt://broker.local")).toEqual({ host: "broker.local", port: 1883, tls: false });
		expect(parseAppSettings({ broker: "mqtts://broker.example.com" })).toMatchObject({ brokerTls: true, brokerPort: 8883 });
	});

	test("bad values name the key and what is expected", () => {
		expect(() => parseAppSettings({ broker: "tcp://x" })).toThrow(/config "broker" must look like mqtt:\/\//);
		expect(() => parseAppSettings({ broker: "wss://x:8884" })).toThrow(/config "broker" must look like/);
		expect(() => parseAppSettings({ sample_ms: "fast" })).toThrow(/config "sample_ms" must be an integer 10\.\.60000/);
		expect(() => parseAppSettings({ report: "sometimes" })).toThrow(/config "report"/);
		expect(() => parseBroker("mqtt://host:99999")).toThrow(/port 99999/);
		expect(() => integer({ n: "1.5" }, "n", 0, 0, 10)).toThrow(/"n"/);
		expect(() => flag({ f: "maybe" }, "f", false)).toThrow(/"f" must be true or false/);
	});

	test("the start-up line masks the MQTT password", () => {
		const line = describeSettings(parseAppSettings({ mqtt_user: "dev", mqtt_password: "s3cret" }), "room1");
		expect(line).toContain("mqtt_user=dev");
		expect(line).toContain("mqtt_password=***");
		expect(line).not.toContain("s3cret");
	});
});

describe("ESP32 board settings", () => {
	const nodemcu = { ledPin: 2, analogPin: 33 };

	test("pins default to the board's provider, attenuation to the widest range", () => {
		expect(boardSettings({}, nodemcu)).toEqual({ sensorPin: 33, attenuation: 12, ledPin: 2, ledActiveLow: false });
	});

	test("the config overrides pins and polarity", () => {
		expect(boardSettings({ sensor_pin: "34", led_pin: "4", led_active_low: "1", attenuation: "6" }, nodemcu))
			.toEqual({ sensorPin: 34, attenuation: 6, ledPin: 4, ledActiveLow: true });
	});

	test("a board without an LED or analog pin asks for one", () => {
		expect(() => boardSettings({}, { ledPin: undefined, analogPin: 33 })).toThrow(/led_pin=/);
		expect(() => boardSettings({}, { ledPin: 2, analogPin: undefined })).toThrow(/sensor_pin=/);
		expect(() => boardSettings({ attenuation: "3" }, nodemcu)).toThrow(/attenuation/);
	});

	test("the default id comes from the MAC address", () => {
		expect(idFromMac("A4:D1:8C:DB:C0:20")).toBe("nightlight-dbc020");
		expect(idFromMac("")).toBeUndefined();
		expect(idFromMac("00:00:00:00:00:00")).toBeUndefined();
	});
});
