/*
 * Command-line settings: one table of options, each with its flag, its NIGHTLIGHT_* variable,
 * its default and its check. A flag beats the variable, which beats the default. Anything wrong
 * is a ConfigError naming the option and what it accepts; the CLI exits with code 2 on it.
 */
import { parseArgs } from "node:util";
import { parseDuration } from "../server/forgetting.js";

export class ConfigError extends Error {
	override name = "ConfigError";
}

/** A duration is given as "30d", "12h", "15m", "90s", "500ms" or bare milliseconds, and read as ms. */
type Kind = "string" | "integer" | "number" | "duration" | "flag";

export interface OptionSpec {
	/** The flag without dashes, e.g. "broker". */
	name: string;
	kind: Kind;
	help: string;
	/** Shown as the value's placeholder in --help. */
	value?: string;
	default?: string | number | boolean;
	choices?: string[];
	min?: number;
	max?: number;
	/** Never printed: masked in the configuration dump. */
	secret?: boolean;
	/** How the value is shown in the configuration dump, e.g. a URL without its password. */
	show?: (value: string) => string;
	/** What is wrong with a string value (said after the option's name), or undefined. */
	check?: (value: string) => string | undefined;
	/** An empty variable is checked rather than taken as unset: for a secret whose absence opens something. */
	refuseEmpty?: boolean;
}

export type Values = Record<string, string | number | boolean | undefined>;

export function envName(name: string): string {
	return "NIGHTLIGHT_" + name.toUpperCase().replaceAll("-", "_");
}

/**
 * Parses argv (without the command) against the specs; env gives the fallbacks. Arguments that
 * are not options go to `positionals` when the command takes some, and are refused otherwise.
 */
export function parseOptions(specs: OptionSpec[], argv: string[], env: NodeJS.ProcessEnv, positionals?: string[]): Values & { help?: boolean } {
	const options: Record<string, { type: "string" | "boolean" }> = { help: { type: "boolean" } };
	for (const spec of specs)
		options[spec.name] = { type: spec.kind === "flag" ? "boolean" : "string" };
	let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
	try {
		parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: true }) as typeof parsed;
	}
	catch (error) {
		throw new ConfigError(((error as Error).message.split("\n")[0] ?? "bad arguments").replace(/^Unknown option/, "unknown option"));
	}
	if (positionals)
		positionals.push(...parsed.positionals);
	else if (parsed.positionals.length)
		throw new ConfigError(`unexpected argument ${JSON.stringify(parsed.positionals[0])}`);
	const values: Values & { help?: boolean } = {};
	if (parsed.values.help)
		values.help = true;
	for (const spec of specs) {
		const flag = parsed.values[spec.name];
		const fromEnv = env[envName(spec.name)];
		let raw: string | boolean | undefined = flag;
		let source = `--${spec.name}`;
		if (raw === undefined && fromEnv !== undefined && (fromEnv !== "" || spec.refuseEmpty)) {
			raw = fromEnv;
			source = envName(spec.name);
		}
		if (raw === undefined) {
			values[spec.name] = spec.kind === "duration" && spec.default !== undefined ? convert(spec, String(spec.default), "the default") : spec.default;
			continue;
		}
		values[spec.name] = convert(spec, raw, source);
	}
	return values;
}

function convert(spec: OptionSpec, raw: string | boolean, source: string): string | number | boolean {
	if (spec.kind === "flag") {
		if (typeof raw === "boolean")
			return raw;
		if (/^(1|true|yes|on)$/i.test(raw))
			return true;
		if (/^(0|false|no|off)$/i.test(raw))
			return false;
		throw new ConfigError(`${source} must be true or false, got ${JSON.stringify(raw)}`);
	}
	const text = String(raw);
	if (spec.kind === "string") {
		if (spec.choices && !spec.choices.includes(text))
			throw new ConfigError(`${source} must be one of ${spec.choices.join(", ")}, got ${JSON.stringify(text)}`);
		const problem = spec.check?.(text);
		if (problem !== undefined)
			throw new ConfigError(`${source} ${problem}`);
		return text;
	}
	if (spec.kind === "duration") {
		const ms = parseDuration(text);
		if (ms === undefined || (spec.min !== undefined && ms < spec.min))
			throw new ConfigError(`${source} must be a duration such as 30d, 12h, 15m or 90s (or milliseconds)${spec.min === undefined ? "" : `, at least ${spec.min} ms`}, got ${JSON.stringify(text)}`);
		return ms;
	}
	const number = Number(text.trim());
	const what = spec.kind === "integer" ? "an integer" : "a number";
	if (text.trim() === "" || !Number.isFinite(number) || (spec.kind === "integer" && !Number.isInteger(number)))
		throw new ConfigError(`${source} must be ${what}${range(spec)}, got ${JSON.stringify(text)}`);
	if ((spec.min !== undefined && number < spec.min) || (spec.max !== undefined && number > spec.max))
		throw new ConfigError(`${source} must be ${what}${range(spec)}, got ${number}`);
	return number;
}

function range(spec: OptionSpec): string {
	if (spec.min !== undefined && spec.max !== undefined)
		return ` from ${spec.min} to ${spec.max}`;
	if (spec.min !== undefined)
		return ` of at least ${spec.min}`;
	return "";
}

/** The `--help` text for one command. */
export function helpText(usage: string, summary: string, specs: OptionSpec[]): string {
	const lines = [`usage: ${usage}`, "", summary, "", "options (each also read from the NIGHTLIGHT_* variable shown):"];
	const rows: Array<[string, string]> = specs.map((spec) => {
		const flag = `--${spec.name}${spec.kind === "flag" ? "" : ` ${spec.value ?? (spec.choices ? spec.choices.join("|") : "N")}`}`;
		const fallback = spec.default === undefined || spec.secret ? "" : ` (default ${spec.default})`;
		return [flag, `${spec.help}${fallback} [${envName(spec.name)}]`];
	});
	rows.push(["--help", "show this text"]);
	const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
	for (const [flag, text] of rows)
		lines.push(`  ${flag.padEnd(width)}${text}`);
	return lines.join("\n") + "\n";
}

/** The effective configuration in one line, secrets masked. */
export function describeConfig(specs: OptionSpec[], values: Values): string {
	const parts: string[] = [];
	for (const spec of specs) {
		const value = values[spec.name];
		if (value === undefined)
			continue;
		const shown = spec.secret ? "***" : spec.show ? spec.show(String(value)) : String(value);
		parts.push(`${spec.name}=${shown}`);
	}
	return parts.join(" ");
}

/**
 * A command that does one thing and exits (`config`, `setup`): its options, and what it takes
 * from its arguments (throwing a ConfigError on a bad one) before it runs.
 */
export interface OneShot<T> {
	usage: string;
	summary: string;
	options: OptionSpec[];
	prepare(values: Values, positionals: string[]): T;
	/** Resolves with the exit code; rejects with a line to print (exit 1), or a ConfigError (exit 2). */
	run(prepared: T, values: Values): Promise<number>;
}
