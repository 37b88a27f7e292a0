/*
 * Files the server on Node reads and keeps: the groups configuration (`--groups FILE`) and the
 * overrides, kept in `<state dir>/` so they survive a restart, however the server stops.
 *
 * Overrides: a snapshot, `overrides.json`, always written whole and atomically (a temporary file,
 * then a rename), and a journal, `overrides.journal`: one JSON line per change since the snapshot,
 * appended as the change is made. A change costs one short append, however many overrides there
 * are. The journal is folded into the snapshot at start and once it has as many lines as there
 * are overrides (at least JOURNAL_MIN_LINES), so its length stays in proportion. Nothing is
 * fsynced: a killed server loses nothing (the lines are in the system's cache); a machine that
 * loses power may tear the last line, which loading ignores. Replaying a line twice (a crash
 * between writing the snapshot and emptying the journal) changes nothing: each line is the whole
 * state of one override.
 */
import { appendFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isDeviceId } from "../src/contract.js";
import type { RuleOptions } from "../src/rule.js";
import { type GroupConfig, parseGroups } from "./groups.js";
import { type Override, overrideKey, parseOverride } from "./overrides.js";
import type { OverrideChange } from "./types.js";

export const DEFAULT_STATE_DIR = ".nightlight";
const OVERRIDES_FILE = "overrides.json";
const JOURNAL_FILE = "overrides.journal";
export const JOURNAL_MIN_LINES = 1_000;

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
	readonly journalPath: string;
	#dir: string;
	/** Lines in the journal since the last snapshot, as far as this process knows. */
	#journalLines = 0;

	constructor(dir: string) {
		this.#dir = dir;
		this.path = join(dir, OVERRIDES_FILE);
		this.journalPath = join(dir, JOURNAL_FILE);
	}

	/** Changes in the journal, not yet in the snapshot. */
	get journalLines(): number {
		return this.#journalLines;
	}

	/** The saved overrides: the snapshot, then the journal's changes. Throws on a file that is not ours. */
	load(): Override[] {
		const text = readIfThere(this.path);
		let list: unknown;
		if (text !== undefined) {
			try {
				list = (JSON.parse(text) as { overrides?: unknown } | null)?.overrides;
			}
			catch (error) {
				throw new Error(`${this.path}: ${(error as Error).message}`);
			}
			if (!Array.isArray(list))
				throw new Error(`${this.path}: expected {"overrides": [...]}`);
		}
		const overrides = new Map<string, Override>();
		for (const [index, item] of ((list ?? []) as unknown[]).entries()) {
			const override = checkItem(item, `${this.path}: overrides[${index}]`);
			overrides.set(overrideKey(override.kind, override.id), override);
		}
		const lines = (readIfThere(this.journalPath) ?? "").split("\n");
		// The text after the last newline is a line whose writing was cut short: not a change.
		const torn = lines.pop();
		for (const [index, line] of lines.entries()) {
			const where = `${this.journalPath}: line ${index + 1}`;
			let item: unknown;
			try {
				item = JSON.parse(line);
			}
			catch (error) {
				throw new Error(`${where}: ${(error as Error).message}`);
			}
			const { cleared, ...rest } = (item ?? {}) as Record<string, unknown>;
			if (cleared === true) {
				const { kind, id } = checkItem({ ...rest, mode: "auto" }, where);
				overrides.delete(overrideKey(kind, id));
			}
			else {
				const override = checkItem(item, where);
				overrides.set(overrideKey(override.kind, override.id), override);
			}
		}
		this.#journalLines = lines.length + (torn ? 1 : 0);
		return [...overrides.values()];
	}

	/** Writes the snapshot (atomically), then removes the journal it now holds. */
	save(overrides: Override[]): void {
		mkdirSync(this.#dir, { recursive: true });
		const temporary = `${this.path}.${process.pid}.tmp`;
		writeFileSync(temporary, JSON.stringify({ overrides }, null, "\t") + "\n");
		renameSync(temporary, this.path);
		rmSync(this.journalPath, { force: true });
		this.#journalLines = 0;
	}

	/** Keeps one change: a line in the journal; the snapshot, from `all`, once the journal is long. */
	record(change: OverrideChange, all: () => Override[]): void {
		mkdirSync(this.#dir, { recursive: true });
		const line = change.override ?? { kind: change.kind, id: change.id, cleared: true };
		appendFileSync(this.journalPath, JSON.stringify(line) + "\n");
		if (++this.#journalLines >= JOURNAL_MIN_LINES) {
			const overrides = all();
			if (this.#journalLines >= overrides.length)
				this.save(overrides);
		}
	}
}

function readIfThere(path: string): string | undefined {
	try {
		return readFileSync(path, "utf8");
	}
	catch (error) {
		if ((error as NodeJS.ErrnoException).code === "ENOENT")
			return undefined;
		throw new Error(`${path}: ${(error as Error).message}`);
	}
}

/** One saved override, checked; `where` starts the error's message. */
function checkItem(item: unknown, where: string): Override {
	const { kind, id, at, by, ...body } = (item ?? {}) as Record<string, unknown>;
	const parsed = parseOverride(String(kind), String(id), body);
	if (!parsed.ok)
		throw new Error(`${where}: ${parsed.error}`);
	// When and by which server it was set: files from older versions have neither.
	if (at !== undefined && (typeof at !== "number" || !Number.isSafeInteger(at) || at < 0))
		throw new Error(`${where}: "at" must be a time in ms, got ${JSON.stringify(at)}`);
	if (by !== undefined && (typeof by !== "string" || !isDeviceId(by)))
		throw new Error(`${where}: "by" must name a server, got ${JSON.stringify(by)}`);
	return { ...parsed.value, ...(at === undefined ? {} : { at }), ...(by === undefined ? {} : { by }) };
}
