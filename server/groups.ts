/*
 * Groups: one decision from many sensors. A group names the devices whose light readings feed it
 * (`sensors`), the devices whose LEDs it commands (`leds`), how the fresh readings are combined
 * (`aggregate`: median by default, so one sensor shaded by a bird cannot switch a stadium's lights),
 * how old a reading may be and still count (`staleMs`), how many fresh readings a decision needs
 * (`minFresh`), and its own threshold and hysteresis.
 *
 * Pure: parsing and checking a configuration, and combining readings. No platform imports.
 */
import { isDeviceId } from "../src/contract.js";
import { type RuleOptions, checkRule } from "../src/rule.js";

export type Aggregate = "median" | "mean" | "min" | "max";
export const AGGREGATES: readonly Aggregate[] = ["median", "mean", "min", "max"];

export interface GroupConfig {
	name: string;
	sensors: string[];
	leds: string[];
	aggregate: Aggregate;
	staleMs: number;
	minFresh: number;
	rule: RuleOptions;
}

export const DEFAULT_STALE_MS = 60_000;

export class GroupConfigError extends Error {
	override name = "GroupConfigError";
}

const GROUP_KEYS = new Set(["name", "sensors", "leds", "aggregate", "staleMs", "minFresh", "threshold", "hysteresis"]);

/**
 * Checks a configuration as read from JSON: `{"groups": [{...}]}` or a bare array of groups.
 * Missing threshold and hysteresis come from `defaults`. Throws GroupConfigError naming the field.
 */
export function parseGroups(json: unknown, defaults: RuleOptions): GroupConfig[] {
	const list = Array.isArray(json) ? json : isObject(json) ? json.groups : undefined;
	if (!Array.isArray(list))
		throw new GroupConfigError(`expected {"groups": [...]} or an array of groups`);
	const groups: GroupConfig[] = [];
	const names = new Set<string>();
	const ledOwner = new Map<string, string>();
	list.forEach((item: unknown, index) => {
		const at = `groups[${index}]`;
		if (!isObject(item))
			throw new GroupConfigError(`${at} must be an object`);
		for (const key of Object.keys(item)) {
			if (!GROUP_KEYS.has(key))
				throw new GroupConfigError(`${at}.${key} is not a group field; expected ${[...GROUP_KEYS].join(", ")}`);
		}
		const { name } = item;
		if (typeof name !== "string" || !isDeviceId(name))
			throw new GroupConfigError(`${at}.name must be 1..64 letters, digits, "_", "." or "-", got ${JSON.stringify(name)}`);
		if (names.has(name))
			throw new GroupConfigError(`${at}.name ${JSON.stringify(name)} is used twice`);
		names.add(name);
		const sensors = deviceList(item.sensors, `${at}.sensors`);
		const leds = deviceList(item.leds, `${at}.leds`);
		if (sensors.length === 0)
			throw new GroupConfigError(`${at}.sensors must name at least one device`);
		for (const led of leds) {
			const owner = ledOwner.get(led);
			if (owner !== undefined)
				throw new GroupConfigError(`${at}.leds: ${JSON.stringify(led)} is already commanded by group ${JSON.stringify(owner)}; an LED follows one group`);
			ledOwner.set(led, name);
		}
		const aggregate = item.aggregate ?? "median";
		if (typeof aggregate !== "string" || !AGGREGATES.includes(aggregate as Aggregate))
			throw new GroupConfigError(`${at}.aggregate must be one of ${AGGREGATES.join(", ")}, got ${JSON.stringify(aggregate)}`);
		const staleMs = item.staleMs ?? DEFAULT_STALE_MS;
		if (typeof staleMs !== "number" || !Number.isInteger(staleMs) || staleMs < 1)
			throw new GroupConfigError(`${at}.staleMs must be a positive integer (milliseconds), got ${JSON.stringify(staleMs)}`);
		const minFresh = item.minFresh ?? 1;
		if (typeof minFresh !== "number" || !Number.isInteger(minFresh) || minFresh < 1 || minFresh > sensors.length)
			throw new GroupConfigError(`${at}.minFresh must be an integer 1..${sensors.length} (the number of sensors), got ${JSON.stringify(minFresh)}`);
		let rule: RuleOptions;
		try {
			rule = checkRule({ threshold: (item.threshold ?? defaults.threshold) as number, hysteresis: (item.hysteresis ?? defaults.hysteresis) as number });
		}
		catch (error) {
			throw new GroupConfigError(`${at}.${(error as Error).message}`);
		}
		groups.push({ name, sensors, leds, aggregate: aggregate as Aggregate, staleMs, minFresh, rule });
	});
	return groups;
}

/** Combines readings; undefined for none. */
export function aggregate(kind: Aggregate, values: readonly number[]): number | undefined {
	if (values.length === 0)
		return undefined;
	switch (kind) {
		case "min":
			return Math.min(...values);
		case "max":
			return Math.max(...values);
		case "mean":
			return values.reduce((sum, value) => sum + value, 0) / values.length;
		case "median": {
			const sorted = [...values].sort((a, b) => a - b);
			const middle = sorted.length >> 1;
			return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
		}
	}
}

function deviceList(value: unknown, at: string): string[] {
	if (!Array.isArray(value))
		throw new GroupConfigError(`${at} must be an array of device ids`);
	const ids = new Set<string>();
	for (const id of value) {
		if (typeof id !== "string" || !isDeviceId(id))
			throw new GroupConfigError(`${at}: ${JSON.stringify(id)} is not a device id (1..64 letters, digits, "_", "." or "-")`);
		ids.add(id);
	}
	return [...ids];
}

function isObject(value: unknown): value is Record<string, unknown> {
	return typeof value === "object" && value !== null && !Array.isArray(value);
}
