/*
 * Scenarios for settings changed on a running device: the schema, the store, `config/set` over
 * MQTT, the console. Portable: jest runs them on Node, and the same bundle runs on XS.
 */
import { ConfigChannel, Settings, type SettingsStore, consoleCommand, liveSettings } from "../../src/config.js";
import { SETTINGS, type Values, fromConfig, parseChange } from "../../src/settings.js";
import { deepEqual, equal, ok } from "../support/assert.js";
import { FakeMqtt } from "../support/fake-mqtt.js";
import { type Scenario, rig } from "./device.js";

class MemoryStore implements SettingsStore {
	values: Values = {};
	revision = 0;
	saves = 0;
	fail: string | undefined;
	load(): { values: Values; revision: number } {
		return { values: { ...this.values }, revision: this.revision };
	}
	save(values: Values, revision: number): void {
		if (this.fail)
			throw new Error(this.fail);
		this.values = { ...values };
		this.revision = revision;
		this.saves++;
	}
}

function setup(config: Values = {}) {
	const store = new MemoryStore();
	const lines: string[] = [];
	const applied: string[][] = [];
	const settings = new Settings({ store, config, log: (level, tag, message) => lines.push(`${level} ${tag}: ${message}`), apply: (_values, keys) => applied.push(keys) });
	const mqtt = new FakeMqtt();
	const channel = new ConfigChannel("room1", mqtt, settings, () => undefined);
	channel.start();
	mqtt.connect();
	const report = () => JSON.parse(mqtt.last("room1/config")!.message) as { revision: number; settings: Values; refused: Record<string, string>; restart: string[] };
	return { store, settings, mqtt, channel, applied, lines, report };
}

/** A small seeded generator, so that XS and Node try the same payloads. */
function random(seed: number): () => number {
	let state = seed >>> 0;
	return () => {
		state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
		return state / 4294967296;
	};
}

export const configScenarios: Scenario[] = [
	{
		name: "settings: stored beats build-time beats the default; secrets are masked",
		run() {
			const s = setup({ threshold: 200, mqtt_password: "hunter2", broker: "mqtt://10.0.0.2" });
			equal(s.settings.values.threshold, 200, "build-time over default");
			equal(s.settings.values.hysteresis, 20, "default");
			equal(s.settings.source("threshold"), "build", "source");
			s.mqtt.deliver("room1/config/set", `{"threshold":250}`);
			equal(s.settings.values.threshold, 250, "stored over build-time");
			equal(s.settings.source("threshold"), "stored", "source");
			const report = s.report();
			equal(report.settings.mqtt_password, "***", "a secret is masked");
			equal(report.settings.wifi_password, undefined, "an unset secret is absent");
			ok(!s.mqtt.last("room1/config")!.message.includes("hunter2"), "the secret never leaves");
			equal(s.mqtt.last("room1/config")!.retain, true, "retained");
		},
	},
	{
		name: "config/set: a change is stored, applied live and reported with a new revision",
		run() {
			const s = setup();
			equal(s.report().revision, 0, "announced at connect");
			deepEqual(s.mqtt.subscriptions.map((item) => item.topic), ["room1/config/set"], "subscribed");
			s.mqtt.deliver("room1/config/set", `{"threshold":250,"hysteresis":30,"broker":"mqtt://10.0.0.2:1883"}`);
			const report = s.report();
			equal(report.revision, 1, "revision");
			deepEqual(report.refused, {}, "nothing refused");
			deepEqual(report.restart, ["broker"], "the broker waits for a restart");
			deepEqual(s.applied, [["threshold", "hysteresis"]], "the live part applied at once");
			deepEqual(s.store.values, { threshold: 250, hysteresis: 30, broker: "mqtt://10.0.0.2:1883" }, "stored");
			s.mqtt.deliver("room1/config/set", `{"threshold":null}`);
			equal(s.settings.values.threshold, 300, "null unsets: back to the default");
			equal(s.report().revision, 2, "revision");
			const said = s.mqtt.sent("room1/config").length;
			s.channel.announce(true);
			equal(s.mqtt.sent("room1/config").length, said, "nothing new to say: nothing said");
			s.mqtt.drop();
			s.mqtt.connect();
			equal(s.mqtt.subscriptions.length, 2, "subscribed again at every connect");
		},
	},
	{
		name: "config/set: one bad key and nothing is stored or applied; each refused key is reported",
		run() {
			const s = setup();
			s.mqtt.deliver("room1/config/set", `{"threshold":5000,"hysteresis":10,"colour":"red","report":"often","id":"a/b"}`);
			const report = s.report();
			deepEqual(Object.keys(report.refused).sort(), ["colour", "id", "report", "threshold"], "every bad key named");
			ok(report.refused.threshold!.includes("0..1024"), `says the range: ${report.refused.threshold}`);
			equal(report.refused.colour, "no such setting", "unknown key");
			equal(report.revision, 0, "no new revision");
			equal(s.settings.values.hysteresis, 20, "the good key was not applied either");
			equal(s.store.saves, 0, "nothing stored");
			deepEqual(s.applied, [], "nothing applied");
		},
	},
	{
		name: "hostile config payloads: nothing applied, nothing lost, each refused",
		run() {
			const s = setup();
			s.mqtt.deliver("room1/config/set", `{"threshold":250}`);
			const hostile: Array<string | Uint8Array> = [
				"", "null", "[]", "[1,2]", "\"threshold\"", "42", "{", "{\"threshold\":}", "{\"__proto__\":{\"threshold\":1}}",
				"{\"constructor\":{\"prototype\":{}}}", "{\"threshold\":\"250x\"}", "{\"threshold\":1e999}", "{\"threshold\":2.5}",
				"{\"threshold\":true}", "{\"threshold\":[250]}", "{\"wifi_ssid\":\"a\\u0000b\"}", "{\"wifi_ssid\":\"" + "x".repeat(40) + "\"}",
				"{\"broker\":\"http://evil\"}", "{\"threshold\":250," + "\"k\":1,".repeat(200) + "\"z\":1}", "x".repeat(5000),
				new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]),
			];
			const next = random(7);
			const alphabet = "{}[]\":,0123456789abcdefghijklmnopqrstuvwxyz_ \\\u00e9";
			for (let i = 0; i < 300; i++) {
				let text = "{\"";
				const length = Math.floor(next() * 40);
				for (let k = 0; k < length; k++)
					text += alphabet[Math.floor(next() * alphabet.length)];
				hostile.push(text);
			}
			let refusedEvery = true;
			for (const payload of hostile) {
				s.mqtt.deliver("room1/config/set", payload);
				const report = s.report();
				if (Object.keys(report.refused).length === 0 && report.revision !== 1)
					refusedEvery = false;
			}
			ok(refusedEvery, "every hostile payload was refused, with a reason");
			equal(s.settings.revision, 1, "nothing applied");
			deepEqual(s.store.values, { threshold: 250 }, "nothing lost");
			equal(({} as Record<string, unknown>).threshold, undefined, "no prototype was touched");
		},
	},
	{
		name: "a store that cannot write: nothing is applied, and that is reported",
		run() {
			const s = setup();
			s.store.fail = "flash full";
			s.mqtt.deliver("room1/config/set", `{"threshold":250}`);
			ok(s.report().refused["*"]!.includes("flash full"), "reported");
			equal(s.settings.values.threshold, 300, "not applied");
			deepEqual(s.applied, [], "nothing handed to the device");
		},
	},
	{
		name: "the console: help, show, set, unset, reboot, factory-reset; one clear line for each bad input",
		run() {
			const s = setup({ mqtt_password: "hunter2" });
			let restarts = 0;
			const run = (line: string) => consoleCommand({ settings: s.settings, restart: () => restarts++ }, line);
			ok(run("help")[0]!.includes("set KEY VALUE"), "help");
			ok(run("help").some((line) => line.startsWith("  threshold:")), "help lists the settings");
			deepEqual(run("set threshold 250"), ["ok: threshold=250"], "set");
			deepEqual(run("set wifi_ssid My Home Network"), ["ok: wifi_ssid=\"My Home Network\"; type reboot to use it"], "a value with spaces");
			deepEqual(run("set mqtt_password s3cret"), ["ok: mqtt_password=***; type reboot to use it"], "a secret is not echoed");
			const shown = run("show");
			ok(shown.includes("threshold=250 (stored)") && shown.includes("hysteresis=20 (default)"), "show says where each value comes from");
			ok(shown.includes("mqtt_password=*** (stored)") && !shown.join("\n").includes("s3cret"), "show masks secrets");
			ok(shown[shown.length - 1]!.includes("at the next reboot: wifi_ssid, mqtt_password"), `what waits for a reboot: ${shown[shown.length - 1]}`);
			deepEqual(run("set threshold lots"), ["error: threshold must be an integer 0..1024, got \"lots\""], "a bad value");
			deepEqual(run("set colour red"), ["error: no setting \"colour\": type help for the list"], "an unknown setting");
			deepEqual(run("set"), ["error: set needs a setting: type help for the list"], "set alone");
			deepEqual(run("unset threshold now"), ["error: unset takes only the setting's name: unset threshold"], "unset with a value");
			deepEqual(run("frobnicate"), ["error: unknown command \"frobnicate\": type help"], "an unknown command");
			deepEqual(run("unset threshold"), ["ok: threshold=300"], "unset");
			deepEqual(run("reboot"), ["ok: restarting"], "reboot");
			deepEqual(run("factory-reset"), ["ok: settings forgotten; restarting"], "factory reset");
			equal(restarts, 2, "restarted twice");
			deepEqual(s.store.values, {}, "nothing stored any more");
			deepEqual(run(""), [], "an empty line says nothing");
		},
	},
	{
		name: "a live threshold from config/set changes the device's local rule at once",
		run() {
			const r = rig({ graceMs: 1_000 });
			const store = new MemoryStore();
			const settings = new Settings({ store, config: {}, log: () => undefined, apply: (values) => r.device.configure(liveSettings(values)) });
			const channel = new ConfigChannel("room1", r.mqtt, settings, () => undefined);
			channel.start();
			r.mqtt.connect();
			r.device.start();
			r.mqtt.drop();
			r.clock.advance(1_500);
			equal(r.device.mode, "local", "local");
			r.sensor.set(350);
			equal(r.led.on, false, "350 is bright under threshold 300");
			settings.receive(`{"threshold":400}`);
			equal(r.led.on, true, "under threshold 400 it is dark: lit at once");
		},
	},
	{
		name: "the schema checks build-time values the way it checks stored ones",
		run() {
			const { values, errors } = fromConfig({ threshold: "250", keepalive: 30, report: "period", broker: "ftp://x", sample_ms: "" });
			deepEqual(values, { keepalive: 30, report: "period", threshold: 250 }, "strings from mcconfig become numbers");
			deepEqual(errors, ["config \"broker\" must be mqtt://host[:port] or mqtts://host[:port], got \"ftp://x\""], "a bad one is named");
			equal(SETTINGS.filter((spec) => spec.secret).length, 2, "two secrets");
			deepEqual(parseChange({ threshold: 1 }).refused, {}, "a fine change");
		},
	},
];
