/*
 * A log line of one kind at most `perWindow` times per `windowMs` (5 per 10 s by default); when a
 * window with more ends, one line says how many were kept quiet. For faults that can come in
 * floods (malformed messages, slow readers), so the log stays readable and cheap. Pure.
 */
import type { Clock, Log, LogLevel } from "./ports.js";

export interface LogLimitOptions {
	clock: Clock;
	log: Log;
	tag: string;
	/** Ends the summary line: "12 more " + what, e.g. "messages rejected". */
	what: string;
	windowMs?: number;
	perWindow?: number;
}

export class LogLimit {
	#options: LogLimitOptions;
	#windowMs: number;
	#perWindow: number;
	#windowStart = -Infinity;
	#said = 0;

	constructor(options: LogLimitOptions) {
		this.#options = options;
		this.#windowMs = options.windowMs ?? 10_000;
		this.#perWindow = options.perWindow ?? 5;
	}

	say(level: LogLevel, message: string): void {
		const { clock, log, tag, what } = this.#options;
		const now = clock.now();
		if (now - this.#windowStart >= this.#windowMs) {
			const quiet = this.#said - this.#perWindow;
			if (quiet > 0)
				log(level, tag, `${quiet} more ${what}`);
			this.#windowStart = now;
			this.#said = 0;
		}
		if (this.#said++ < this.#perWindow)
			log(level, tag, message);
	}
}
