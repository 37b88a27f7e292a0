/* Console logging for Node: one line per call, with time, level and tag; warnings and errors go to stderr. */
import type { Log, LogLevel } from "../../src/ports.js";

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export const LOG_LEVELS = Object.keys(RANK) as LogLevel[];

export function isLogLevel(value: string): value is LogLevel {
	return value in RANK;
}

export function consoleLog(minimum: LogLevel = "info"): Log {
	const floor = RANK[minimum];
	return (level, tag, message) => {
		if (RANK[level] < floor)
			return;
		const time = new Date().toISOString().slice(11, 23);
		const line = `${time} ${level.padEnd(5)} ${tag}: ${message}\n`;
		if (RANK[level] >= RANK.warn)
			process.stderr.write(line);
		else
			process.stdout.write(line);
	};
}
