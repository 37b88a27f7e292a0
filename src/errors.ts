/* Turning whatever was thrown into one line of a log, and keeping a listener's fault from spreading. */
import type { Log } from "./ports.js";

export function messageOf(error: unknown): string {
	if (error instanceof Error)
		return error.message || error.name;
	return String(error);
}

/** Calls a listener; whatever it throws is logged under `tag`, never passed on (one failing listener is not fatal). */
export function callSafely(log: Log, tag: string, what: string, callback: () => void): void {
	try {
		callback();
	}
	catch (error) {
		log("error", tag, `${what} failed: ${messageOf(error)}`);
	}
}
