/*
 * The overrides a server knows, and how servers share them (server/overrides.ts has the message
 * format): each set or removal is stamped (when, by which server); the newest wins everywhere; a
 * server that hears an older copy than it knows says its own again, so the broker's retained copy
 * heals. At each connection the server says what it keeps (from its file, or changed while the
 * broker was away) unless the broker's retained copies, which arrive right after subscribing,
 * already say it.
 */
import { COMMAND_MAX_BYTES, payloadText } from "../src/contract.js";
import type { Clock, Log, Payload, TimerHandle } from "../src/ports.js";
import { SETTLE_MS } from "./members.js";
import {
	type Override,
	type OverrideKind,
	type OverrideMessage,
	encodeOverrideMessage,
	newerThan,
	overrideKey,
	overrideTopic,
	parseOverrideMessage,
} from "./overrides.js";

const TAG = "server";

interface Stamp {
	at: number;
	by: string;
}

export interface OverrideBookOptions {
	clock: Clock;
	log: Log;
	/** This server's name, on the overrides it sets. */
	instance: string;
	/** Overrides in force at start (the state file). */
	initial: Override[];
	/** Publishes a retained override message. */
	say(topic: string, message: string): void;
	/** An override was taken (set or removed); `local`: made through this server. */
	adopted(kind: OverrideKind, id: string, local: boolean): void;
	/** Whether this server's configuration has a group of that name. */
	hasGroup(name: string): boolean;
	reject(topic: string, reason: string): void;
}

export class OverrideBook {
	#options: OverrideBookOptions;
	#overrides = new Map<string, Override>();
	/** Overrides removed, by key, with when: so an older copy of one is not taken for news. */
	#cleared = new Map<string, Stamp & { kind: OverrideKind; id: string }>();
	/** Overrides (and removals) this server knows and has not yet heard from the broker since connecting. */
	#unconfirmed = new Set<string>();
	#confirmTimer: TimerHandle | undefined;

	constructor(options: OverrideBookOptions) {
		this.#options = options;
		for (const override of options.initial) {
			if (override.kind === "group" && !options.hasGroup(override.id))
				options.log("warn", TAG, `dropping the override of group ${override.id}: no such group in the configuration`);
			else
				this.#overrides.set(overrideKey(override.kind, override.id), { ...override });
		}
	}

	list(): Override[] {
		return [...this.#overrides.values()].map((override) => ({ ...override }));
	}

	get(kind: OverrideKind, id: string): Override | undefined {
		return this.#overrides.get(overrideKey(kind, id));
	}

	/** Sets an override made through this server, and says it. */
	set(override: Override): void {
		const key = overrideKey(override.kind, override.id);
		const stamped = { kind: override.kind, id: override.id, mode: override.mode, ...(override.threshold === undefined ? {} : { threshold: override.threshold }), ...this.#stamp(key) };
		this.#adopt({ cleared: false, override: stamped }, true);
		this.#say(key);
	}

	/** Removes an override made through this server, and says it; false when there was none. */
	clear(kind: OverrideKind, id: string): boolean {
		const key = overrideKey(kind, id);
		if (!this.#overrides.has(key))
			return false;
		this.#adopt({ cleared: true, kind, id, ...this.#stamp(key) }, true);
		this.#say(key);
		return true;
	}

	/** Connected: what the broker does not say back within the settling time is said again. */
	connected(): void {
		this.stop();
		this.#unconfirmed = new Set([...this.#overrides.keys(), ...this.#cleared.keys()]);
		this.#confirmTimer = this.#options.clock.setTimeout(() => {
			this.#confirmTimer = undefined;
			for (const key of this.#unconfirmed)
				this.#say(key);
			this.#unconfirmed.clear();
		}, SETTLE_MS);
	}

	stop(): void {
		if (this.#confirmTimer !== undefined)
			this.#options.clock.clearTimeout(this.#confirmTimer);
		this.#confirmTimer = undefined;
	}

	/** An override from the broker: the newest wins; an older one is answered with the newer. */
	message(topic: string, payload: Payload): void {
		const length = typeof payload === "string" ? payload.length : payload.byteLength;
		if (length === 0)
			return;
		const text = payloadText(payload, COMMAND_MAX_BYTES);
		const parsed = text.ok ? parseOverrideMessage(topic, text.value) : text;
		if (!parsed.ok) {
			this.#options.reject(topic, parsed.error);
			return;
		}
		const message = parsed.value;
		const { kind, id, at, by } = message.cleared ? message : message.override;
		const key = overrideKey(kind, id);
		const known = this.#known(key);
		if (known && !newerThan(at, by, known.at, known.by)) {
			if (known.at === at && known.by === by)
				this.#unconfirmed.delete(key);
			else
				this.#say(key);
			return;
		}
		this.#unconfirmed.delete(key);
		if (kind === "group" && !this.#options.hasGroup(id)) {
			this.#options.log("debug", TAG, `${topic}: no group ${id} in this server's configuration; ignored`);
			return;
		}
		this.#adopt(message, false);
	}

	/** A stamp for a change made here now, newer than anything known of `key`. */
	#stamp(key: string): Stamp {
		const known = this.#known(key);
		return { at: Math.max(this.#options.clock.now(), (known?.at ?? -1) + 1), by: this.#options.instance };
	}

	/**
	 * The stamp of what this server knows of an override: set or cleared. One from a file of an
	 * older version has none: it counts as the oldest possible, so any shared copy wins.
	 */
	#known(key: string): Stamp | undefined {
		const override = this.#overrides.get(key);
		if (override)
			return { at: override.at ?? 0, by: override.by ?? this.#options.instance };
		return this.#cleared.get(key);
	}

	/** Takes an override (or its removal) as the newest. */
	#adopt(message: OverrideMessage, local: boolean): void {
		const { kind, id } = message.cleared ? message : message.override;
		const key = overrideKey(kind, id);
		const { log } = this.#options;
		if (message.cleared) {
			this.#cleared.set(key, { kind, id, at: message.at, by: message.by });
			if (!this.#overrides.delete(key))
				return;
			log("info", TAG, `override ${kind} ${id} removed${local ? "" : ` by ${message.by}`}`);
		}
		else {
			const { override } = message;
			this.#cleared.delete(key);
			this.#overrides.set(key, { ...override });
			log("info", TAG, `override ${kind} ${id}: ${override.mode}${override.threshold === undefined ? "" : `, threshold ${override.threshold}`}${local ? "" : ` by ${override.by}`}`);
		}
		this.#options.adopted(kind, id, local);
	}

	/** Says what this server knows of an override on its retained topic. */
	#say(key: string): void {
		const override = this.#overrides.get(key);
		const cleared = this.#cleared.get(key);
		let message: OverrideMessage;
		if (override)
			message = { cleared: false, override: { ...override, ...this.#known(key)! } };
		else if (cleared)
			message = { cleared: true, ...cleared };
		else
			return;
		const { kind, id } = override ?? cleared!;
		this.#options.say(overrideTopic(kind, id), encodeOverrideMessage(message));
	}
}
