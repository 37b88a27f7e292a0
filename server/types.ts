/* The server's public shapes: its options, its events and what it tells the API. */
import type { Availability, Mode } from "../src/contract.js";
import type { LinkPolicy } from "../src/link.js";
import type { Clock, Log, MqttClient } from "../src/ports.js";
import type { RuleOptions } from "../src/rule.js";
import type { Drift } from "./convergence.js";
import type { GroupConfig } from "./groups.js";
import type { Override, OverrideKind } from "./overrides.js";

export interface ServerOptions {
	mqtt: MqttClient;
	clock: Clock;
	log: Log;
	rule: RuleOptions;
	link?: Partial<LinkPolicy>;
	/** The shared-subscription group of servers that split the fleet; undefined: this server sees every device. */
	share?: string | undefined;
	/** This server's name among the servers of its share group and on the overrides it sets (one topic level). Default: random. */
	instance?: string;
	/** Groups of sensors that decide together (server/groups.ts); a device in no group decides alone. */
	groups?: GroupConfig[];
	/** Overrides in force at start (e.g. loaded from the state file). */
	overrides?: Override[];
	/** With `share`: the broker does not deliver through shared subscriptions (server/share-probe.ts); the host should stop. */
	onShareProblem?: (problem: string) => void;
	/** A device not heard for this long is forgotten (server/forgetting.ts); default 30 days. */
	forgetAfterMs?: number;
	/** Told about each decision, for a display or a benchmark. A throwing listener is logged. */
	onEvent?: (event: ServerEvent) => void;
	/** First topic levels that are not devices though `+/status` matches them, e.g. Home Assistant's `homeassistant/status`. */
	notDevices?: string[];
}

export type ServerEvent =
	| { type: "telemetry"; id: string; light: number; replayed: boolean }
	| { type: "command"; id: string; led_on: boolean; reason: "changed" | "online" | "drift" }
	| { type: "availability"; id: string; availability: Availability }
	| { type: "state"; id: string; led_on: boolean; mode: Mode }
	| { type: "group"; name: string; light: number | undefined; fresh: number; led_on: boolean | undefined }
	| { type: "overrides"; overrides: Override[]; change: OverrideChange }
	/** Not heard for the forget-after time: dropped from the server's memory, its retained command cleared. */
	| { type: "forgotten"; id: string };

/** One override set (`override`) or removed (`override` null). */
export interface OverrideChange {
	kind: OverrideKind;
	id: string;
	override: Override | null;
}

/** What the server knows of a group, for the API. */
export interface GroupStatus {
	name: string;
	sensors: string[];
	leds: string[];
	aggregate: GroupConfig["aggregate"];
	staleMs: number;
	minFresh: number;
	threshold: number;
	hysteresis: number;
	/** The aggregate of the fresh readings at the last decision, and how many there were. */
	light: number | undefined;
	fresh: number;
	/** The group's own decision (before overrides of the group or of its devices). */
	ledOn: boolean | undefined;
	decidedAt: number | undefined;
	/** With `share`: the server that commands the group's LEDs, once this one has heard the others. */
	owner?: string;
}

export interface DeviceRecord {
	id: string;
	light: number | undefined;
	lightAt: number | undefined;
	/** What the server last told the device; undefined until the first reading. */
	ledOn: boolean | undefined;
	/** When that decision was made, and its number for this device. */
	decidedAt: number | undefined;
	seq: number;
	/** The number of the newest reading that carried one (this boot of the device). */
	readingSeq: number | undefined;
	/** The sample time of the newest reading that carried one but no number (older firmware). */
	sampleTs: number | undefined;
	availability: Availability | undefined;
	lastSeen: number | undefined;
	/** What the device last said it does, on `<id>/state`. */
	ledState: boolean | undefined;
	mode: Mode | undefined;
	/** Its state differs from the decision and was corrected (server/convergence.ts); corrections sent. */
	drift: Drift;
}

export interface ServerStats {
	telemetry: number;
	/** Readings recorded without a decision: replayed after an outage. */
	replayed: number;
	/** Readings dropped as duplicates or out of order. */
	outOfOrder: number;
	commands: number;
	/** Commands sent again because a device's state drifted from the decision. */
	corrections: number;
	rejected: number;
	connects: number;
	/** Devices forgotten for not being heard (server/forgetting.ts). */
	forgotten: number;
}
