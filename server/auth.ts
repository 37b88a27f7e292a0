/*
 * The HTTP API's optional token: what makes one acceptable, and the check of a request's
 * `Authorization: Bearer <token>` header against it in constant time. Reading stays open; the
 * HTTP side asks for the token on every request that may change something.
 */
import { createHash, timingSafeEqual } from "node:crypto";

/** The shortest token accepted: 16 characters, so it cannot be guessed over the network. */
export const API_TOKEN_MIN_LENGTH = 16;

/** What is wrong with a token, or undefined when it will do. Never quotes the token. */
export function apiTokenProblem(token: string): string | undefined {
	if (token === "")
		return `is empty: give a token of at least ${API_TOKEN_MIN_LENGTH} characters, e.g. from "openssl rand -hex 24"`;
	if (token.length < API_TOKEN_MIN_LENGTH)
		return `is ${token.length} characters long: give a token of at least ${API_TOKEN_MIN_LENGTH}, e.g. from "openssl rand -hex 24"`;
	// It travels in an HTTP header, where spaces at its ends are lost and other characters mangled.
	if (!/^[\x21-\x7e]+$/.test(token))
		return "must be printable ASCII without spaces (it travels in an HTTP header), e.g. from \"openssl rand -hex 24\"";
	return undefined;
}

export type Verdict = "ok" | "missing" | "wrong";

/** Checks Authorization headers against one token; throws a RangeError for a token that will not do. */
export class BearerCheck {
	#digest: Buffer;

	constructor(token: string) {
		const problem = apiTokenProblem(token);
		if (problem)
			throw new RangeError(`the API token ${problem}`);
		this.#digest = sha256(token);
	}

	verdict(header: string | undefined): Verdict {
		const match = /^Bearer +(\S+) *$/i.exec(header ?? "");
		if (!match)
			return "missing";
		// Equal-length digests: timingSafeEqual tells nothing about where, or how long, a guess is wrong.
		return timingSafeEqual(sha256(match[1]!), this.#digest) ? "ok" : "wrong";
	}
}

function sha256(text: string): Buffer {
	return createHash("sha256").update(text, "utf8").digest();
}

/** Whether an address (as given to listen, or as bound) reaches this machine only. */
export function isLoopback(host: string): boolean {
	const bare = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
	return bare === "localhost" || bare === "::1" || /^(::ffff:)?127\.\d+\.\d+\.\d+$/.test(bare);
}
