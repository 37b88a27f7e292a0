import { afterEach, beforeEach, describe, expect, test } from "@jest/globals";
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Override } from "../server/overrides.js";
import { JOURNAL_MIN_LINES, OverrideFile, loadGroupsFile } from "../server/state.js";

let dir: string;
beforeEach(() => {
	dir = mkdtempSync(join(tmpdir(), "nightlight-state-"));
});
afterEach(() => {
	rmSync(dir, { recursive: true, force: true });
});

describe("the state files", () => {
	test("overrides survive a restart: saved atomically, loaded back", () => {
		const file = new OverrideFile(join(dir, "state"));
		expect(file.load()).toEqual([]);
		file.save([{ kind: "device", id: "a", mode: "on" }, { kind: "group", id: "g", mode: "auto", threshold: 500 }]);
		expect(new OverrideFile(join(dir, "state")).load()).toEqual([{ kind: "device", id: "a", mode: "on" }, { kind: "group", id: "g", mode: "auto", threshold: 500 }]);
		expect(readdirSync(join(dir, "state"))).toEqual(["overrides.json"]);
	});

	test("a damaged overrides file is an error naming the file", () => {
		const file = new OverrideFile(dir);
		writeFileSync(file.path, "{");
		expect(() => file.load()).toThrow(file.path);
		writeFileSync(file.path, `{"overrides":[{"kind":"device","id":"a","mode":"dim"}]}`);
		expect(() => file.load()).toThrow(/overrides\[0\]: "mode"/);
		writeFileSync(file.path, `{"overrides":[{"kind":"device","id":"a","mode":"on","at":"yesterday"}]}`);
		expect(() => file.load()).toThrow(/overrides\[0\]: "at" must be a time in ms/);
	});

	test("an override keeps when and by which server it was set", () => {
		const file = new OverrideFile(dir);
		file.save([{ kind: "device", id: "a", mode: "off", at: 1_700_000_000_000, by: "nightlight-server-1a2b3c" }]);
		expect(file.load()).toEqual([{ kind: "device", id: "a", mode: "off", at: 1_700_000_000_000, by: "nightlight-server-1a2b3c" }]);
	});

	test("a change is one line appended to the journal, not a rewrite of every override; loading replays it", () => {
		const file = new OverrideFile(dir);
		const many: Override[] = Array.from({ length: 5_000 }, (_, n) => ({ kind: "device", id: `d${n}`, mode: "on" }));
		file.save(many);
		const snapshot = readFileSync(file.path, "utf8");
		file.record({ kind: "device", id: "d1", override: { kind: "device", id: "d1", mode: "off", at: 5, by: "s" } }, () => many);
		file.record({ kind: "device", id: "d2", override: null }, () => many);
		file.record({ kind: "device", id: "new", override: { kind: "device", id: "new", mode: "auto", threshold: 100 } }, () => many);
		expect(readFileSync(file.path, "utf8")).toBe(snapshot);
		expect(readFileSync(file.journalPath, "utf8").split("\n")).toEqual([
			`{"kind":"device","id":"d1","mode":"off","at":5,"by":"s"}`,
			`{"kind":"device","id":"d2","cleared":true}`,
			`{"kind":"device","id":"new","mode":"auto","threshold":100}`,
			"",
		]);
		const loaded = new OverrideFile(dir).load();
		expect(loaded).toHaveLength(5_000);
		expect(loaded.find((item) => item.id === "d1")).toEqual({ kind: "device", id: "d1", mode: "off", at: 5, by: "s" });
		expect(loaded.find((item) => item.id === "d2")).toBeUndefined();
		expect(loaded.at(-1)).toEqual({ kind: "device", id: "new", mode: "auto", threshold: 100 });
	});

	test("a torn last line (a power cut mid-write) is ignored; a bad line before it is an error naming the line", () => {
		const file = new OverrideFile(dir);
		file.record({ kind: "device", id: "a", override: { kind: "device", id: "a", mode: "on" } }, () => []);
		appendFileSync(file.journalPath, `{"kind":"device","id":"b","mo`);
		const again = new OverrideFile(dir);
		expect(again.load()).toEqual([{ kind: "device", id: "a", mode: "on" }]);
		// The server folds it into the snapshot at start, so nothing is appended after the torn line.
		expect(again.journalLines).toBe(2);
		appendFileSync(file.journalPath, `\n{"kind":"device","id":"c","mode":"on"}\n`);
		expect(() => new OverrideFile(dir).load()).toThrow(`${file.journalPath}: line 2:`);
	});

	test("the journal is folded into the snapshot once it holds as many changes as there are overrides", () => {
		const file = new OverrideFile(dir);
		const list: Override[] = [];
		for (let n = 0; n < JOURNAL_MIN_LINES; n++) {
			list.push({ kind: "device", id: `d${n}`, mode: "on" });
			file.record({ kind: "device", id: `d${n}`, override: list.at(-1)! }, () => list);
		}
		expect(readdirSync(dir)).toEqual(["overrides.json"]);
		expect(file.journalLines).toBe(0);
		expect(new OverrideFile(dir).load()).toEqual(list);
	});

	test("a groups file is checked, and its errors name the file and the field", () => {
		const path = join(dir, "groups.json");
		writeFileSync(path, `{"groups":[{"name":"g","sensors":["a","b"],"leds":["c"],"aggregate":"mean"}]}`);
		expect(loadGroupsFile(path, { threshold: 300, hysteresis: 20 })[0]).toMatchObject({ name: "g", aggregate: "mean" });
		writeFileSync(path, `{"groups":[{"name":"g","sensors":["a"],"leds":[],"minFresh":0}]}`);
		expect(() => loadGroupsFile(path, { threshold: 300, hysteresis: 20 })).toThrow(`${path}: groups[0].minFresh`);
		expect(() => loadGroupsFile(join(dir, "missing.json"), { threshold: 300, hysteresis: 20 })).toThrow(/missing\.json/);
	});
});
