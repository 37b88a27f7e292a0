/*
 * Runs JavaScript on the real XS engine: the `xsnap-worker` that npm `@agoric/xsnap` builds from
 * its bundled XS sources at install time, driven over its pipe protocol (netstrings on fds 3 and
 * 4) without the package's Node API, which needs SES lockdown in the calling process.
 *
 *   e<code>     evaluate a script         -> .<meter JSON>\1<reply> or !<error>
 *   ?<bytes>    call handleCommand(bytes) -> .<meter JSON>\1<ArrayBuffer it returned>
 *
 * Every reply carries XS's meter: `compute` (the crank's work), `allocate` (bytes allocated from
 * the OS so far) and `currentHeapCount` (slots in use on the XS heap).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { Readable, Writable } from "node:stream";

export interface Meter {
	compute: number;
	allocate: number;
	currentHeapCount: number;
}

export interface Reply {
	text: string;
	meter: Meter;
}

/** The worker binary, or a sentence saying what to do to get one. */
export function findWorker(): string {
	const require = createRequire(import.meta.url);
	let root: string;
	try {
		root = dirname(require.resolve("@agoric/xsnap/package.json"));
	}
	catch {
		throw new Error("@agoric/xsnap is not installed: run npm install (or npm ci)");
	}
	const bin = join(root, "xsnap-native", "xsnap", "build", "bin", process.platform === "darwin" ? "mac" : "lin", "release", "xsnap-worker");
	if (!existsSync(bin))
		throw new Error(`the XS worker was not built (${bin} is missing): its install script must be allowed (package.json "allowScripts"), then run npm rebuild @agoric/xsnap`);
	return bin;
}

export class XsWorker {
	#child: ChildProcess;
	#toXs: Writable;
	#pending: Array<{ resolve(reply: Reply): void; reject(error: Error): void }> = [];
	#buffer = Buffer.alloc(0);
	#stderr = "";
	#exited: Error | undefined;

	constructor(bin = findWorker()) {
		this.#child = spawn(bin, ["nightlight-xs"], { stdio: ["ignore", "pipe", "pipe", "pipe", "pipe"] });
		const stdio = this.#child.stdio as unknown as [null, Readable, Readable, Writable, Readable];
		this.#toXs = stdio[3];
		stdio[4].on("data", (chunk: Buffer) => this.#receive(chunk));
		stdio[1].on("data", (chunk: Buffer) => process.stdout.write(chunk));
		stdio[2].on("data", (chunk: Buffer) => { this.#stderr += chunk.toString(); });
		this.#child.on("exit", (code, signal) => {
			this.#exited = new Error(`xsnap-worker exited (${signal ?? code})${this.#stderr ? `: ${this.#stderr.trim()}` : ""}`);
			for (const waiter of this.#pending.splice(0))
				waiter.reject(this.#exited);
		});
	}

	/** Evaluates a script in the worker's global scope. */
	evaluate(code: string): Promise<Reply> {
		return this.#send(Buffer.concat([Buffer.from("e"), Buffer.from(code)]));
	}

	/** Calls the script's `globalThis.handleCommand` with `text` and returns what it answered. */
	command(text: string): Promise<Reply> {
		return this.#send(Buffer.concat([Buffer.from("?"), Buffer.from(text)]));
	}

	close(): void {
		this.#toXs.end();
		this.#child.kill();
	}

	#send(message: Buffer): Promise<Reply> {
		if (this.#exited)
			return Promise.reject(this.#exited);
		return new Promise((resolve, reject) => {
			this.#pending.push({ resolve, reject });
			this.#toXs.write(Buffer.concat([Buffer.from(`${message.length}:`), message, Buffer.from(",")]));
		});
	}

	#receive(chunk: Buffer): void {
		this.#buffer = Buffer.concat([this.#buffer, chunk]);
		for (;;) {
			const colon = this.#buffer.indexOf(0x3a);
			if (colon < 0)
				return;
			const length = Number(this.#buffer.subarray(0, colon).toString());
			if (this.#buffer.length < colon + 1 + length + 1)
				return;
			const body = this.#buffer.subarray(colon + 1, colon + 1 + length);
			this.#buffer = this.#buffer.subarray(colon + 1 + length + 1);
			const waiter = this.#pending.shift();
			if (!waiter)
				continue;
			if (body[0] === 0x2e) {
				const separator = body.indexOf(1);
				const meter = JSON.parse(body.subarray(1, separator).toString()) as Meter;
				waiter.resolve({ text: body.subarray(separator + 1).toString(), meter });
			}
			else {
				waiter.reject(new Error(`XS: ${body.subarray(1).toString()}`));
			}
		}
	}
}
