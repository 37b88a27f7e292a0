/*
 * Home Assistant MQTT discovery, published by the server for every device it knows (one place for
 * the fleet, as Zigbee2MQTT does; the firmware stays small). Each device gets, under
 * `<prefix>/<component>/nightlight_<id>/<object>/config` (retained):
 *   - sensor "Light": the reading, straight from `<id>/telemetry`;
 *   - select "LED": auto, on or off; Home Assistant's choice comes back on
 *     `nightlight/ha/<id>/led/set` and becomes our override (auto: the rule decides), so the
 *     LED obeys it whichever way the fleet is run; the override in force is said, retained,
 *     on `nightlight/ha/<id>/led`;
 *   - binary_sensor "LED lit": what the device says its LED does (`<id>/state`);
 *   - sensor "Mode": remote or local (`<id>/state`), a diagnostic.
 * Availability: all of the device's `<id>/status` (once the device has said one: a lesson device
 * has none) and the server's status topic. The configs are published when a device is first
 * heard of, again when it first says its availability, when the server (re)connects and when
 * Home Assistant says `online` on `<prefix>/status` (its birth message: it restarted and may have
 * lost them); a device the server forgets has its configs removed (an empty retained payload).
 *
 * Announcing is paced (ANNOUNCE_PER_TICK devices every ANNOUNCE_TICK_MS, off the path that handles
 * readings): a fleet of thousands heard at once, or announced again at Home Assistant's restart,
 * does not hold up the commands.
 *
 * Servers sharing the fleet (`share`) all publish the same retained configs; a command from Home
 * Assistant reaches one of them through the shared subscription, and the override it sets is
 * shared as any other.
 */
import { SERVER_STATUS_TOPIC, isDeviceId, payloadText, topics } from "../src/contract.js";
import { messageOf } from "../src/errors.js";
import { hashString, subscribeLogged } from "../src/link.js";
import type { Clock, Log, MqttClient, Payload, TimerHandle } from "../src/ports.js";
import type { Override } from "./overrides.js";
import type { DeviceRecord, ServerEvent } from "./types.js";

const TAG = "discovery";
export const DEFAULT_HA_PREFIX = "homeassistant";
/** Our own topics for Home Assistant's commands and the override state: four levels, no device's. */
const OURS = "nightlight/ha";
export const LED_OPTIONS = ["auto", "on", "off"] as const;
const ANNOUNCE_TICK_MS = 100;
/** Devices announced per tick: five retained messages each. */
const ANNOUNCE_PER_TICK = 100;
type LedOption = (typeof LED_OPTIONS)[number];

/** What discovery needs of the server. */
export interface DiscoverySource {
	devices(): DeviceRecord[];
	device(id: string): DeviceRecord | undefined;
	override(kind: "device", id: string): Override | undefined;
	setOverride(override: Override): { ok: true } | { ok: false; error: string };
	clearOverride(kind: "device", id: string): boolean;
}

export interface DiscoveryOptions {
	mqtt: MqttClient;
	server: DiscoverySource;
	clock: Clock;
	log: Log;
	/** Home Assistant's discovery prefix: one or more topic levels. */
	prefix?: string;
	/** The servers' shared-subscription group, if the fleet is split. */
	share?: string | undefined;
	/** The nightlight version, shown as the software of each device. */
	version: string;
}

/** One entity's discovery message: where it goes and what it says. */
export interface DiscoveryConfig {
	component: "sensor" | "select" | "binary_sensor";
	topic: string;
	payload: Record<string, unknown>;
}

/** A topic level Home Assistant takes as a node id ([A-Za-z0-9_-]); ids with other characters get a hash to stay distinct. */
export function nodeId(id: string): string {
	return /^[A-Za-z0-9_-]+$/.test(id) ? `nightlight_${id}` : `nightlight_${id.replace(/[^A-Za-z0-9_-]/g, "_")}_${hashString(id).toString(16)}`;
}

export const ledCommandTopic = (id: string) => `${OURS}/${id}/led/set`;
export const ledStateTopic = (id: string) => `${OURS}/${id}/led`;

export function checkPrefix(prefix: string): string | undefined {
	if (prefix === "" || prefix.startsWith("/") || prefix.endsWith("/") || /[+#\u0000]/.test(prefix) || prefix.split("/").some((level) => level === ""))
		return `must be MQTT topic levels without wildcards, e.g. "homeassistant", got ${JSON.stringify(prefix)}`;
	return undefined;
}

/** The discovery messages of one device; `hasStatus`: the device says its availability. */
export function discoveryConfigs(prefix: string, id: string, hasStatus: boolean, version: string): DiscoveryConfig[] {
	const node = nodeId(id);
	const common = {
		availability: [...(hasStatus ? [{ topic: topics.status(id) }] : []), { topic: SERVER_STATUS_TOPIC }].map((item) => ({ ...item, payload_available: "online", payload_not_available: "offline" })),
		availability_mode: "all",
		device: { identifiers: [node], name: id, manufacturer: "nightlight", model: "nightlight (light sensor and LED)", sw_version: version },
		origin: { name: "nightlight server", sw_version: version },
	};
	const config = (component: DiscoveryConfig["component"], object: string, payload: Record<string, unknown>): DiscoveryConfig => ({
		component,
		topic: `${prefix}/${component}/${node}/${object}/config`,
		payload: { ...payload, unique_id: `${node}_${object}`, ...common },
	});
	return [
		config("sensor", "light", { name: "Light", state_topic: topics.telemetry(id), value_template: "{{ value_json.light }}", state_class: "measurement", icon: "mdi:brightness-6" }),
		config("select", "led", { name: "LED", command_topic: ledCommandTopic(id), state_topic: ledStateTopic(id), options: [...LED_OPTIONS], icon: "mdi:lightbulb-auto" }),
		config("binary_sensor", "lit", { name: "LED lit", state_topic: topics.state(id), value_template: "{{ 'ON' if value_json.led_on else 'OFF' }}", payload_on: "ON", payload_off: "OFF", icon: "mdi:lightbulb" }),
		config("sensor", "mode", { name: "Mode", state_topic: topics.state(id), value_template: "{{ value_json.mode }}", device_class: "enum", options: ["remote", "local"], entity_category: "diagnostic" }),
	];
}

export class Discovery {
	#mqtt: MqttClient;
	#server: DiscoverySource;
	#clock: Clock;
	#log: Log;
	/** Devices waiting to be announced (in order), and the timer that announces them. */
	#queue = new Set<string>();
	#timer: TimerHandle | undefined;
	#prefix: string;
	#share: string | undefined;
	#version: string;
	/** Device id → whether its configs name its status topic. */
	#announced = new Map<string, boolean>();
	/** Device id → the override state last said for it. */
	#said = new Map<string, LedOption>();
	#running = false;

	#onConnect = () => this.#connected();
	#onMessage = (topic: string, payload: Payload) => this.#message(topic, payload);

	constructor(options: DiscoveryOptions) {
		const prefix = options.prefix ?? DEFAULT_HA_PREFIX;
		const problem = checkPrefix(prefix);
		if (problem)
			throw new RangeError(`Home Assistant prefix ${problem}`);
		this.#mqtt = options.mqtt;
		this.#server = options.server;
		this.#clock = options.clock;
		this.#log = options.log;
		this.#prefix = prefix;
		this.#share = options.share;
		this.#version = options.version;
	}

	get prefix(): string {
		return this.#prefix;
	}

	/** The topic where Home Assistant says `online` when it starts. */
	get statusTopic(): string {
		return `${this.#prefix}/status`;
	}

	start(): void {
		if (this.#running)
			return;
		this.#running = true;
		this.#mqtt.on("connect", this.#onConnect);
		this.#mqtt.on("message", this.#onMessage);
		if (this.#mqtt.connected)
			this.#connected();
	}

	stop(): void {
		this.#running = false;
		this.#clock.clearTimeout(this.#timer);
		this.#timer = undefined;
		this.#queue.clear();
		this.#mqtt.off("connect", this.#onConnect);
		this.#mqtt.off("message", this.#onMessage);
	}

	observe(event: ServerEvent): void {
		if (!this.#running || !this.#mqtt.connected)
			return;
		switch (event.type) {
		case "telemetry":
		case "state":
		case "command":
			if (!this.#announced.has(event.id))
				this.#enqueue(event.id);
			break;
		case "availability":
			if (this.#announced.get(event.id) !== true)
				this.#enqueue(event.id);
			break;
		case "overrides":
			if (event.change.kind === "device" && this.#announced.has(event.change.id))
				this.#sayLed(event.change.id, false);
			break;
		case "forgotten":
			this.#queue.delete(event.id);
			this.#remove(event.id);
			break;
		default:
			break;
		}
	}

	#connected(): void {
		const commands = this.#share === undefined ? ledCommandTopic("+") : `$share/${this.#share}/${ledCommandTopic("+")}`;
		subscribeLogged(this.#mqtt, this.#log, TAG, commands);
		subscribeLogged(this.#mqtt, this.#log, TAG, this.statusTopic);
		this.#announceAll();
	}

	#announceAll(): void {
		const devices = this.#server.devices();
		for (const device of devices)
			this.#enqueue(device.id);
		if (devices.length > 0)
			this.#log("info", TAG, `announcing ${devices.length} devices to Home Assistant under ${this.#prefix}/`);
	}

	#enqueue(id: string): void {
		this.#queue.add(id);
		this.#timer ??= this.#clock.setTimeout(() => this.#pump(), 0);
	}

	/** Announces the next devices in the queue; again in a tick while some wait. */
	#pump(): void {
		this.#timer = undefined;
		if (!this.#running || !this.#mqtt.connected)
			return;
		let count = 0;
		for (const id of this.#queue) {
			if (count++ === ANNOUNCE_PER_TICK)
				break;
			this.#queue.delete(id);
			this.#announce(id, this.#hasStatus(id));
		}
		if (this.#queue.size > 0)
			this.#timer = this.#clock.setTimeout(() => this.#pump(), ANNOUNCE_TICK_MS);
	}

	#announce(id: string, hasStatus: boolean): void {
		for (const config of discoveryConfigs(this.#prefix, id, hasStatus, this.#version))
			this.#publish(config.topic, JSON.stringify(config.payload));
		this.#announced.set(id, hasStatus);
		this.#sayLed(id, true);
	}

	#remove(id: string): void {
		if (!this.#announced.delete(id))
			return;
		for (const config of discoveryConfigs(this.#prefix, id, false, this.#version))
			this.#publish(config.topic, "");
		this.#publish(ledStateTopic(id), "");
		this.#said.delete(id);
		this.#log("info", TAG, `${id}: forgotten; removed from Home Assistant`);
	}

	/** Says the device's override (auto when none), when it changed or `always`. */
	#sayLed(id: string, always: boolean): void {
		const override = this.#server.override("device", id);
		const mode: LedOption = override?.mode ?? "auto";
		if (!always && this.#said.get(id) === mode)
			return;
		this.#said.set(id, mode);
		this.#publish(ledStateTopic(id), mode);
	}

	#hasStatus(id: string): boolean {
		return this.#server.device(id)?.availability !== undefined;
	}

	#message(topic: string, payload: Payload): void {
		if (topic === this.statusTopic) {
			const text = payloadText(payload, 16);
			if (text.ok && text.value === "online") {
				this.#log("info", TAG, "Home Assistant says it is online: announcing the devices again");
				this.#announceAll();
			}
			return;
		}
		if (!topic.startsWith(`${OURS}/`) || !topic.endsWith("/led/set"))
			return;
		const id = topic.slice(OURS.length + 1, -"/led/set".length);
		const text = payloadText(payload, 16);
		const choice = text.ok ? text.value.trim().toLowerCase() : "";
		if (!isDeviceId(id) || !(LED_OPTIONS as readonly string[]).includes(choice) || this.#server.device(id) === undefined) {
			this.#log("warn", TAG, `${topic}: expected one of ${LED_OPTIONS.join(", ")} for a device this server knows, got ${JSON.stringify(text.ok ? text.value : "(not text)")}`);
			return;
		}
		const current = this.#server.override("device", id);
		this.#log("info", TAG, `Home Assistant sets ${id}'s LED to ${choice}`);
		if (choice === "auto" && current?.threshold === undefined)
			this.#server.clearOverride("device", id);
		else
			this.#server.setOverride({ kind: "device", id, mode: choice as LedOption, ...(current?.threshold === undefined ? {} : { threshold: current.threshold }) });
		// Said even when nothing changed, so Home Assistant's select comes back to the truth.
		this.#sayLed(id, true);
	}

	#publish(topic: string, message: string): void {
		try {
			this.#mqtt.publish(topic, message, { qos: 1, retain: true }, (error) => {
				if (error)
					this.#log("warn", TAG, `cannot publish ${topic}: ${error.message}`);
			});
		}
		catch (error) {
			this.#log("warn", TAG, `cannot publish ${topic}: ${messageOf(error)}`);
		}
	}
}
