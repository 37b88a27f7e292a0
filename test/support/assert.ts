/* A tiny assertion kit for scenarios that run both under jest and on the XS engine. */

export class AssertionError extends Error {
	override name = "AssertionError";
}

export function equal<T>(actual: T, expected: T, what: string): void {
	if (!Object.is(actual, expected))
		throw new AssertionError(`${what}: expected ${show(expected)}, got ${show(actual)}`);
}

export function deepEqual(actual: unknown, expected: unknown, what: string): void {
	const a = JSON.stringify(actual);
	const b = JSON.stringify(expected);
	if (a !== b)
		throw new AssertionError(`${what}: expected ${b}, got ${a}`);
}

export function ok(condition: unknown, what: string): void {
	if (!condition)
		throw new AssertionError(what);
}

export function throws(run: () => unknown, pattern: RegExp, what: string): void {
	try {
		run();
	}
	catch (error) {
		const message = error instanceof Error ? error.message : String(error);
		if (!pattern.test(message))
			throw new AssertionError(`${what}: threw ${JSON.stringify(message)}, expected ${pattern}`);
		return;
	}
	throw new AssertionError(`${what}: did not throw`);
}

function show(value: unknown): string {
	return typeof value === "string" ? JSON.stringify(value) : String(value);
}
