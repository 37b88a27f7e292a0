/* The LED on Node: prints each change as "LED on" / "LED off". */
import type { Led } from "../../src/ports.js";

export class ConsoleLed implements Led {
	#on: boolean | undefined;
	#print: (line: string) => void;

	constructor(print: (line: string) => void = (line) => process.stdout.write(line + "\n")) {
		this.#print = print;
	}

	get on(): boolean {
		return this.#on === true;
	}

	write(on: boolean): void {
		if (on === this.#on)
			return;
		this.#on = on;
		this.#print(on ? "LED on" : "LED off");
	}
}
