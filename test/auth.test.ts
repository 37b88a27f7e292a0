import { describe, expect, test } from "@jest/globals";
import { API_TOKEN_MIN_LENGTH, BearerCheck, apiTokenProblem, isLoopback } from "../server/auth.js";

const TOKEN = "0123456789abcdef";

describe("API tokens", () => {
	test("at least 16 printable ASCII characters without spaces", () => {
		expect(API_TOKEN_MIN_LENGTH).toBe(16);
		expect(apiTokenProblem(TOKEN)).toBeUndefined();
		expect(apiTokenProblem("")).toMatch(/is empty/);
		expect(apiTokenProblem(TOKEN.slice(1))).toMatch(/is 15 characters long/);
		expect(apiTokenProblem(`${TOKEN} x`)).toMatch(/without spaces/);
		expect(apiTokenProblem(`${TOKEN}é`)).toMatch(/printable ASCII/);
	});

	test("a problem never quotes the token", () => {
		for (const token of ["secret", "secret with space!", "sécrétsécrétsécrét"])
			expect(apiTokenProblem(token)).not.toContain("secret");
	});

	test("a Bearer header is ok, missing or wrong", () => {
		const check = new BearerCheck(TOKEN);
		expect(check.verdict(`Bearer ${TOKEN}`)).toBe("ok");
		expect(check.verdict(`bearer ${TOKEN}`)).toBe("ok");
		expect(check.verdict(undefined)).toBe("missing");
		expect(check.verdict("")).toBe("missing");
		expect(check.verdict(TOKEN)).toBe("missing");
		expect(check.verdict(`Basic ${TOKEN}`)).toBe("missing");
		expect(check.verdict(`Bearer ${TOKEN} ${TOKEN}`)).toBe("missing");
		expect(check.verdict(`Bearer ${TOKEN}0`)).toBe("wrong");
		expect(check.verdict(`Bearer ${TOKEN.slice(1)}`)).toBe("wrong");
		expect(check.verdict("Bearer x")).toBe("wrong");
	});

	test("a token that will not do is refused at construction", () => {
		expect(() => new BearerCheck("short")).toThrow(RangeError);
		expect(() => new BearerCheck("short")).toThrow(/the API token is 5 characters long/);
	});

	test.each([
		["127.0.0.1", true], ["127.1.2.3", true], ["::1", true], ["[::1]", true], ["localhost", true], ["::ffff:127.0.0.1", true],
		["0.0.0.0", false], ["::", false], ["192.168.1.10", false], ["nightlight.local", false], ["128.0.0.1", false],
	])("%s is loopback: %s", (host, loopback) => {
		expect(isLoopback(host)).toBe(loopback);
	});
});
