import { afterEach, beforeEach, describe, expect, test } from "@jest/globals";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OverrideFile, loadGroupsFile } from "../server/state.js";

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

	test("a groups file is checked, and its errors name the file and the field", () => {
		const path = join(dir, "groups.json");
		writeFileSync(path, `{"groups":[{"name":"g","sensors":["a","b"],"leds":["c"],"aggregate":"mean"}]}`);
		expect(loadGroupsFile(path, { threshold: 300, hysteresis: 20 })[0]).toMatchObject({ name: "g", aggregate: "mean" });
		writeFileSync(path, `{"groups":[{"name":"g","sensors":["a"],"leds":[],"minFresh":0}]}`);
		expect(() => loadGroupsFile(path, { threshold: 300, hysteresis: 20 })).toThrow(`${path}: groups[0].minFresh`);
		expect(() => loadGroupsFile(join(dir, "missing.json"), { threshold: 300, hysteresis: 20 })).toThrow(/missing\.json/);
	});
});
