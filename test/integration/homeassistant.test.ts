/*
 * Home Assistant discovery against Mosquitto: a nightlight server announcing its devices, a real
 * device, and a client that behaves as Home Assistant does. It follows the discovery topics,
 * checks each config against the keys Home Assistant's MQTT documentation requires of that
 * component (and knows no others), tracks availability and state through the advertised topics
 * and templates, and sends the advertised command: the LED follows, through our overrides.
 */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import mqtt from "mqtt";
import { type NodeDevice, startNodeDevice } from "../../hosts/node/device.js";
import { nodeClock } from "../../runtime/node/clock.js";
import { Discovery } from "../../server/discovery.js";
import { type NodeServer, startNodeServer } from "../../server/node.js";
import type { Led } from "../../src/ports.js";
import { type TestBroker, mosquittoAvailable, startMosquitto } from "../support/brokers.js";
import { until } from "../support/wait.js";

const ID = "ha-lamp";
const PREFIX = "homeassistant";

/** Keys Home Assistant's MQTT integration documents for each component we use; the required ones apart. */
const COMMON_KEYS = ["name", "unique_id", "availability", "availability_mode", "device", "origin", "icon", "entity_category", "value_template", "state_topic"];
const SCHEMA: Record<string, { required: string[]; optional: string[] }> = {
	sensor: { required: ["state_topic"], optional: ["state_class", "device_class", "options", "unit_of_measurement"] },
	select: { required: ["command_topic", "options"], optional: ["command_template"] },
	binary_sensor: { required: ["state_topic"], optional: ["payload_on", "payload_off", "device_class"] },
};
const DEVICE_KEYS = ["identifiers", "connections", "name", "manufacturer", "model", "sw_version", "hw_version", "via_device", "configuration_url", "suggested_area"];

class RecordingLed implements Led {
	on = false;
	write(on: boolean): void {
		this.on = on;
	}
}

/** The three template forms Home Assistant is given, evaluated as its Jinja would; anything else fails the test. */
function render(template: string | undefined, payload: string): string {
	if (template === undefined)
		return payload;
	const json = JSON.parse(payload) as Record<string, unknown>;
	let match = /^\{\{ value_json\.(\w+) \}\}$/.exec(template);
	if (match)
		return String(json[match[1]!]);
	match = /^\{\{ '(\w+)' if value_json\.(\w+) else '(\w+)' \}\}$/.exec(template);
	if (match)
		return json[match[2]!] ? match[1]! : match[3]!;
	throw new Error(`a template this test does not know: ${template}`);
}

interface Entity {
	component: string;
	topic: string;
	config: Record<string, any>;
}

/** What Home Assistant does with MQTT discovery, reduced to what the test needs. */
class HomeAssistantLike {
	entities = new Map<string, Entity>();
	retained = new Map<string, string>();
	states = new Map<string, string>();
	client!: mqtt.MqttClient;

	async connect(url: string): Promise<void> {
		this.client = await mqtt.connectAsync(url, { reconnectPeriod: 0, clientId: `ha-like-${Math.random().toString(16).slice(2)}`, will: { topic: `${PREFIX}/status`, payload: Buffer.from("offline"), qos: 1, retain: false } });
		this.client.on("message", (topic, payload) => this.#message(topic, payload.toString()));
		await this.client.subscribeAsync(`${PREFIX}/#`, { qos: 1 });
		// Its birth message, as Home Assistant sends it when its MQTT integration starts.
		await this.client.publishAsync(`${PREFIX}/status`, "online", { qos: 1 });
	}

	#message(topic: string, payload: string): void {
		this.retained.set(topic, payload);
		const match = new RegExp(`^${PREFIX}/(\\w+)/([A-Za-z0-9_-]+)/([A-Za-z0-9_-]+)/config$`).exec(topic);
		if (match) {
			if (payload === "") {
				this.entities.delete(topic);
				return;
			}
			const config = JSON.parse(payload) as Record<string, any>;
			this.entities.set(topic, { component: match[1]!, topic, config });
			// Follow the entity: its state and availability topics.
			for (const watched of [config.state_topic, ...(config.availability ?? []).map((item: { topic: string }) => item.topic)])
				if (watched)
					void this.client.subscribeAsync(watched, { qos: 1 });
			return;
		}
		for (const entity of this.entities.values()) {
			if (entity.config.state_topic === topic && payload !== "")
				this.states.set(entity.config.unique_id, render(entity.config.value_template, payload));
		}
	}

	entity(uniqueId: string): Entity | undefined {
		return [...this.entities.values()].find((entity) => entity.config.unique_id === uniqueId);
	}

	/** Available as Home Assistant decides it with availability_mode "all": every topic says its payload_available. */
	available(entity: Entity): boolean {
		return entity.config.availability.every((item: Record<string, string>) => this.retained.get(item.topic!) === (item.payload_available ?? "online"));
	}
}

const run = mosquittoAvailable() ? describe : describe.skip;

run("Home Assistant discovery, against Mosquitto", () => {
	let broker: TestBroker;
	let server: NodeServer;
	let discovery: Discovery;
	let device: NodeDevice;
	const led = new RecordingLed();
	const ha = new HomeAssistantLike();
	const lines: string[] = [];

	beforeAll(async () => {
		broker = await startMosquitto();
		const log = (_level: string, tag: string, message: string) => lines.push(`${tag}: ${message}`);
		server = startNodeServer({
			url: broker.url,
			rule: { threshold: 300, hysteresis: 20 },
			log,
			notDevices: [PREFIX],
			onEvent: (event) => discovery?.observe(event),
		});
		discovery = new Discovery({ mqtt: server.client, server: server.server, clock: nodeClock, log, prefix: PREFIX, version: "9.9.9" });
		discovery.start();
		// Bright: the rule says off.
		device = startNodeDevice({ id: ID, url: broker.url, light: 700, log: () => undefined, led });
		await until(() => server.server.device(ID)?.availability === "online" && server.server.device(ID)?.ledState === false, "the device online and reporting its LED off");
		await ha.connect(broker.url);
	}, 30_000);

	afterAll(async () => {
		discovery?.stop();
		await ha.client?.endAsync();
		await device?.stop();
		await server?.stop();
		await broker?.stop();
	});

	test("every config is what Home Assistant requires of its component, on a topic it follows", async () => {
		await until(() => ha.entities.size === 4 || undefined, "four entities announced");
		for (const { component, topic, config } of ha.entities.values()) {
			const schema = SCHEMA[component];
			expect(schema).toBeDefined();
			expect(topic).toMatch(/^homeassistant\/(sensor|select|binary_sensor)\/nightlight_ha-lamp\/[a-z]+\/config$/);
			for (const key of schema!.required)
				expect([topic, key, config[key]]).toEqual([topic, key, expect.anything()]);
			for (const key of Object.keys(config))
				expect([...COMMON_KEYS, ...schema!.required, ...schema!.optional]).toContain(key);
			// A device registry entry needs a unique_id and identifiers (or connections).
			expect(config.unique_id).toMatch(/^nightlight_ha-lamp_\w+$/);
			expect(config.device.identifiers).toEqual(["nightlight_ha-lamp"]);
			for (const key of Object.keys(config.device))
				expect(DEVICE_KEYS).toContain(key);
			expect(config.device).toMatchObject({ name: ID, sw_version: "9.9.9", model: expect.any(String), manufacturer: "nightlight" });
			expect(config.availability_mode).toBe("all");
			expect(config.availability.map((item: { topic: string }) => item.topic)).toEqual([`${ID}/status`, "nightlight/server/status"]);
			if (component === "select")
				expect(config.options).toEqual(["auto", "on", "off"]);
		}
		// Unique ids are unique.
		expect(new Set([...ha.entities.values()].map((entity) => entity.config.unique_id)).size).toBe(4);
		// Home Assistant's own status topic is not taken for a device.
		expect(server.server.device(PREFIX)).toBeUndefined();
	});

	test("it reads the light, the LED and the mode, and counts the device available", async () => {
		const light = ha.entity("nightlight_ha-lamp_light")!;
		await until(() => ha.states.get("nightlight_ha-lamp_light"), "a light reading through the sensor's state topic");
		expect(Number(ha.states.get("nightlight_ha-lamp_light"))).toBeGreaterThan(600);
		await until(() => ha.states.get("nightlight_ha-lamp_lit") === "OFF", "the LED off through the binary sensor");
		await until(() => ha.states.get("nightlight_ha-lamp_mode") === "remote", "the mode");
		await until(() => ha.states.get("nightlight_ha-lamp_led") === "auto", "the LED select at auto");
		await until(() => ha.available(light), "the device available");
	});

	test("a choice sent to the advertised command topic makes the LED follow, through the overrides", async () => {
		const select = ha.entity("nightlight_ha-lamp_led")!;
		await ha.client.publishAsync(select.config.command_topic, "on", { qos: 1 });
		await until(() => led.on, "the LED on");
		await until(() => ha.states.get("nightlight_ha-lamp_lit") === "ON" && ha.states.get("nightlight_ha-lamp_led") === "on", "Home Assistant seeing it on");
		expect(server.server.overrides()).toMatchObject([{ kind: "device", id: ID, mode: "on" }]);
		await ha.client.publishAsync(select.config.command_topic, "auto", { qos: 1 });
		await until(() => !led.on, "the LED back to the rule: off in bright light");
		await until(() => ha.states.get("nightlight_ha-lamp_led") === "auto" && ha.states.get("nightlight_ha-lamp_lit") === "OFF", "Home Assistant seeing auto");
		expect(server.server.overrides()).toEqual([]);
		// Nonsense is refused and changes nothing.
		await ha.client.publishAsync(select.config.command_topic, "blink", { qos: 1 });
		await until(() => lines.some((line) => line.includes("blink")), "the refusal logged");
		expect(server.server.overrides()).toEqual([]);
	});

	test("the device's going offline makes its entities unavailable, its return available again", async () => {
		const light = ha.entity("nightlight_ha-lamp_light")!;
		await device.stop();
		await until(() => !ha.available(light), "the device unavailable");
		device = startNodeDevice({ id: ID, url: broker.url, light: 700, log: () => undefined, led });
		await until(() => ha.available(light), "the device available again");
	});

	test("configs lost by the broker come back when Home Assistant says it is online (its birth message)", async () => {
		for (const topic of ha.entities.keys())
			await ha.client.publishAsync(topic, "", { qos: 1, retain: true });
		await until(() => ha.entities.size === 0 || undefined, "the configs cleared");
		await ha.client.publishAsync(`${PREFIX}/status`, "online", { qos: 1 });
		await until(() => ha.entities.size === 4 || undefined, "the configs published again");
	});

	test("a forgotten device's configs are removed", async () => {
		discovery.observe({ type: "forgotten", id: ID });
		await until(() => ha.entities.size === 0 || undefined, "the configs removed");
		// Retained removals: a Home Assistant that starts now finds nothing.
		const late = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
		const seen: string[] = [];
		let done = false;
		late.on("message", (topic, payload) => {
			if (topic === "probe/done")
				done = true;
			else if (payload.length > 0)
				seen.push(topic);
		});
		await late.subscribeAsync([`${PREFIX}/+/+/+/config`, "probe/done"], { qos: 1 });
		// The broker delivers in order: the retained configs, if any, come before this.
		await late.publishAsync("probe/done", "x", { qos: 1 });
		await until(() => done, "the probe");
		await late.endAsync();
		expect(seen).toEqual([]);
	});
});
