/*
 * Every bad setting of every command, as a user meets it: the command stops with exit code 2 and
 * a message that names the setting to change, and every option or variable a message names is
 * one that command's --help lists. The cases are generated from each command's --help, so an
 * option added without a way to get it wrong tested here fails the coverage check below.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { type Server, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { freePort } from "../support/brokers.js";

const CLI = "dist/nightlight.js";
const COMMANDS = ["up", "device", "server", "broker"] as const;
type CommandName = (typeof COMMANDS)[number];

const dir = mkdtempSync(join(tmpdir(), "nightlight-cli-errors-"));
const aFile = join(dir, "not-a-folder");
writeFileSync(aFile, "");
const badGroups = join(dir, "bad-groups.json");
writeFileSync(badGroups, `{"groups":[{"name":"pitch","sensors":["a"],"leds":[],"aggregate":"mode"}]}`);
const notJson = join(dir, "not-json.json");
writeFileSync(notJson, "{");
const shortToken = join(dir, "short-token");
writeFileSync(shortToken, "sh0rt\n");

/** Options that take any value: no value of theirs is a bad setting by itself. */
const ANY_VALUE = new Set(["username", "servername"]);
/** An address that is no address of this machine (TEST-NET-3), and a name that resolves nowhere. */
const FOREIGN_ADDRESS = "203.0.113.7";
const NO_SUCH_HOST = "nosuchhost.invalid";

let busy: Server;
let busyPort: number;
let closedPort: number;

function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
	const env = { ...process.env };
	for (const key of Object.keys(env)) {
		if (key.startsWith("NIGHTLIGHT_"))
			delete env[key];
	}
	return { ...env, ...extra };
}

function run(args: string[], env: Record<string, string> = {}) {
	return spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", env: cleanEnv(env), timeout: 20_000, input: "" });
}

/** Runs the command; one that is still running after 10 s took the setting: it is stopped. */
function runAsync(args: string[], env: Record<string, string>): Promise<{ status: number | null; stderr: string }> {
	return new Promise((resolve) => {
		const child = spawn(process.execPath, [CLI, ...args], { env: cleanEnv(env), stdio: ["ignore", "ignore", "pipe"] });
		let stderr = "";
		child.stderr.on("data", (chunk) => (stderr += chunk));
		const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
		child.on("close", (status) => {
			clearTimeout(timer);
			resolve({ status, stderr });
		});
	});
}

/** Runs the jobs two at a time (the machine has two cores). */
async function inPairs<T, R>(items: T[], job: (item: T) => Promise<R>): Promise<R[]> {
	const results: R[] = new Array(items.length);
	let next = 0;
	const worker = async () => {
		while (next < items.length) {
			const index = next++;
			results[index] = await job(items[index]!);
		}
	};
	await Promise.all([worker(), worker()]);
	return results;
}

interface HelpOption {
	name: string;
	variable: string;
	/** The value's placeholder, e.g. N, FILE, change|period. */
	value: string;
}

const helpOf = new Map<CommandName, { text: string; options: HelpOption[] }>();
function help(command: CommandName): { text: string; options: HelpOption[] } {
	let known = helpOf.get(command);
	if (!known) {
		const text = run([command, "--help"]).stdout;
		const options: HelpOption[] = [];
		for (const match of text.matchAll(/^ {2}--([a-z][a-z0-9-]*) (\S+)\s.*\[(NIGHTLIGHT_[A-Z0-9_]+)\]$/gm))
			options.push({ name: match[1]!, value: match[2]!, variable: match[3]! });
		known = { text, options };
		helpOf.set(command, known);
	}
	return known;
}

/** Settings that keep a command off the usual ports and out of the user's folders; `without`: one left to the variable. */
function baseArgs(command: CommandName, without?: string): string[] {
	const args = allBaseArgs(command);
	const at = args.indexOf(`--${without}`);
	return at < 0 ? args : [...args.slice(0, at), ...args.slice(at + 2)];
}

function allBaseArgs(command: CommandName): string[] {
	const broker = ["--broker", `mqtt://127.0.0.1:${closedPort}`];
	const http = ["--http-port", "0", "--state-dir", join(dir, "state")];
	const listen = ["--mqtt-port", "0", "--ws-port", "0"];
	switch (command) {
	case "up": return [...listen, ...http];
	case "server": return [...broker, ...http];
	case "device": return broker;
	case "broker": return listen;
	}
}

/** Bad values for one option: each a list of arguments given after the base ones. */
function badValues(command: CommandName, option: HelpOption): string[][] {
	const flag = `--${option.name}`;
	switch (option.name) {
	case "broker": return [[flag, "http://127.0.0.1"], [flag, "not a url"], [flag, "mqtt://"]];
	case "id": return [[flag, "a/b"], [flag, ""]];
	case "password": return [[flag, "s3cret"]];
	case "ca": return [[flag, join(dir, "no-such-ca.crt")]];
	case "pin": return [[flag, "md5/0123"]];
	case "groups": return [[flag, join(dir, "no-such-groups.json")], [flag, badGroups], [flag, notJson]];
	case "state-dir": return [[flag, aFile]];
	case "api-token": return [[flag, "sh0rt"], [flag, ""], [flag, "0123456789 abcdef"]];
	case "api-token-file": return [[flag, join(dir, "no-such-token")], [flag, shortToken], [flag, shortToken, "--api-token", "0123456789abcdef"]];
	case "share": return [[flag, "a/b"]];
	// Another database than ours, PostgreSQL that is not there, an SQLite file that cannot be made, an unparsable URL.
	case "db": return [[flag, "mysql://127.0.0.1/nightlight"], [flag, `postgres://nightlight:secret@127.0.0.1:${closedPort}/nightlight`], [flag, join(aFile, "history.sqlite")], [flag, "postgres://a:b@[::1/x"]];
	case "ha-prefix": return [[flag, "home/+/assistant"], [flag, "homeassistant/"]];
	case "keepalive": return [[flag, "0"], [flag, "abc"], [flag, "70000"]];
	case "listen": return [[flag, FOREIGN_ADDRESS], [flag, NO_SUCH_HOST]];
	case "http-listen": return [[flag, FOREIGN_ADDRESS]];
	case "forget-after": return [[flag, "3 weeks"], [flag, "500ms"]];
	case "mqtt-port":
	case "ws-port":
	case "http-port": return [[flag, String(busyPort)], [flag, "abc"], [flag, "70000"]];
	}
	if (option.value.includes("|"))
		return [[flag, "bogus"]];
	if (option.value === "N")
		return [[flag, "abc"], [flag, "-99999"]];
	if (ANY_VALUE.has(option.name))
		return [];
	throw new Error(`no bad value known for ${command} --${option.name}: add one to this test`);
}

/** Bad settings that more than one option make, or that are no option at all. */
const OTHER_CASES: Array<[CommandName, string[], Record<string, string>, string]> = [
	["device", ["--bogus"], {}, ""],
	["device", ["stray"], {}, ""],
	["server", [], { NIGHTLIGHT_API_TOKEN: "" }, "NIGHTLIGHT_API_TOKEN"],
	["broker", [], { NIGHTLIGHT_LISTEN: FOREIGN_ADDRESS }, "NIGHTLIGHT_LISTEN"],
	["server", [], { NIGHTLIGHT_HTTP_PORT: "busy" }, "NIGHTLIGHT_HTTP_PORT"],
];

/** The options and variables a message names that the command's --help does not list (bar what the user typed). */
function unknownNames(command: CommandName, message: string, typed: string[]): string[] {
	const { options } = help(command);
	const flags = new Set(["help", ...options.map((option) => option.name)]);
	const variables = new Set(options.map((option) => option.variable));
	const unknown: string[] = [];
	for (const match of message.matchAll(/(?<![\w-])--([a-z][a-z0-9-]*)/g)) {
		if (!flags.has(match[1]!) && !typed.includes(match[0]))
			unknown.push(match[0]);
	}
	for (const match of message.matchAll(/NIGHTLIGHT_[A-Z0-9_]+/g)) {
		if (!variables.has(match[0]))
			unknown.push(match[0]);
	}
	return unknown;
}

beforeAll(async () => {
	busy = createServer();
	await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
	busyPort = (busy.address() as { port: number }).port;
	closedPort = await freePort();
});

afterAll(async () => {
	await new Promise((resolve) => busy.close(resolve));
	rmSync(dir, { recursive: true, force: true });
});

describe.each(COMMANDS)("nightlight %s: every bad setting", (command) => {
	test("exits 2 with one message naming the setting, and names only options its --help lists", async () => {
		const { options } = help(command);
		expect(options.length).toBeGreaterThan(0);
		// Each case: its arguments, its variables, and the names of which one the message must give.
		const cases: Array<{ args: string[]; env: Record<string, string>; names: string[]; base: string[] }> = [];
		for (const option of options) {
			const bad = badValues(command, option);
			for (const args of bad)
				cases.push({ args, env: {}, names: [`--${option.name}`], base: baseArgs(command) });
			// The same setting from its variable: the message names the variable or its option.
			const first = bad[0];
			if (first && first.length === 2 && first[1] !== "")
				cases.push({ args: [], env: { [option.variable]: first[1]! }, names: [option.variable, `--${option.name}`], base: baseArgs(command, option.name) });
		}
		for (const [name, args, env, named] of OTHER_CASES) {
			if (name === command)
				cases.push({ args, env, names: named ? [named] : [], base: baseArgs(command, Object.keys(env)[0]?.replace(/^NIGHTLIGHT_/, "").toLowerCase().replaceAll("_", "-")) });
		}
		const results = await inPairs(cases, ({ args, env, base }) => runAsync([command, ...base, ...args], env));
		const failures: string[] = [];
		cases.forEach(({ args, env, names }, i) => {
			const { status, stderr } = results[i]!;
			const said = `nightlight ${command} ${args.join(" ")} ${JSON.stringify(env)} → exit ${status}: ${stderr.trim()}`;
			// The command's own line: what was wrong and what to do (log lines of a started part may precede it).
			const message = stderr.split("\n").find((line) => line.startsWith(`nightlight ${command}: `));
			if (status !== 2)
				failures.push(`not exit 2: ${said}`);
			else if (message === undefined || /\n\s+at /.test(stderr))
				failures.push(`no clear message: ${said}`);
			else if (names.length > 0 && !names.some((name) => message.includes(name)))
				failures.push(`does not name ${names.join(" or ")}: ${said}`);
			const unknown = unknownNames(command, stderr, args);
			if (unknown.length > 0)
				failures.push(`names ${unknown.join(", ")}, which nightlight ${command} --help does not list: ${said}`);
		});
		expect(failures).toEqual([]);
	}, 240_000);
});

test("nightlight without a command, or with an unknown one, exits 2", () => {
	expect(run([]).status).toBe(2);
	const unknown = run(["fly"]);
	expect(unknown.status).toBe(2);
	expect(unknown.stderr).toContain(`unknown command "fly"`);
});
