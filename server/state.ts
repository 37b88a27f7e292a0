/*
 * Files the server on Node reads and keeps: the groups configuration (`--groups FILE`) and the
 * overrides, kept in `<state dir>/overrides.json` so they survive a restart. The overrides file is
 * written atomically (a temporary file, then a rename), so a crash never leaves half a file.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isDeviceId } from "../src/contract.js";
import type { RuleOptions } from "../src/rule.js";
import { type GroupConfig, parseGroups } from "./groups.js";
import { type Override, parseOverride } from "./overrides.js";

export const DEFAULT_STATE_DIR = ".nightlight";
const OVERRIDES_FILE = "overrides.json";

/** Reads and checks a groups file; throws an Error whose message names the file and the field. */
export function loadGroupsFile(path: string, defaults: RuleOptions): GroupConfig[] {
	let json: unknown;
	try {
		json = JSON.parse(readFileSync(path, "utf8"));
	}
	catch (error) {
		throw new Error(`${path}: ${(error as Error).message}`);
	}
	try {
		return parseGroups(json, defaults);
	}
	catch (error) {
		throw new Error(`${path}: ${(error as Error).message}`);
	}
}

export class OverrideFile {
	readonly path: string;
	#dir: string;

	constructor(dir: string) {
		this.#dir = dir;
		this.path = join(dir, OVERRIDES_FILE);
	}

	/** The saved overrides; none when there is no file yet. Throws on a file that is not ours. */
	load(): Override[] {
		let text: string;
		try {
			text = readFileSync(this.path, "utf8");
		}
		catch (error) {
			if ((error as NodeJS.ErrnoException).code === "ENOENT")
				return [];
			throw new Error(`${this.path}: ${(error as Error).message}`);
		}
		let json: unknown;
		try {
			json = JSON.parse(text);
		}
		catch (error) {
			throw new Error(`${this.path}: ${(error as Error).message}`);
		}
		const list = (json as { overrides?: unknown } | null)?.overrides;
		if (!Array.isArray(list))
			throw new Error(`${this.path}: expected {"overrides": [...]}`);
		return list.map((item: unknown, index) => {
			const { kind, id, at, by, ...body } = (item ?? {}) as Record<string, unknown>;
			const parsed = parseOverride(String(kind), String(id), body);
			if (!parsed.ok)
				throw new Error(`${this.path}: overrides[${index}]: ${parsed.error}`);
			// When and by which server it was set: files from older versions have neither.
			if (at !== undefined && (typeof at !== "number" || !Number.isSafeInteger(at) || at < 0))
				throw new Error(`${this.path}: overrides[${index}]: "at" must be a time in ms, got ${JSON.stringify(at)}`);
			if (by !== undefined && (typeof by !== "string" || !isDeviceId(by)))
				throw new Error(`${this.path}: overrides[${index}]: "by" must name a server, got ${JSON.stringify(by)}`);
			return { ...parsed.value, ...(at === undefined ? {} : { at }), ...(by === undefined ? {} : { by }) };
		});
	}

	save(overrides: Override[]): void {
		mkdirSync(this.#dir, { recursive: true });
		const temporary = `${this.path}.${process.pid}.tmp`;
		writeFileSync(temporary, JSON.stringify({ overrides }, null, "\t") + "\n");
		renameSync(temporary, this.path);
	}
}
