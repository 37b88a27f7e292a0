/* Logging on Moddable: one `trace()` line per call (the serial console on a board, stdout or xsbug in mcsim). */
import type { Log, LogLevel } from "nightlight/ports";

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function traceLog(minimum: LogLevel = "info"): Log {
	const floor = RANK[minimum];
	return (level, tag, message) => {
		if (RANK[level] >= floor)
			trace(`${level} ${tag}: ${message}\n`);
	};
}
