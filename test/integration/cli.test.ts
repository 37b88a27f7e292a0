/* The `nightlight` command as a user runs it: a child process, its output, its exit code. */
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, test } from "@jest/globals";
import mqtt from "mqtt";
import { freePort, mosquittoAvailable, startAedes, startMosquitto } from "../support/brokers.js";
import { runCli, startCli, stopCli } from "../support/cli.js";
import { until } from "../support/wait.js";

const children: ChildProcessWithoutNullStreams[] = [];
const stateDir = mkdtempSync(join(tmpdir(), "nightlight-cli-"));
const badGroups = join(stateDir, "bad-groups.json");
writeFileSync(badGroups, `{"groups":[{"name":"pitch","sensors":["a"],"leds":[],"aggregate":"mode"}]}`);
const shortTokenFile = join(stateDir, "short-token");
writeFileSync(shortTokenFile, "sh0rt\n");
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

const run = runCli;
const start = (args: string[], env: Record<string, string> = {}) => startCli(args, children, env);
const stop = stopCli;

afterEach(async () => {
	while (children.length)
		await stop(children.pop()!);
});

describe("nightlight --help", () => {
	test.each(["up", "device", "server", "broker"])("%s --help lists its options and their variables", (command) => {
		const result = run([command, "--help"]);
		expect(result.status).toBe(0);
		expect(result.stdout).toContain(`usage: nightlight ${command}`);
		expect(result.stdout).toContain("NIGHTLIGHT_LOG_LEVEL");
	});
	test("no command prints the commands and exits 2", () => {
		const result = run([]);
		expect(result.status).toBe(2);
		expect(result.stdout).toContain("commands:");
	});
});

describe("bad configuration: a clear message and exit code 2", () => {
	test.each([
		[["up", "--threshold", "abc"], {}, `--threshold must be an integer from 0 to 1024, got "abc"`],
		[["server"], { NIGHTLIGHT_THRESHOLD: "-5" }, "NIGHTLIGHT_THRESHOLD must be an integer from 0 to 1024, got -5"],
		[["device", "--bogus"], {}, "unknown option '--bogus'"],
		[["device", "--broker", "http://127.0.0.1"], {}, "use mqtt://, mqtts://, ws:// or wss://"],
		[["device", "--broker", "not a url"], {}, "is not a URL"],
		[["device", "--id", "a/b"], {}, "--id must be"],
		[["device", "--password", "x"], {}, "--password needs --username"],
		[["device", "--report", "sometimes"], {}, "--report must be one of change, period"],
		[["device", "--pin", "md5/0123"], {}, `--pin: pin "md5/0123" is not a SHA-256 fingerprint`],
		[["server", "--broker", "mqtts://127.0.0.1:8883", "--ca", "/nonexistent/ca.crt"], {}, "cannot read the CA file /nonexistent/ca.crt"],
		[["fly"], {}, `unknown command "fly"`],
		[["server", "--groups", "/nonexistent/groups.json"], {}, "--groups: /nonexistent/groups.json: ENOENT"],
		[["server", "--groups", badGroups], {}, `groups[0].aggregate must be one of median, mean, min, max, got "mode"`],
		[["up", "--http-port", "99999"], {}, "--http-port must be an integer from 0 to 65535"],
		[["server", "--forget-after", "3 weeks"], {}, `--forget-after must be a duration such as 30d, 12h, 15m or 90s (or milliseconds), at least 1000 ms, got "3 weeks"`],
		[["up"], { NIGHTLIGHT_FORGET_AFTER: "500ms" }, "NIGHTLIGHT_FORGET_AFTER must be a duration"],
		[["server", "--max-streams", "0"], {}, "--max-streams must be an integer of at least 1, got 0"],
		[["server", "--api-token", "sh0rt"], {}, "--api-token is 5 characters long: give a token of at least 16"],
		[["up", "--api-token", ""], {}, "--api-token is empty: give a token of at least 16 characters"],
		[["server"], { NIGHTLIGHT_API_TOKEN: "" }, "NIGHTLIGHT_API_TOKEN is empty"],
		[["up"], { NIGHTLIGHT_API_TOKEN: "0123456789abcde" }, "NIGHTLIGHT_API_TOKEN is 15 characters long"],
		[["server", "--api-token", "0123456789 abcdef"], {}, "--api-token must be printable ASCII without spaces"],
		[["server", "--api-token-file", "/nonexistent/token"], {}, "--api-token-file: cannot read /nonexistent/token"],
		[["server", "--api-token-file", shortTokenFile], {}, `--api-token-file: the token in ${shortTokenFile} is 5 characters long`],
		[["server", "--api-token-file", shortTokenFile, "--api-token", "0123456789abcdef"], {}, "give --api-token or --api-token-file, not both"],
	])("%j %j", (args, env, message) => {
		const result = run(args as string[], env as Record<string, string>);
		expect(result.status).toBe(2);
		expect(result.stderr).toContain(message);
		expect(result.stderr).not.toMatch(/\n\s+at /);
	});
});

test("a token that will not do is never echoed", () => {
	const result = run(["server", "--api-token", "Sh0rtS3cret"]);
	expect(result.status).toBe(2);
	expect(result.stderr).toContain("--api-token is 11 characters long");
	expect(result.stderr).not.toContain("Sh0rtS3cret");
});

describe("the HTTP API's token", () => {
	const TOKEN = "cli-test-token-0123456789";

	async function startServer(listen: string, env: Record<string, string> = {}) {
		const httpPort = await freePort();
		// No broker: the dashboard and the API start all the same, and the server retries.
		const started = start(["server", "--broker", `mqtt://127.0.0.1:${await freePort()}`, "--http-listen", listen, "--http-port", String(httpPort), "--state-dir", mkdtempSync(join(stateDir, "auth-"))], env);
		await until(() => started.output.text.includes("dashboard and HTTP API at"), "the banner");
		return { ...started, base: `http://127.0.0.1:${httpPort}` };
	}

	test("0.0.0.0 without a token starts, with a warning that anyone on the network can make changes", async () => {
		const { output, child } = await startServer("0.0.0.0");
		await until(() => output.text.includes("accepts changes"), "the warning");
		expect(output.text).toMatch(/warn\s+http: the HTTP API on 0\.0\.0\.0:\d+ accepts changes \(overrides, simulated light\) from anyone on your network: set --api-token/);
		expect(output.text).not.toContain("changes need the API token");
		expect(child.exitCode).toBeNull();
	});

	test("127.0.0.1 without a token: no warning", async () => {
		const { output, base } = await startServer("127.0.0.1");
		expect((await (await fetch(`${base}/api/health`)).json() as { auth: boolean }).auth).toBe(false);
		expect(output.text).not.toContain("accepts changes");
	});

	test("with NIGHTLIGHT_API_TOKEN: the banner says changes need it, never shows it, and the API asks for it", async () => {
		const { output, base } = await startServer("0.0.0.0", { NIGHTLIGHT_API_TOKEN: TOKEN });
		expect(output.text).toContain("; changes need the API token");
		expect(output.text).toContain("api-token=***");
		const put = (headers: Record<string, string>) => fetch(`${base}/api/overrides/device/cli-auth`, { method: "PUT", headers, body: `{"mode":"on"}` });
		expect((await put({})).status).toBe(401);
		expect((await put({ authorization: `Bearer ${TOKEN}-wrong` })).status).toBe(403);
		expect((await put({ authorization: `Bearer ${TOKEN}` })).status).toBe(200);
		expect((await fetch(`${base}/api/overrides`)).status).toBe(200);
		expect(output.text).toContain("wrong API token");
		expect(output.text).not.toContain("accepts changes");
		expect(output.text).not.toContain(TOKEN);
	});

	test("--api-token-file: the token from the file, without its newline", async () => {
		const file = join(stateDir, "token");
		writeFileSync(file, `${TOKEN}\n`);
		const { output, base } = await startServer("127.0.0.1", { NIGHTLIGHT_API_TOKEN_FILE: file });
		expect(output.text).toContain("; changes need the API token");
		const response = await fetch(`${base}/api/overrides/device/cli-auth`, { method: "DELETE", headers: { authorization: `Bearer ${TOKEN}` } });
		// Past the token: there is no such override to remove.
		expect(response.status).toBe(404);
	});
});

describe("faults at run time", () => {
	test("an unreachable broker: a clear message, retries, no stack trace, secrets masked", async () => {
		const port = await freePort();
		const { child, output } = start(["device", "--broker", `mqtt://127.0.0.1:${port}`, "--id", "cli-unreachable", "--username", "maker", "--password", "s3cret"]);
		await until(() => output.text.includes("nothing is listening at"), "the explanation");
		expect(output.text).toContain("retrying");
		expect(output.text).toContain("password=***");
		expect(output.text).not.toContain("s3cret");
		expect(output.text).not.toMatch(/\n\s+at /);
		expect(child.exitCode).toBeNull();
	});

	test("a port already in use: says which and what to do, exits 2 like any bad setting", async () => {
		const blocker = createServer();
		await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
		const port = (blocker.address() as { port: number }).port;
		try {
			const result = run(["broker", "--mqtt-port", String(port), "--ws-port", "0"]);
			expect(result.status).toBe(2);
			expect(result.stderr).toContain(`port ${port} on 127.0.0.1 is already in use`);
			expect(result.stderr).toContain("--mqtt-port");
		}
		finally {
			blocker.close();
		}
	});
});

describe("--share checks that the broker has shared subscriptions", () => {
	const shareArgs = async (url: string) => ["server", "--broker", url, "--share", "night", "--http-port", String(await freePort()), "--state-dir", mkdtempSync(join(stateDir, "share-"))];

	test("against the embedded broker (no shared subscriptions): one line naming the cause and the fix, exit 2", async () => {
		const broker = await startAedes();
		try {
			const { child, output } = start(await shareArgs(broker.url));
			const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
			expect(code).toBe(2);
			const line = output.text.split("\n").find((text) => text.startsWith("nightlight server: "));
			expect(line).toMatch(/^nightlight server: --share night: the broker delivered nothing through the shared subscription \$share\/\S+ within 3 s: it has no MQTT shared subscriptions\. Use a broker with MQTT shared subscriptions, such as Mosquitto 2/);
			expect(output.text).not.toMatch(/\n\s+at /);
		}
		finally {
			await broker.stop();
		}
	}, 20_000);

	(mosquittoAvailable() ? test : test.skip)("against Mosquitto: the probe comes back and the server keeps running", async () => {
		const broker = await startMosquitto();
		try {
			const { child, output } = start(await shareArgs(broker.url));
			await until(() => output.text.includes("settled with"), "the server to settle", 10_000);
			await new Promise((resolve) => setTimeout(resolve, 4_000));
			expect(child.exitCode).toBeNull();
			expect(output.text).not.toContain("no MQTT shared subscriptions");
			expect(await stop(child)).toBe(0);
		}
		finally {
			await broker.stop();
		}
	}, 30_000);
});

describe("nightlight up", () => {
	test("telemetry within 10 s; typing 100 lights the LED, 700 darkens it", async () => {
		const mqttPort = await freePort();
		const wsPort = await freePort();
		const { child, output } = start(["up", "--mqtt-port", String(mqttPort), "--ws-port", String(wsPort), "--http-port", String(await freePort()), "--state-dir", stateDir, "--id", "cli-up"]);
		await until(() => output.text.includes("nightlight is up"), "the banner", 10_000);
		expect(output.text).toContain(`mqtt://127.0.0.1:${mqttPort}`);
		expect(output.text).toContain(`ws://127.0.0.1:${wsPort}`);
		expect(output.text).toContain("this machine only");
		const dashboard = /dashboard\s+(http:\/\/127\.0\.0\.1:\d+\/)/.exec(output.text)?.[1];
		expect(dashboard).toBeDefined();

		const subscriber = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { reconnectPeriod: 0 });
		const seen: Array<[string, string]> = [];
		subscriber.on("message", (topic, payload) => seen.push([topic, payload.toString()]));
		await subscriber.subscribeAsync("#");
		try {
			await until(() => seen.some(([topic, text]) => topic === "cli-up/telemetry" && /^\{"light":\d+(,"ts":\d+)?,"seq":\d+\}$/.test(text)), "telemetry", 10_000);
			child.stdin.write("100\n");
			await until(() => seen.some(([topic, text]) => topic === "cli-up/commands" && JSON.parse(text).led_on === true), "led_on true");
			await until(() => output.text.includes("LED on"), "LED on printed");
			child.stdin.write("bright\n");
			await until(() => output.text.includes(`expected a light level 0..1023, got "bright", or a command: type help`), "a clear word on bad input");
			child.stdin.write("700\n");
			await until(() => seen.some(([topic, text]) => topic === "cli-up/commands" && JSON.parse(text).led_on === false), "led_on false");
			await until(() => output.text.lastIndexOf("LED off") > output.text.indexOf("LED on"), "LED off printed");
			const devices = await (await fetch(new URL("/api/devices", dashboard))).json() as { devices: Array<{ id: string; simulated: boolean }> };
			expect(devices.devices).toContainEqual(expect.objectContaining({ id: "cli-up", simulated: true }));
		}
		finally {
			await subscriber.endAsync();
		}
		expect(await stop(child)).toBe(0);
	});
});
