import { afterEach, beforeEach, describe, expect, test } from "@jest/globals";
import { request } from "node:http";
import type { Log } from "../src/ports.js";
import { parseGroups } from "../server/groups.js";
import { type HttpApi, startHttpApi } from "../server/http.js";
import type { Override } from "../server/overrides.js";
import { Server } from "../server/server.js";
import { FakeClock } from "./support/fake-clock.js";
import { FakeMqtt } from "./support/fake-mqtt.js";
import { SseClient } from "./support/sse.js";
import { sleep, until } from "./support/wait.js";

const RULE = { threshold: 300, hysteresis: 20 };
const log: Log = () => undefined;

let mqtt: FakeMqtt;
let server: Server;
let api: HttpApi;
let saved: Override[][];
let levels: number[];
let clock: FakeClock;

beforeEach(async () => {
	mqtt = new FakeMqtt();
	// The API reports ages against the wall clock, as the Node server does.
	clock = new FakeClock(Date.now());
	server = new Server({ mqtt, clock, log, rule: RULE, groups: parseGroups([{ name: "pitch", sensors: ["s1", "s2", "s3"], leds: ["l1"] }], RULE), onEvent: (event) => {
		if (event.type === "overrides")
			saved.push(event.overrides);
		api?.send(event);
	} });
	server.start();
	mqtt.connect();
	saved = [];
	levels = [];
	api = await startHttpApi({ server, log, port: 0, simulated: new Map([["sim", { set: (level: number) => levels.push(level) }]]) });
});

afterEach(async () => {
	await api.close();
	server.stop();
});

async function call(method: string, path: string, body?: string): Promise<{ status: number; json: Record<string, unknown> }> {
	const response = await fetch(new URL(path, api.url), { method, ...(body === undefined ? {} : { body, headers: { "content-type": "application/json" } }) });
	return { status: response.status, json: await response.json() as Record<string, unknown> };
}

describe("the HTTP API", () => {
	test("a change sent by a page of another site is refused; the dashboard's own page and scripts are not", async () => {
		const post = (origin: string | undefined) => new Promise<number>((resolve, reject) => {
			const url = new URL("/api/devices/sim/light", api.url);
			const outgoing = request(url, { method: "POST", headers: { "content-type": "text/plain", ...(origin === undefined ? {} : { origin }) } }, (response) => {
				response.resume();
				resolve(response.statusCode!);
			});
			outgoing.on("error", reject);
			outgoing.end(`{"light":100}`);
		});
		expect(await post("http://attacker.example")).toBe(403);
		expect(await post("null")).toBe(403);
		expect(levels).toEqual([]);
		expect(await post(new URL(api.url).origin)).toBe(200);
		expect(await post(undefined)).toBe(200);
		expect(levels).toEqual([100, 100]);
	});

	test("health", async () => {
		const { status, json } = await call("GET", "/api/health");
		expect(status).toBe(200);
		expect(json).toMatchObject({ ok: true, devices: 0, groups: 1 });
	});

	test("devices: availability, last light and its age, LED state, mode, last seen", async () => {
		mqtt.deliver("lone/status", "online");
		mqtt.deliver("lone/telemetry", `{"light":100}`);
		mqtt.deliver("lone/state", `{"led_on":true,"mode":"remote","rejected":0}`);
		const { status, json } = await call("GET", "/api/devices");
		expect(status).toBe(200);
		const [device] = json.devices as Array<Record<string, unknown>>;
		expect(device).toMatchObject({ id: "lone", availability: "online", light: 100, ledOn: true, commanded: true, drifting: false, corrections: 0, deviceMode: "remote", mode: "auto", threshold: 300, group: null, simulated: false });
		expect(device?.lightAgeMs).toEqual(expect.any(Number));
		expect(device?.lastSeen).toEqual(expect.any(Number));
	});

	test("devices: a device whose LED drifted from the decision shows as drifting, with its corrections", async () => {
		mqtt.deliver("lone/status", "online");
		mqtt.deliver("lone/telemetry", `{"light":100}`);
		mqtt.deliver("lone/state", `{"led_on":false,"mode":"remote","rejected":0}`);
		clock.advance(1_000);
		const { json } = await call("GET", "/api/devices");
		expect((json.devices as unknown[])[0]).toMatchObject({ id: "lone", ledOn: false, commanded: true, drifting: true, corrections: 1 });
	});

	test("groups", async () => {
		for (const id of ["s1", "s2", "s3"])
			mqtt.deliver(`${id}/telemetry`, `{"light":100}`);
		const { json } = await call("GET", "/api/groups");
		expect(json.groups).toEqual([expect.objectContaining({ name: "pitch", sensors: ["s1", "s2", "s3"], leds: ["l1"], aggregate: "median", light: 100, fresh: 3, ledOn: true })]);
	});

	test("overrides: put, list, delete; applied at once and told to whoever saves them", async () => {
		mqtt.deliver("lone/telemetry", `{"light":900}`);
		let response = await call("PUT", "/api/overrides/device/lone", `{"mode":"on"}`);
		expect(response.status).toBe(200);
		expect(JSON.parse(mqtt.last("lone/commands")!.message).led_on).toBe(true);
		response = await call("PUT", "/api/overrides/group/pitch", `{"mode":"auto","threshold":500}`);
		expect(response.status).toBe(200);
		expect((await call("GET", "/api/overrides")).json.overrides).toMatchObject([{ kind: "device", id: "lone", mode: "on" }, { kind: "group", id: "pitch", mode: "auto", threshold: 500 }]);
		response = await call("DELETE", "/api/overrides/device/lone");
		expect(response.status).toBe(200);
		expect(JSON.parse(mqtt.last("lone/commands")!.message).led_on).toBe(false);
		expect(saved).toHaveLength(3);
		expect(saved[2]).toMatchObject([{ kind: "group", id: "pitch", mode: "auto", threshold: 500 }]);
	});

	test("the slider's endpoint sets a simulated device's light; others are 404", async () => {
		expect((await call("POST", "/api/devices/sim/light", `{"light":120}`)).status).toBe(200);
		expect(levels).toEqual([120]);
		expect((await call("POST", "/api/devices/other/light", `{"light":120}`)).status).toBe(404);
		expect((await call("POST", "/api/devices/sim/light", `{"light":2000}`)).json.error).toMatch(/"light" must be an integer/);
	});

	test.each([
		["GET", "/api/nope", undefined, 404, /no such API/],
		["POST", "/api/devices", undefined, 405, /POST is not allowed/],
		["PUT", "/api/overrides/device/a", "{", 400, /bad JSON/],
		["PUT", "/api/overrides/device/a", "", 400, /expected a JSON body/],
		["PUT", "/api/overrides/device/a", `{"mode":"dim"}`, 400, /"mode"/],
		["PUT", "/api/overrides/room/a", `{"mode":"on"}`, 400, /kind/],
		["PUT", "/api/overrides/group/nope", `{"mode":"on"}`, 404, /no group named/],
		["DELETE", "/api/overrides/device/none", undefined, 404, /no override/],
		["PUT", "/api/overrides/device/a", JSON.stringify({ mode: "on", pad: "x".repeat(5000) }), 413, /too large/],
		["GET", "/nothing.html", undefined, 404, /not found/],
		["POST", "/api/devices/%E0%A4%A/light", `{"light":1}`, 400, /bad escape/],
		["GET", "/../../etc/passwd", undefined, 404, /not found/],
	])("%s %s (case %#) → %i with a message", async (method, path, body, status, message) => {
		const response = await call(method, path, body);
		expect(response.status).toBe(status);
		expect(response.json.error).toMatch(message);
		expect((await call("GET", "/api/health")).status).toBe(200);
	});

	test("a body that grows past the cap without a length is refused too", async () => {
		const status = await new Promise<number>((resolve, reject) => {
			const req = request(new URL("/api/overrides/device/a", api.url), { method: "PUT", headers: { "transfer-encoding": "chunked" } }, (res) => {
				res.resume();
				resolve(res.statusCode ?? 0);
			});
			req.on("error", reject);
			for (let i = 0; i < 10; i++)
				req.write("x".repeat(1000));
			req.end();
		});
		expect(status).toBe(413);
	});

	test("devices: a device's view takes its own override, its group and its group's threshold", async () => {
		mqtt.deliver("lone/telemetry", `{"light":900}`);
		mqtt.deliver("s2/telemetry", `{"light":900}`);
		mqtt.deliver("l1/telemetry", `{"light":900}`);
		await call("PUT", "/api/overrides/device/lone", `{"mode":"on","threshold":400}`);
		await call("PUT", "/api/overrides/group/pitch", `{"mode":"auto","threshold":500}`);
		const { json } = await call("GET", "/api/devices");
		expect(json.devices).toEqual([
			expect.objectContaining({ id: "l1", group: "pitch", mode: "auto", threshold: 500 }),
			expect.objectContaining({ id: "lone", group: null, mode: "on", threshold: 400, commanded: true }),
			expect.objectContaining({ id: "s2", group: "pitch", mode: "auto", threshold: 300 }),
		]);
	});

	test("devices come in pages: the cursor walks every device once, in id order, while devices come and go", async () => {
		const ids = Array.from({ length: 1_234 }, (_, n) => `d${String(n).padStart(4, "0")}`);
		for (const id of [...ids].reverse())
			mqtt.deliver(`${id}/status`, "online");
		const seen: string[] = [];
		let after: string | null = null;
		for (let pages = 0; ; pages++) {
			const { status, json } = await call("GET", `/api/devices?limit=100${after === null ? "" : `&after=${after}`}`);
			expect(status).toBe(200);
			seen.push(...(json.devices as Array<{ id: string }>).map((device) => device.id));
			after = json.next as string | null;
			if (after === null)
				break;
			// A device that sorts before the cursor appears between two pages: the walk goes on unharmed.
			mqtt.deliver(`a${pages}/status`, "online");
		}
		expect(seen).toEqual(ids);
		const first = await call("GET", "/api/devices");
		expect((first.json.devices as unknown[]).length).toBe(500);
		expect(first.json.next).toBe("d0487");
		expect((await call("GET", "/api/devices?after=d1233")).json).toEqual({ devices: [], next: null });
	});

	test.each([
		["limit=0", /"limit" must be an integer 1\.\.5000/],
		["limit=5001", /"limit" must be an integer 1\.\.5000/],
		["limit=ten", /"limit"/],
		["after=a%2Fb", /"after" must be a device id/],
	])("devices?%s → 400 saying what to send", async (query, message) => {
		const response = await call("GET", `/api/devices?${query}`);
		expect(response.status).toBe(400);
		expect(response.json.error).toMatch(message);
	});

	test("server-sent events carry telemetry, commands and overrides", async () => {
		const controller = new AbortController();
		const response = await fetch(new URL("/api/events", api.url), { signal: controller.signal });
		expect(response.headers.get("content-type")).toBe("text/event-stream");
		const reader = response.body!.getReader();
		let text = "";
		const reading = (async () => {
			for (;;) {
				const { value, done } = await reader.read();
				if (done)
					return;
				text += Buffer.from(value).toString("utf8");
			}
		})().catch(() => undefined);
		await until(() => text.includes("retry:"), "the stream to open");
		mqtt.deliver("lone/telemetry", `{"light":100}`);
		await until(() => text.includes("event: command"), "a command event");
		expect(text).toContain(`event: telemetry\ndata: {"type":"telemetry","id":"lone","light":100`);
		controller.abort();
		await reading;
	});
});

describe("live events under load", () => {
	let limited: HttpApi;
	const clients: SseClient[] = [];
	const open = async () => {
		const client = new SseClient(new URL("/api/events", limited.url).href);
		clients.push(client);
		await until(() => client.status !== 0, "the answer's status");
		return client;
	};
	const telemetry = (n: number) => ({ type: "telemetry" as const, id: `device-${String(n).padStart(58, "0")}`, light: n % 1024, replayed: false });

	beforeEach(async () => {
		limited = await startHttpApi({ server, log, port: 0, maxStreams: 2, maxBufferedBytes: 64 * 1024, maxBatchBytes: 1 << 20 });
	});

	afterEach(async () => {
		for (const client of clients.splice(0))
			client.close();
		await limited.close();
	});

	test("past --max-streams, a stream is refused with 503 and one line saying what to do; a closed one frees its place", async () => {
		const [first] = [await open(), await open()];
		const refused = await open();
		await until(() => refused.closed || refused.body.endsWith("}"), "the refusal's body");
		expect(refused.status).toBe(503);
		expect(JSON.parse(refused.body).error).toMatch(/^too many live event streams: this server allows 2 at once; close dashboards you do not use, or start the server with a higher --max-streams$/);
		expect((await fetch(new URL("/api/health", limited.url)).then((response) => response.json()) as { streams: unknown }).streams).toEqual({ open: 2, max: 2, refused: 1, dropped: 0 });
		first!.close();
		await until(() => limited.streamStats().open === 1 || undefined, "the closed stream to be let go");
		expect((await open()).status).toBe(200);
	});

	test("events sent in one tick go out as one chunk per stream, complete and in order", async () => {
		const [a, b] = [await open(), await open()];
		await until(() => a.chunks >= 1 && b.chunks >= 1, "the streams' first chunk");
		const before = [a.chunks, b.chunks];
		for (let n = 0; n < 1_000; n++)
			limited.send(telemetry(n));
		await until(() => a.events.length === 1_000 && b.events.length === 1_000, "1,000 events on both streams");
		for (const client of [a, b])
			expect(client.events.map((event) => event.data.light)).toEqual(Array.from({ length: 1_000 }, (_, n) => n % 1024));
		expect([a.chunks - before[0]!, b.chunks - before[1]!]).toEqual([1, 1]);
	});

	test("a burst past the batch limit is not streamed: one overflow event counts what was skipped, then events flow again", async () => {
		await limited.close();
		limited = await startHttpApi({ server, log, port: 0, maxBatchBytes: 16 * 1024 });
		const client = await open();
		for (let n = 0; n < 1_000; n++)
			limited.send(telemetry(n));
		await until(() => client.events.some((event) => event.type === "overflow"), "the overflow event");
		const streamed = client.events.filter((event) => event.type === "telemetry").length;
		expect(streamed).toBeGreaterThan(50);
		expect(streamed).toBeLessThan(200);
		expect(client.events.at(-1)!.data).toMatchObject({ type: "overflow", skipped: 1_000 - streamed });
		limited.send(telemetry(5));
		await until(() => client.events.at(-1)?.data.light === 5, "the next event");
	});

	test("a reader that stops reading is dropped; the other stream keeps receiving everything", async () => {
		const [slow, fast] = [await open(), await open()];
		slow.pause();
		let sent = 0;
		for (let round = 0; round < 100 && limited.streamStats().dropped === 0; round++) {
			for (let n = 0; n < 2_000; n++)
				limited.send(telemetry(sent++));
			await sleep(150);
		}
		expect(limited.streamStats()).toMatchObject({ open: 1, dropped: 1 });
		limited.send({ type: "availability", id: "last", availability: "online" });
		await until(() => fast.events.at(-1)?.data.id === "last", "the last event on the fast stream", 20_000);
		expect(fast.events.filter((event) => event.type === "telemetry")).toHaveLength(sent);
		// The dropped stream's place is free again.
		expect((await open()).status).toBe(200);
	});
});

describe("the HTTP API with a token", () => {
	const TOKEN = "correct-horse-battery-staple";
	let locked: HttpApi;
	let lines: string[];

	beforeEach(async () => {
		lines = [];
		locked = await startHttpApi({ server, log: (level, tag, message) => lines.push(`${level} ${tag}: ${message}`), port: 0, apiToken: TOKEN, simulated: new Map([["sim", { set: (level: number) => levels.push(level) }]]) });
	});

	afterEach(() => locked.close());

	async function send(method: string, path: string, authorization?: string, body?: string): Promise<{ status: number; json: Record<string, unknown>; challenge: string | null }> {
		const headers: Record<string, string> = { "content-type": "application/json" };
		if (authorization !== undefined)
			headers.authorization = authorization;
		const response = await fetch(new URL(path, locked.url), { method, headers, ...(body === undefined ? {} : { body }) });
		return { status: response.status, json: await response.json() as Record<string, unknown>, challenge: response.headers.get("www-authenticate") };
	}

	test.each([
		["PUT", "/api/overrides/device/lone", `{"mode":"on"}`],
		["DELETE", "/api/overrides/device/lone", undefined],
		["POST", "/api/devices/sim/light", `{"light":120}`],
	])("%s %s without a token → 401 saying how to give it, and nothing changes", async (method, path, body) => {
		const response = await send(method, path, undefined, body);
		expect(response.status).toBe(401);
		expect(response.json.error).toMatch(/needs its API token.*"Authorization: Bearer <token>".*--api-token/);
		expect(response.challenge).toMatch(/^Bearer /);
		expect(server.overrides()).toEqual([]);
		expect(levels).toEqual([]);
		expect(saved).toEqual([]);
	});

	test.each([
		["a wrong token", `Bearer ${TOKEN}x`],
		["a prefix of the token", `Bearer ${TOKEN.slice(0, -1)}`],
		["the token in another case", `Bearer ${TOKEN.toUpperCase()}`],
	])("%s → 403, logged without the token, and nothing changes", async (_name, authorization) => {
		const response = await send("PUT", "/api/overrides/device/lone", authorization, `{"mode":"on"}`);
		expect(response.status).toBe(403);
		expect(response.json.error).toMatch(/wrong API token/);
		expect(server.overrides()).toEqual([]);
		expect(lines.some((line) => line.startsWith("warn http: refused PUT /api/overrides/device/lone") && line.includes("wrong API token"))).toBe(true);
		expect(lines.join("\n")).not.toContain(TOKEN.slice(0, 8));
	});

	test.each([
		["another scheme", `Basic ${Buffer.from(`user:${TOKEN}`).toString("base64")}`],
		["the bare token", TOKEN],
		["an empty bearer", "Bearer "],
	])("%s counts as no token: 401", async (_name, authorization) => {
		expect((await send("PUT", "/api/overrides/device/lone", authorization, `{"mode":"on"}`)).status).toBe(401);
	});

	test("the right token: overrides and the slider work as without one", async () => {
		mqtt.deliver("lone/telemetry", `{"light":900}`);
		expect((await send("PUT", "/api/overrides/device/lone", `Bearer ${TOKEN}`, `{"mode":"on"}`)).status).toBe(200);
		expect(JSON.parse(mqtt.last("lone/commands")!.message).led_on).toBe(true);
		expect((await send("DELETE", "/api/overrides/device/lone", `bearer  ${TOKEN}`)).status).toBe(200);
		expect(JSON.parse(mqtt.last("lone/commands")!.message).led_on).toBe(false);
		expect((await send("POST", "/api/devices/sim/light", `Bearer ${TOKEN}`, `{"light":120}`)).status).toBe(200);
		expect(levels).toEqual([120]);
		expect(saved).toHaveLength(2);
		// Past the token, a bad request is still told what is wrong with it.
		expect((await send("PUT", "/api/overrides/device/lone", `Bearer ${TOKEN}`, `{"mode":"dim"}`)).status).toBe(400);
	});

	test("reading stays open: health says changes need the token, the rest answers as without one", async () => {
		const health = await send("GET", "/api/health");
		expect(health.status).toBe(200);
		expect(health.json).toMatchObject({ ok: true, auth: true });
		for (const path of ["/api/devices", "/api/groups", "/api/overrides"])
			expect((await send("GET", path)).status).toBe(200);
		const events = await fetch(new URL("/api/events", locked.url));
		expect(events.headers.get("content-type")).toBe("text/event-stream");
		await events.body?.cancel();
		expect(locked.auth).toBe(true);
	});

	test("without a token health says so and changes need none", async () => {
		expect((await call("GET", "/api/health")).json).toMatchObject({ auth: false });
		expect(api.auth).toBe(false);
		expect((await call("PUT", "/api/overrides/device/lone", `{"mode":"on"}`)).status).toBe(200);
	});

	test.each([
		["", /is empty/],
		["short-token", /is 11 characters long: give a token of at least 16/],
		["sixteen chars ok", /printable ASCII without spaces/],
	])("a token that will not do (%j) is refused at start", async (token, message) => {
		await expect(startHttpApi({ server, log, port: 0, apiToken: token })).rejects.toThrow(message);
	});
});
