/* README.md's table of settings says what the schema in src/settings.ts says, row for row. */
import { readFileSync } from "node:fs";
import { expect, test } from "@jest/globals";
import { SETTINGS, type SettingSpec } from "../src/settings.js";

const BEGIN = "<!-- settings table: begin -->";
const END = "<!-- settings table: end -->";

function row(spec: SettingSpec): string {
	const range = spec.type === "int" ? `${spec.min}..${spec.max}` : spec.type === "choice" ? spec.choices!.join(", ") : `text, at most ${spec.max}`;
	const fallback = spec.default === "" ? "(empty)" : String(spec.default);
	return `| \`${spec.key}\` | ${fallback} | ${range} | ${spec.live ? "at once" : "at restart"}${spec.secret ? ", secret" : ""} | ${spec.help} |`;
}

test("README.md lists every setting with its default, range and when it applies, as the schema does", () => {
	const readme = readFileSync("README.md", "utf8");
	const begin = readme.indexOf(BEGIN);
	const end = readme.indexOf(END);
	expect(begin).toBeGreaterThan(0);
	const table = readme.slice(begin + BEGIN.length, end).trim().split("\n");
	const expected = ["| setting | default | range | applies | |", "|---|---|---|---|---|", ...SETTINGS.map(row)];
	expect(table).toEqual(expected);
});
