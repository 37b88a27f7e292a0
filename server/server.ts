/*
 * The nightlight server: watches every device's telemetry and availability, applies the rule
 * with hysteresis, and commands a device only when its decision changes, when the device
 * comes (back) online, or when the device's reported state drifts from the decision. Commands are retained at QoS 1, so a device that restarts is told its
 * desired state as soon as it subscribes.
 *
 * Works with lesson devices (QoS 0 telemetry, no status, no will): their first reading is a
 * decision like any other. Bad telemetry is logged (rate-limited), counted and ignored.
 *
 * Each command carries `ts` (when the server decided) and `seq` (per device), so a device can
 * drop stale and duplicate commands; the re-send on (re)connection keeps the original ts and seq.
 * No device clock is trusted: a reading is as fresh as the moment this server receives it.
 * Readings that carry their number (`seq`) are taken in order: that number again is a repeat
 * (a QoS 1 re-send) and is dropped, and so is a late reading numbered below the newest; a live
 * reading numbered below the newest means the device restarted, and starts its count again. A
 * reading marked `replay` (kept by the device through an outage) is recorded but decides
 * nothing, however young, so a replayed burst cannot flap the LED; the device's fresh reading
 * that follows does. A retained reading, delivered when the server subscribes, is the last known
 * value and decides, unless it is a replay: the fresh reading after it is on its way.
 *
 * The decision holds (server/convergence.ts): a device whose `<id>/state` differs from what this
 * server decided and enforces (see #drifted) is commanded again, as a new decision, rate-limited.
 *
 * The server says `online` (retained) on SERVER_STATUS_TOPIC when it connects and leaves
 * `offline` as its will, so devices can tell "server gone" from "no command needed".
 *
 * Scale-out (`share`): several servers split the fleet through MQTT shared subscriptions
 * (`$share/<group>/+/telemetry`): the broker hands each reading to one of them. Availability is
 * heard by all (the API shows it); the device's owner among the servers reminds it of its command.
 * Every server also follows every device's retained command (`+/commands`), so whichever server
 * gets a device's next reading knows the current decision and its seq: a device is commanded once
 * per change whichever server decides it. One residual race: two readings of the same device
 * reaching two servers within the time a command takes to come back (milliseconds) can both
 * decide the same change; the device takes the second as a duplicate. When a server's will says
 * `offline` while another is alive, the living one says `online` again at once.
 *
 * Groups in a split fleet: a group decides from all its sensors' readings, so every server of the
 * share group also subscribes, without `$share`, to each grouped sensor's telemetry: all of them know
 * every group's state. Only the group's owner (server/members.ts: rendezvous hashing over the live
 * servers) commands its LEDs; when owners move, the new owner re-decides and commands whatever the
 * retained commands it follows do not already say, so a change is neither sent twice nor lost.
 *
 * Overrides are shared through retained messages (server/overrides.ts): a server applies one set
 * through its own API at once; one set elsewhere is adopted, and applied here only for what this
 * server commands (the groups it owns; every device when it is alone).
 */
import {
	ALL_COMMANDS,
	ALL_STATUS,
	ALL_TELEMETRY,
	type Availability,
	COMMAND_MAX_BYTES,
	SERVER_STATUS_TOPIC,
	encodeCommand,
	isDeviceId,
	parseAvailability,
	parseCommand,
	parseState,
	parseTelemetry,
	parseTopic,
	payloadText,
	topics,
} from "../src/contract.js";
import { callSafely, messageOf } from "../src/errors.js";
import { Link, hashString, subscribeLogged } from "../src/link.js";
import { LogLimit } from "../src/log-limit.js";
import type { Clock, Log, MqttClient, Payload } from "../src/ports.js";
import { type RuleOptions, checkRule, decide } from "../src/rule.js";
import { Convergence } from "./convergence.js";
import { OverrideBook } from "./override-book.js";
import { ALL_CONFIG, DeviceConfigs } from "./device-config.js";
import { DeviceIndex } from "./device-index.js";
import { DEFAULT_FORGET_AFTER_MS, Forgetting } from "./forgetting.js";
import { ShareProbe } from "./share-probe.js";
import { type GroupConfig, aggregate } from "./groups.js";
import { Members, encodeMemberMessage, memberTopic, membersFilter, parseMemberMessage } from "./members.js";
import { OVERRIDES_FILTER, type Override, type OverrideKind } from "./overrides.js";
import type { DeviceRecord, GroupStatus, ServerEvent, ServerOptions, ServerStats } from "./types.js";

export type { DeviceRecord, GroupStatus, ServerEvent, ServerOptions, ServerStats } from "./types.js";

const TAG = "server";
/** Every device's retained state: what its LED does and in which mode, for the API. Never shared. */
const ALL_STATE = "+/state";

/** The will a server's MQTT client must be created with. */
export function serverWill(): { topic: string; payload: string; qos: 1; retain: true } {
	return { topic: SERVER_STATUS_TOPIC, payload: "offline", qos: 1, retain: true };
}

interface GroupRecord {
	config: GroupConfig;
	light: number | undefined;
	fresh: number;
	ledOn: boolean | undefined;
	decidedAt: number | undefined;
	owner: string | undefined;
}

/** What the server keeps of a device; the drift is kept by its Convergence. */
type DeviceEntry = Omit<DeviceRecord, "drift">;

export class Server {
	#mqtt: MqttClient;
	#clock: Clock;
	#log: Log;
	#rule: RuleOptions;
	#onEvent: ((event: ServerEvent) => void) | undefined;
	#notDevices: Set<string>;
	#share: string | undefined;
	#devices = new Map<string, DeviceEntry>();
	#groups = new Map<string, GroupRecord>();
	/** Device id → the groups its readings feed; device id → the group that commands its LED. */
	#sensorOf = new Map<string, GroupRecord[]>();
	#ledOf = new Map<string, GroupRecord>();
	/** Device id → the first configured group that names it, for the API. */
	#groupOf = new Map<string, string>();
	#index = new DeviceIndex((id) => this.#devices.has(id));
	#forgetting: Forgetting;
	/** Devices' settings: what each says on `<id>/config`, and changes for the API. */
	readonly configs: DeviceConfigs;
	#overrides: OverrideBook;
	#instance: string;
	#members: Members | undefined;
	#probe: ShareProbe | undefined;
	#stats = { telemetry: 0, replayed: 0, outOfOrder: 0, commands: 0, rejected: 0 };
	#link: Link;
	#convergence: Convergence;
	#running = false;
	#rejects: LogLimit;

	#onMessage = (topic: string, payload: Payload, packet?: { retain?: boolean }) => this.#message(topic, payload, packet?.retain === true);
	#onError = (error: Error) => this.#log("debug", TAG, `MQTT: ${error.message}`);

	constructor(options: ServerOptions) {
		this.#rule = checkRule(options.rule);
		this.#mqtt = options.mqtt;
		this.#clock = options.clock;
		this.#log = options.log;
		this.#onEvent = options.onEvent;
		this.#notDevices = new Set(options.notDevices ?? []);
		this.#rejects = new LogLimit({ clock: options.clock, log: options.log, tag: TAG, what: "messages rejected" });
		if (options.share !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(options.share))
			throw new RangeError(`share group must be 1..64 letters, digits, "_", "." or "-", got ${JSON.stringify(options.share)}`);
		this.#share = options.share;
		this.#instance = options.instance ?? `server-${Math.floor(Math.random() * 0x100000000).toString(16).padStart(8, "0")}`;
		if (!/^[A-Za-z0-9_.-]{1,64}$/.test(this.#instance))
			throw new RangeError(`instance must be 1..64 letters, digits, "_", "." or "-", got ${JSON.stringify(this.#instance)}`);
		const groups = options.groups ?? [];
		for (const config of groups) {
			checkRule(config.rule);
			const group: GroupRecord = { config, light: undefined, fresh: 0, ledOn: undefined, decidedAt: undefined, owner: undefined };
			this.#groups.set(config.name, group);
			for (const id of config.sensors)
				this.#sensorOf.set(id, [...(this.#sensorOf.get(id) ?? []), group]);
			for (const id of config.leds)
				this.#ledOf.set(id, group);
			for (const id of [...config.leds, ...config.sensors])
				this.#groupOf.set(id, this.#groupOf.get(id) ?? config.name);
		}
		this.#overrides = new OverrideBook({
			clock: options.clock,
			log: options.log,
			instance: this.#instance,
			initial: options.overrides ?? [],
			say: (topic, message) => this.#publish(topic, message, true),
			adopted: (kind, id, local) => this.#adopted(kind, id, local),
			hasGroup: (name) => this.#groups.has(name),
			reject: (topic, reason) => this.#reject(topic, reason),
		});
		if (this.#share !== undefined) {
			const share = this.#share;
			this.#members = new Members({
				self: this.#instance,
				clock: options.clock,
				log: options.log,
				groups: groupsHash(groups),
				say: (message) => this.#publish(memberTopic(share, this.#instance), encodeMemberMessage(message), false),
				onChange: () => this.#ownersChanged(),
			});
			const onShareProblem = options.onShareProblem;
			this.#probe = new ShareProbe({
				mqtt: options.mqtt,
				clock: options.clock,
				instance: this.#instance,
				onFailed: (problem) => {
					this.#log("error", TAG, `share group ${share}: ${problem}`);
					if (onShareProblem)
						callSafely(this.#log, TAG, "share problem listener", () => onShareProblem(problem));
				},
			});
		}
		const linkOptions: ConstructorParameters<typeof Link>[0] = {
			mqtt: options.mqtt,
			clock: options.clock,
			log: options.log,
			tag: TAG,
			onUp: () => this.#connected(),
			onDown: () => this.#lostBroker(),
			onWaiting: (delayMs) => this.#log("info", TAG, `next connection attempt in ${(delayMs / 1000).toFixed(1)} s`),
		};
		if (options.link)
			linkOptions.policy = options.link;
		this.#link = new Link(linkOptions);
		this.configs = new DeviceConfigs({ mqtt: options.mqtt, clock: options.clock, log: options.log });
		this.#forgetting = new Forgetting({
			clock: options.clock,
			log: options.log,
			afterMs: options.forgetAfterMs ?? DEFAULT_FORGET_AFTER_MS,
			records: this.#devices,
			active: () => this.#running && this.#link.state === "up",
			forget: (id) => this.#forget(id),
		});
		this.#convergence = new Convergence({
			clock: options.clock,
			drifted: (id) => this.#drifted(id),
			correct: (id) => this.#correct(id),
		});
	}

	get rule(): RuleOptions {
		return { ...this.#rule };
	}

	/** This server's name among its share group and on the overrides it sets. */
	get instance(): string {
		return this.#instance;
	}

	/** The servers of the share group this one knows to be alive, itself included; just itself when not sharing. */
	servers(): string[] {
		return this.#members?.list() ?? [this.#instance];
	}

	get stats(): ServerStats {
		return { ...this.#stats, corrections: this.#convergence.corrections, connects: this.#link.connects, forgotten: this.#forgetting.forgotten };
	}

	/** What the server knows of one device. */
	device(id: string): DeviceRecord | undefined {
		const record = this.#devices.get(id);
		return record && { ...record, drift: this.#convergence.drift(id) };
	}

	get deviceCount(): number {
		return this.#devices.size;
	}

	/** Up to `limit` device ids after `after`, in sorted order: a page of the fleet (server/device-index.ts). */
	deviceIds(after: string | undefined, limit: number): string[] {
		return this.#index.page(after, limit);
	}

	/** The name of the first configured group that names the device, as sensor or LED. */
	groupOf(id: string): string | undefined {
		return this.#groupOf.get(id);
	}

	devices(): DeviceRecord[] {
		return [...this.#devices.values()].map((record) => ({ ...record, drift: this.#convergence.drift(record.id) }));
	}

	groups(): GroupStatus[] {
		return [...this.#groups.values()].map(({ config, light, fresh, ledOn, decidedAt, owner }) => ({
			name: config.name,
			sensors: [...config.sensors],
			leds: [...config.leds],
			aggregate: config.aggregate,
			staleMs: config.staleMs,
			minFresh: config.minFresh,
			threshold: this.#override("group", config.name)?.threshold ?? config.rule.threshold,
			hysteresis: config.rule.hysteresis,
			light,
			fresh,
			ledOn,
			decidedAt,
			...(owner === undefined ? {} : { owner }),
		}));
	}

	overrides(): Override[] {
		return this.#overrides.list();
	}

	/** The override of a device or a group, if any. */
	override(kind: OverrideKind, id: string): Override | undefined {
		const override = this.#override(kind, id);
		return override && { ...override };
	}

	/** The threshold that decides a device alone: its override's, else the one set on the device, else the server's. */
	thresholdOf(id: string): number {
		const group = this.#ledOf.get(id);
		if (group)
			return this.#override("group", group.config.name)?.threshold ?? group.config.rule.threshold;
		return this.#override("device", id)?.threshold ?? this.#ruleOf(id).threshold;
	}

	/**
	 * The rule for a device alone: the threshold and hysteresis stored on the device (set from
	 * its console, over MQTT, by the CLI or the dashboard) where it says so, else the server's.
	 */
	#ruleOf(id: string): RuleOptions {
		const report = this.configs.get(id);
		const stored = report?.stored ?? [];
		const value = (key: "threshold" | "hysteresis") => {
			const number = report?.settings[key];
			return stored.includes(key) && typeof number === "number" ? number : this.#rule[key];
		};
		const rule = { threshold: value("threshold"), hysteresis: value("hysteresis") };
		try {
			return checkRule(rule);
		}
		catch {
			return this.#rule;
		}
	}

	/**
	 * Forces a device or a group on or off, or back to the rule, and decides again at once.
	 * Returns an error for a group that is not configured.
	 */
	setOverride(override: Override): { ok: true } | { ok: false; error: string } {
		if (override.kind === "group" && !this.#groups.has(override.id))
			return { ok: false, error: `no group named ${JSON.stringify(override.id)}` };
		this.#overrides.set(override);
		return { ok: true };
	}

	/** Removes an override; false when there was none. */
	clearOverride(kind: OverrideKind, id: string): boolean {
		return this.#overrides.clear(kind, id);
	}

	/** An override was set or removed, here or by another server of the fleet. */
	#adopted(kind: OverrideKind, id: string, local: boolean): void {
		this.#emit({ type: "overrides", overrides: this.overrides(), change: { kind, id, override: this.override(kind, id) ?? null } });
		// A device alone is commanded by whichever server hears it: the one that took the change
		// applies it now, the others when they next decide for the device.
		if (local || this.#members === undefined || kind === "group" || this.#ledOf.has(id))
			this.#overridden(kind, id);
	}

	start(): void {
		if (this.#running)
			return;
		this.#running = true;
		this.#mqtt.on("message", this.#onMessage as (topic: string, payload: Payload) => void);
		this.#mqtt.on("error", this.#onError);
		this.#link.start();
		this.#forgetting.start();
	}

	/** Says `offline` when connected and stops listening. The host ends the client. */
	stop(): void {
		if (!this.#running)
			return;
		this.#running = false;
		this.#members?.stop();
		this.#probe?.stop();
		this.#convergence.stop();
		this.#forgetting.stop();
		this.#overrides.stop();
		if (this.#link.state === "up")
			this.#publishStatus("offline");
		this.#link.stop();
		this.#mqtt.off("message", this.#onMessage);
		this.#mqtt.off("error", this.#onError);
	}

	#connected(): void {
		const shared = (topic: string) => (this.#share === undefined ? topic : `$share/${this.#share}/${topic}`);
		// Availability is rare and every server's API shows it, so every server hears all of it.
		const watched = [shared(ALL_TELEMETRY), ALL_STATUS, SERVER_STATUS_TOPIC, ALL_STATE, OVERRIDES_FILTER, ALL_CONFIG];
		// Every server of a share group hears every grouped sensor: groups decide from all readings.
		const sensors = this.#share === undefined ? [] : [...this.#sensorOf.keys()].map((id) => topics.telemetry(id));
		if (this.#share !== undefined)
			watched.push(ALL_COMMANDS, membersFilter(this.#share));
		this.#log("info", TAG, `connected; watching ${watched.join(", ")}${sensors.length > 0 ? ` and the telemetry of ${sensors.length} grouped sensors` : ""}`);
		this.#publishStatus("online");
		for (const topic of [...watched, ...sensors])
			subscribeLogged(this.#mqtt, this.#log, TAG, topic);
		this.#members?.up();
		this.#probe?.start();
		this.#overrides.connected();
	}

	/** May this server command the group's LEDs now? Alone, always; in a share group, when it owns it (kept by #ownersChanged). */
	#owns(group: GroupRecord): boolean {
		const members = this.#members;
		return members === undefined || (members.settled && group.owner === this.#instance);
	}

	/**
	 * Does this server tell the device its command again when it comes online? Alone, yes; in a
	 * share group, which hears every availability message, only the device's owner does (a reminder
	 * missed while the members settle costs nothing: the broker hands the device its retained command).
	 */
	#remindsDevice(id: string): boolean {
		return this.#members?.mine(id) ?? true;
	}

	/** The member list changed: each group this server now owns is decided again, and told what was missed. */
	#ownersChanged(): void {
		const members = this.#members!;
		const now = this.#clock.now();
		for (const group of this.#groups.values()) {
			const owner = members.owner(group.config.name);
			if (owner !== group.owner) {
				group.owner = owner;
				this.#log("info", TAG, `group ${group.config.name}: commanded by ${owner === this.#instance ? "this server" : owner}`);
			}
			if (this.#owns(group))
				this.#decideGroup(group, now);
		}
	}

	#message(topic: string, payload: Payload, retained: boolean): void {
		try {
			if (topic === SERVER_STATUS_TOPIC) {
				this.#serverStatus(payload);
				return;
			}
			if (topic === this.#probe?.topic) {
				this.#probe.delivered();
				return;
			}
			if (topic.startsWith("nightlight/")) {
				this.#serviceMessage(topic, payload);
				return;
			}
			if (topic.endsWith("/config") && isDeviceId(topic.slice(0, -7))) {
				const id = topic.slice(0, -7);
				if (!this.configs.message(id, payload))
					this.#reject(topic, "not a device's settings report");
				else
					this.#overridden("device", id);
				return;
			}
			const parsed = parseTopic(topic);
			if (!parsed || this.#notDevices.has(parsed.id))
				return;
			if (parsed.kind === "telemetry")
				this.#telemetry(parsed.id, payload, retained);
			else if (parsed.kind === "status")
				this.#status(parsed.id, payload);
			else if (parsed.kind === "state")
				this.#state(parsed.id, payload);
			else if (parsed.kind === "commands" && this.#share !== undefined)
				this.#followCommand(parsed.id, payload);
		}
		catch (error) {
			this.#reject(topic, `handler failed: ${messageOf(error)}`);
		}
	}

	#telemetry(id: string, payload: Payload, retained: boolean): void {
		// An empty retained payload clears the topic; it is not a reading.
		if (payloadLength(payload) === 0)
			return;
		const parsed = parseTelemetry(payload);
		if (!parsed.ok) {
			this.#reject(topics.telemetry(id), parsed.error);
			return;
		}
		const now = this.#clock.now();
		const record = this.#record(id, now);
		const { light, ts, seq } = parsed.value;
		// Even retained: the device's fresh reading follows its replay, and decides.
		const replayed = parsed.value.replay === true;
		if (seq !== undefined) {
			const newest = record.readingSeq;
			// That reading again (a QoS 1 re-send), or a late one; a live reading numbered lower: a restart.
			if (newest !== undefined && (seq === newest || (seq < newest && replayed))) {
				this.#stats.outOfOrder++;
				return;
			}
			record.readingSeq = seq;
		}
		else if (ts !== undefined) {
			// A reading without a number (older firmware): only that very reading again is a repeat.
			if (ts === record.sampleTs && light === record.light) {
				this.#stats.outOfOrder++;
				return;
			}
			record.sampleTs = ts;
		}
		this.#stats.telemetry++;
		this.#emit({ type: "telemetry", id, light, replayed });
		if (replayed) {
			this.#stats.replayed++;
			return;
		}
		record.light = light;
		record.lightAt = now;
		const groups = this.#sensorOf.get(id);
		if (groups) {
			for (const group of groups)
				this.#decideGroup(group, now);
		}
		if (!groups || this.#ledOf.has(id))
			this.#decideLed(id, now);
	}

	/** The group's decision from its fresh readings, then its LEDs'. */
	#decideGroup(group: GroupRecord, now: number): void {
		const { config } = group;
		const fresh: number[] = [];
		for (const id of config.sensors) {
			const record = this.#devices.get(id);
			if (record?.light !== undefined && record.lightAt !== undefined && now - record.lightAt <= config.staleMs)
				fresh.push(record.light);
		}
		group.fresh = fresh.length;
		if (fresh.length < config.minFresh) {
			this.#log("debug", TAG, `group ${config.name}: ${fresh.length} fresh readings of ${config.minFresh} needed; no decision`);
			this.#emit({ type: "group", name: config.name, light: group.light, fresh: fresh.length, led_on: group.ledOn });
			return;
		}
		const light = aggregate(config.aggregate, fresh)!;
		group.light = light;
		const threshold = this.#override("group", config.name)?.threshold ?? config.rule.threshold;
		const ledOn = decide({ threshold, hysteresis: config.rule.hysteresis }, light, group.ledOn);
		if (ledOn !== group.ledOn) {
			group.ledOn = ledOn;
			group.decidedAt = now;
			this.#log("info", TAG, `group ${config.name}: ${config.aggregate} ${light} of ${fresh.length} fresh readings → led_on ${ledOn}`);
		}
		this.#emit({ type: "group", name: config.name, light, fresh: fresh.length, led_on: group.ledOn });
		for (const id of config.leds)
			this.#decideLed(id, now);
	}

	/**
	 * What one LED should do: its device's override, else its group's override or decision,
	 * else (a device in no group) the rule on its own reading. Commands it when that changed.
	 */
	#decideLed(id: string, now: number): void {
		const group = this.#ledOf.get(id);
		if (group && !this.#owns(group))
			return;
		const own = this.#override("device", id);
		let ledOn: boolean | undefined;
		let why: string;
		if (own && own.mode !== "auto") {
			ledOn = own.mode === "on";
			why = `override ${own.mode}`;
		}
		else if (group) {
			const forced = this.#override("group", group.config.name);
			ledOn = forced && forced.mode !== "auto" ? forced.mode === "on" : group.ledOn;
			why = forced && forced.mode !== "auto" ? `group ${group.config.name} override ${forced.mode}` : `group ${group.config.name}`;
		}
		else if (this.#sensorOf.has(id)) {
			// A sensor of a group whose LED no group commands: its readings decide nothing alone.
			return;
		}
		else {
			const record = this.#devices.get(id);
			if (record?.light === undefined)
				return;
			const rule = this.#ruleOf(id);
			ledOn = decide({ threshold: own?.threshold ?? rule.threshold, hysteresis: rule.hysteresis }, record.light, record.ledOn);
			why = `light ${record.light}`;
		}
		if (ledOn === undefined)
			return;
		const record = this.#devices.get(id) ?? this.#record(id, now, false);
		if (ledOn === record.ledOn) {
			this.#convergence.check(id);
			return;
		}
		record.ledOn = ledOn;
		record.decidedAt = now;
		record.seq++;
		this.#log("info", TAG, `${id}: ${why} → led_on ${ledOn}`);
		this.#command(record, "changed");
		this.#convergence.check(id);
	}

	/**
	 * Does the device say its LED does other than what this server decided and enforces? Only
	 * while it is online and obeys the server (remote mode), and only for the server that commands
	 * it (in a share group: its group's owner, or the device's owner when it is in no group).
	 */
	#drifted(id: string): boolean {
		const record = this.#devices.get(id);
		if (!record || record.ledOn === undefined || record.ledState === undefined || record.ledState === record.ledOn)
			return false;
		if (record.mode !== "remote" || record.availability === "offline" || !this.#running || this.#link.state !== "up")
			return false;
		const group = this.#ledOf.get(id);
		return group ? this.#owns(group) : this.#remindsDevice(id);
	}

	/** The device drifted from the decision: the decision again, as a new one, so the device takes it as newest. */
	#correct(id: string): void {
		const record = this.#devices.get(id)!;
		record.decidedAt = Math.max(this.#clock.now(), (record.decidedAt ?? 0) + 1);
		record.seq++;
		this.#log("info", TAG, `${id}: reports led_on ${record.ledState}, decided led_on ${record.ledOn}: commanding it again`);
		this.#command(record, "drift");
	}

	#overridden(kind: OverrideKind, id: string): void {
		const now = this.#clock.now();
		if (kind === "group") {
			const group = this.#groups.get(id);
			if (group)
				this.#decideGroup(group, now);
		}
		else {
			this.#decideLed(id, now);
		}
	}

	#override(kind: OverrideKind, id: string): Override | undefined {
		return this.#overrides.get(kind, id);
	}

	#state(id: string, payload: Payload): void {
		if (payloadLength(payload) === 0)
			return;
		const parsed = parseState(payload);
		if (!parsed.ok) {
			this.#reject(topics.state(id), parsed.error);
			return;
		}
		const record = this.#record(id, this.#clock.now());
		const { led_on, mode } = parsed.value;
		if (record.ledState === led_on && record.mode === mode)
			return;
		record.ledState = led_on;
		record.mode = mode;
		this.#emit({ type: "state", id, led_on, mode });
		this.#convergence.check(id);
	}

	#status(id: string, payload: Payload): void {
		// An empty retained payload clears the topic; it says nothing about the device.
		if (payloadLength(payload) === 0)
			return;
		const parsed = parseAvailability(payload);
		if (!parsed.ok) {
			this.#reject(topics.status(id), parsed.error);
			return;
		}
		const record = this.#record(id, this.#clock.now());
		const was = record.availability;
		record.availability = parsed.value;
		if (was !== parsed.value)
			this.#emit({ type: "availability", id, availability: parsed.value });
		if (parsed.value === "online" && was !== "online" && record.ledOn !== undefined && this.#remindsDevice(id))
			this.#command(record, "online");
		this.#convergence.check(id);
	}

	#command(record: DeviceEntry, reason: "changed" | "online" | "drift"): void {
		const ledOn = record.ledOn!;
		const command = { led_on: ledOn, seq: record.seq, ...(record.decidedAt === undefined ? {} : { ts: record.decidedAt }) };
		try {
			this.#mqtt.publish(topics.commands(record.id), encodeCommand(command), { qos: 1, retain: true }, (error) => {
				if (error)
					this.#log("warn", TAG, `command to ${record.id} failed: ${error.message}`);
			});
		}
		catch (error) {
			this.#log("warn", TAG, `command to ${record.id} failed: ${messageOf(error)}`);
			return;
		}
		this.#stats.commands++;
		this.#emit({ type: "command", id: record.id, led_on: ledOn, reason });
	}

	/**
	 * Forgets a device not heard for the forget-after time: its record and drift go, and so does its
	 * retained command when this server commands it (QoS 0: not queued for a session that is away).
	 */
	#forget(id: string): void {
		const record = this.#devices.get(id)!;
		const group = this.#ledOf.get(id);
		if (record.ledOn !== undefined && (group ? this.#owns(group) : this.#remindsDevice(id)))
			this.#publish(topics.commands(id), "", true, 0);
		this.#devices.delete(id);
		this.#index.delete();
		this.#convergence.forget(id);
		this.configs.forget(id);
		this.#emit({ type: "forgotten", id });
	}

	/** Another server's will said offline while this one is alive: the service is still there. */
	#serverStatus(payload: Payload): void {
		const parsed = payloadLength(payload) === 0 ? undefined : parseAvailability(payload);
		if (this.#running && this.#link.state === "up" && (!parsed || (parsed.ok && parsed.value === "offline"))) {
			this.#publishStatus("online");
			this.#members?.rollCall();
		}
	}

	/** The servers' own topics: shared overrides, and the members of this server's share group. */
	#serviceMessage(topic: string, payload: Payload): void {
		if (topic.startsWith("nightlight/overrides/")) {
			this.#overrides.message(topic, payload);
			return;
		}
		const members = this.#members;
		const prefix = `nightlight/servers/${this.#share}/`;
		if (!members || !topic.startsWith(prefix))
			return;
		const text = payloadText(payload, COMMAND_MAX_BYTES);
		const message = text.ok ? parseMemberMessage(text.value) : undefined;
		if (message)
			members.message(topic.slice(prefix.length), message);
		else
			this.#reject(topic, "not a server's membership message");
	}

	/** A command from any server of the group: adopt it when it is newer than what this one knows. */
	#followCommand(id: string, payload: Payload): void {
		const parsed = parseCommand(payload);
		if (!parsed.ok || parsed.value.ts === undefined)
			return;
		const { led_on, seq = 0, ts } = parsed.value;
		const record = this.#record(id, this.#clock.now());
		const known = record.decidedAt;
		if (known !== undefined && (ts < known || (ts === known && seq <= record.seq)))
			return;
		record.ledOn = led_on;
		record.decidedAt = ts;
		record.seq = Math.max(record.seq, seq);
		this.#convergence.check(id);
		// A server that joins late learns its groups' last decisions from their LEDs' commands, so
		// its hysteresis starts where the owner's was rather than from the bare threshold.
		const group = this.#ledOf.get(id);
		if (group && group.ledOn === undefined && !this.#forced(group, id))
			group.ledOn = led_on;
	}

	/** True when an override, not the group's decision, says what the LED does. */
	#forced(group: GroupRecord, id: string): boolean {
		const own = this.#override("device", id);
		const shared = this.#override("group", group.config.name);
		return (own !== undefined && own.mode !== "auto") || (shared !== undefined && shared.mode !== "auto");
	}

	/** Without the broker the server cannot vouch for any device: each says online again when it is back. */
	#lostBroker(): void {
		this.#log("warn", TAG, "lost the broker; reconnecting, and counting every device offline until it says otherwise");
		this.#overrides.stop();
		this.#members?.down();
		this.#probe?.stop();
		for (const record of this.#devices.values()) {
			if (record.availability === "online") {
				record.availability = "offline";
				this.#emit({ type: "availability", id: record.id, availability: "offline" });
			}
		}
	}

	/** Publishes (at QoS 1 unless told); a refusal is logged, never thrown. */
	#publish(topic: string, message: string, retain: boolean, qos: 0 | 1 = 1): void {
		try {
			this.#mqtt.publish(topic, message, { qos, retain }, (error) => {
				if (error)
					this.#log("warn", TAG, `cannot publish ${topic}: ${error.message}`);
			});
		}
		catch (error) {
			this.#log("warn", TAG, `cannot publish ${topic}: ${messageOf(error)}`);
		}
	}

	#publishStatus(availability: Availability): void {
		try {
			this.#mqtt.publish(SERVER_STATUS_TOPIC, availability, { qos: 1, retain: true });
		}
		catch (error) {
			this.#log("warn", TAG, `cannot publish ${SERVER_STATUS_TOPIC}: ${messageOf(error)}`);
		}
	}

	/** The device's record, made when first heard of; `seen`: a message from it arrived now. */
	#record(id: string, now: number, seen = true): DeviceEntry {
		let record = this.#devices.get(id);
		if (!record) {
			record = { id, light: undefined, lightAt: undefined, ledOn: undefined, decidedAt: undefined, seq: 0, readingSeq: undefined, sampleTs: undefined, availability: undefined, lastSeen: undefined, ledState: undefined, mode: undefined };
			this.#devices.set(id, record);
			this.#index.add(id);
		}
		if (seen)
			record.lastSeen = now;
		return record;
	}

	#reject(topic: string, reason: string): void {
		this.#stats.rejected++;
		this.#rejects.say("warn", `${topic}: rejected: ${reason}`);
	}

	#emit(event: ServerEvent): void {
		const listener = this.#onEvent;
		if (listener)
			callSafely(this.#log, TAG, `event listener on ${event.type}`, () => listener(event));
	}
}

/** A short fingerprint of a groups configuration: servers of one share group must agree on it. */
function groupsHash(groups: GroupConfig[]): string {
	return hashString(JSON.stringify(groups)).toString(16).padStart(8, "0");
}

function payloadLength(payload: Payload): number {
	return typeof payload === "string" ? payload.length : payload.byteLength;
}
