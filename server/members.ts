/*
 * Who is in a share group of servers, and which of them commands each group of devices.
 *
 * Servers that split the fleet (`--share NAME`) all follow every reading of every grouped sensor,
 * so they all know each group's state; only one of them, the group's owner, may command its LEDs.
 * The owner is chosen by rendezvous hashing over the live members: each member computes the same
 * owner from the same member list, and a member that joins or leaves moves only its own share of
 * the groups.
 *
 * Membership travels on `nightlight/servers/<share>/<instance>` (QoS 1, not retained), payload
 * `{"say": "join"|"here"|"bye", "groups": "<hash of the groups configuration>"}`:
 *   - on every connection a member forgets the others, says `join` and answers for nothing during
 *     SETTLE_MS, while the others answer `join` with `here`;
 *   - every HEARTBEAT_MS each member says `here`; one not heard for EXPIRE_MS is dropped;
 *   - a member that stops cleanly says `bye`;
 *   - a server's will (`offline` on the server status topic) does not say whose it was, so it starts
 *     a roll call: every member says `here` at once, and those not heard within SETTLE_MS are dropped.
 *     A killed server's groups thus move to a living one about SETTLE_MS after the broker notices.
 * While the member lists disagree (a few milliseconds around a change) a group may have no owner or,
 * rarely, two; the new owner re-decides when its list changes, so a decision missed then is made
 * late rather than never (see Server).
 */
import { hashString } from "../src/link.js";
import type { Clock, Log, TimerHandle } from "../src/ports.js";

const TAG = "members";
export const HEARTBEAT_MS = 2_000;
export const EXPIRE_MS = 3 * HEARTBEAT_MS;
export const SETTLE_MS = 1_000;
const SAYINGS = new Set(["join", "here", "bye"]);

export type Saying = "join" | "here" | "bye";

export interface MemberMessage {
	say: Saying;
	groups: string;
}

/** The topic a member speaks on, and the filter that hears them all. */
export function memberTopic(share: string, instance: string): string {
	return `nightlight/servers/${share}/${instance}`;
}

export function membersFilter(share: string): string {
	return `nightlight/servers/${share}/+`;
}

export function encodeMemberMessage(message: MemberMessage): string {
	return JSON.stringify(message);
}

/** A member's message, or undefined when it is not one. */
export function parseMemberMessage(text: string): MemberMessage | undefined {
	let json: unknown;
	try {
		json = JSON.parse(text);
	}
	catch {
		return undefined;
	}
	if (typeof json !== "object" || json === null)
		return undefined;
	const { say, groups } = json as Record<string, unknown>;
	if (typeof say !== "string" || !SAYINGS.has(say) || typeof groups !== "string" || groups.length > 64)
		return undefined;
	return { say: say as Saying, groups };
}

export interface MembersOptions {
	/** This server's instance name (one topic level). */
	self: string;
	clock: Clock;
	log: Log;
	/** The hash of this server's groups configuration; a member with another one is reported. */
	groups: string;
	/** Sends one of this member's messages. Must not throw. */
	say: (message: MemberMessage) => void;
	/** The member list or the settled state changed: owners may have moved. */
	onChange: () => void;
}

export class Members {
	#self: string;
	#clock: Clock;
	#log: Log;
	#groups: string;
	#say: (message: MemberMessage) => void;
	#onChange: () => void;
	/** Other members, by instance, with when they were last heard. */
	#heard = new Map<string, number>();
	/** Members already told about for a different groups configuration. */
	#mismatched = new Set<string>();
	#settled = false;
	#up = false;
	#settleTimer: TimerHandle | undefined;
	#rollCallTimer: TimerHandle | undefined;
	#heartbeat: TimerHandle | undefined;

	constructor(options: MembersOptions) {
		this.#self = options.self;
		this.#clock = options.clock;
		this.#log = options.log;
		this.#groups = options.groups;
		this.#say = options.say;
		this.#onChange = options.onChange;
	}

	get self(): string {
		return this.#self;
	}

	/** True once this member has heard the others after connecting: it may command its groups. */
	get settled(): boolean {
		return this.#up && this.#settled;
	}

	/** The live members, this one included, sorted. */
	list(): string[] {
		return [this.#self, ...this.#heard.keys()].sort();
	}

	/** The member that commands `group`: the highest hash of (member, group); ties by name. */
	owner(group: string): string {
		let best = this.#self;
		let bestHash = hashString(`${best}\n${group}`);
		for (const member of this.#heard.keys()) {
			const hash = hashString(`${member}\n${group}`);
			if (hash > bestHash || (hash === bestHash && member < best)) {
				best = member;
				bestHash = hash;
			}
		}
		return best;
	}

	/** True when this member is settled and owns `key` (a group's name, a device's id). */
	mine(key: string): boolean {
		return this.settled && this.owner(key) === this.#self;
	}

	/** Connected (again): forget the others, say join, and command nothing until settled. */
	up(): void {
		this.#stopTimers();
		this.#up = true;
		this.#settled = false;
		this.#heard.clear();
		this.#send("join");
		this.#settleTimer = this.#clock.setTimeout(() => {
			this.#settleTimer = undefined;
			this.#settled = true;
			this.#log("info", TAG, `settled with ${this.#heard.size + 1} server(s): ${this.list().join(", ")}`);
			this.#onChange();
		}, SETTLE_MS);
		this.#heartbeat = this.#clock.setInterval(() => this.#beat(), HEARTBEAT_MS);
	}

	/** The broker is gone: this member can command nothing until it is back and settled again. */
	down(): void {
		this.#stopTimers();
		const was = this.settled;
		this.#up = false;
		this.#settled = false;
		if (was)
			this.#onChange();
	}

	/** Stops cleanly: says bye while still connected. */
	stop(): void {
		if (this.#up)
			this.#send("bye");
		this.#stopTimers();
		this.#up = false;
		this.#settled = false;
	}

	/** A server's will was heard: every member answers, the silent ones are dropped. */
	rollCall(): void {
		if (!this.#up || this.#rollCallTimer !== undefined)
			return;
		const calledAt = this.#clock.now();
		this.#send("here");
		this.#rollCallTimer = this.#clock.setTimeout(() => {
			this.#rollCallTimer = undefined;
			this.#drop((heardAt) => heardAt < calledAt, "did not answer the roll call");
		}, SETTLE_MS);
	}

	/** A message on the members' topic; `instance` is its topic's last level. */
	message(instance: string, message: MemberMessage): void {
		if (instance === this.#self || !this.#up)
			return;
		if (message.groups !== this.#groups && !this.#mismatched.has(instance)) {
			this.#mismatched.add(instance);
			this.#log("error", TAG, `server ${instance} has a different groups configuration (${message.groups}, this one ${this.#groups}): the servers of a share group must all be given the same --groups file, or their group decisions disagree`);
		}
		if (message.say === "bye") {
			if (this.#heard.delete(instance)) {
				this.#log("info", TAG, `server ${instance} left`);
				this.#onChange();
			}
			return;
		}
		const isNew = !this.#heard.has(instance);
		this.#heard.set(instance, this.#clock.now());
		if (message.say === "join")
			this.#send("here");
		if (isNew) {
			this.#log("info", TAG, `server ${instance} is here; ${this.#heard.size + 1} server(s)`);
			this.#onChange();
		}
	}

	#beat(): void {
		this.#send("here");
		const now = this.#clock.now();
		this.#drop((heardAt) => now - heardAt > EXPIRE_MS, `not heard for ${EXPIRE_MS / 1000} s`);
	}

	#drop(silent: (heardAt: number) => boolean, why: string): void {
		const gone = [...this.#heard].filter(([, heardAt]) => silent(heardAt)).map(([instance]) => instance);
		for (const instance of gone) {
			this.#heard.delete(instance);
			this.#log("info", TAG, `server ${instance} dropped: ${why}`);
		}
		if (gone.length > 0)
			this.#onChange();
	}

	#send(say: Saying): void {
		this.#say({ say, groups: this.#groups });
	}

	#stopTimers(): void {
		if (this.#settleTimer !== undefined)
			this.#clock.clearTimeout(this.#settleTimer);
		if (this.#rollCallTimer !== undefined)
			this.#clock.clearTimeout(this.#rollCallTimer);
		if (this.#heartbeat !== undefined)
			this.#clock.clearInterval(this.#heartbeat);
		this.#settleTimer = this.#rollCallTimer = this.#heartbeat = undefined;
	}
}
