/*
 * A benchmark's report: lines printed as they are said, then written into docs/BENCHMARKS.md
 * between the script's own markers (`<!-- npm run bench: begin -->` … `end -->`), the rest of the
 * file kept as it is.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";

const FILE = "docs/BENCHMARKS.md";

export class Report {
	#command: string;
	#lines: string[] = [];

	/** `command`: the one that makes this report, e.g. "npm run bench". */
	constructor(command: string) {
		this.#command = command;
	}

	say = (line = ""): void => {
		this.#lines.push(line);
		console.log(line);
	};

	write(): void {
		const begin = `<!-- ${this.#command}: begin -->`;
		const end = `<!-- ${this.#command}: end -->`;
		const block = `${begin}\n${this.#lines.join("\n")}\n${end}`;
		let text = existsSync(FILE) ? readFileSync(FILE, "utf8") : "# Benchmarks\n\nFigures measured on our machines, each with the command that produced it.\n";
		if (text.includes(begin) && text.includes(end))
			text = text.slice(0, text.indexOf(begin)) + block + text.slice(text.indexOf(end) + end.length);
		else
			text = `${text.trimEnd()}\n\n${block}\n`;
		writeFileSync(FILE, text);
		console.log(`\nwritten to ${FILE}`);
	}
}

/** Milliseconds with one decimal, or n/a. */
export const ms = (value: number): string => (Number.isFinite(value) ? value.toFixed(1) : "n/a");
