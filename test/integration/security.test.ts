/*
 * Security against real Mosquitto on 127.0.0.1, run with the reference deployment itself
 * (deploy/mosquitto: its mosquitto.conf, its ACL, and lab-setup.sh making the CA, the broker's
 * certificate and the passwords at test time): TLS with credentials end to end, refusals of a
 * wrong CA, an expired certificate, a wrong server name and a wrong pin, a wrong password retried
 * with backoff, the ACL's denials as the clients see them, and the packet size limit.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "@jest/globals";
import mqtt from "mqtt";
import { COMMAND_MAX_BYTES, MAX_PACKET_BYTES, SERVER_STATUS_TOPIC, publishPacketBytes, topics } from "../../src/contract.js";
import { configTopics } from "../../src/config.js";
import type { Led, Log } from "../../src/ports.js";
import { type NodeDevice, startNodeDevice } from "../../hosts/node/device.js";
import { type NodeMqttClient, connectMqtt } from "../../runtime/node/mqtt.js";
import { parseGroups } from "../../server/groups.js";
import { type NodeServer, startNodeServer } from "../../server/node.js";
import { freePort, mosquittoAvailable, startMosquitto } from "../support/brokers.js";
import { sleep, until } from "../support/wait.js";

const DEPLOY = join(process.cwd(), "deploy", "mosquitto");
const ROOM_A = "room-a";
const ROOM_B = "room-b";
/** The longest device id there is: 64 characters. */
const LONGEST = "l".repeat(64);

class RecordingLed implements Led {
	on = false;
	write(on: boolean): void {
		this.on = on;
	}
}

function recorder(): { log: Log; lines: string[] } {
	const lines: string[] = [];
	return { lines, log: (level, tag, message) => lines.push(`${level} ${tag}: ${message}`) };
}

function figure(line: string): void {
	console.log(`figure: ${line}`);
}

/** Whether openssl is here; in CI its absence is an error, as Mosquitto's is. */
function opensslAvailable(): boolean {
	if (spawnSync("openssl", ["version"]).status === 0)
		return true;
	if (process.env.CI)
		throw new Error("openssl is not installed, and CI must test TLS: apt-get install openssl");
	console.log("skipped: openssl not installed (apt-get install openssl)");
	return false;
}

/** Runs the reference lab script into `dir`. */
function labSetup(dir: string, args: string[]): void {
	execFileSync("bash", [join(DEPLOY, "lab-setup.sh"), ...args], { env: { ...process.env, LAB_DIR: dir }, stdio: "pipe" });
}

function credentials(dir: string): Map<string, string> {
	const map = new Map<string, string>();
	for (const line of readFileSync(join(dir, "credentials.txt"), "utf8").split("\n")) {
		const [user, password] = line.split(" ");
		if (user && password)
			map.set(user, password);
	}
	return map;
}

/**
 * The reference mosquitto.conf on free ports of 127.0.0.1, reading the lab in `lab`: its TLS and
 * WebSocket-TLS listeners move to the given ports, its local plain listener is left out (the test
 * helper opens its own), paths point at the lab and at the repository's ACL.
 */
function referenceConfig(lab: string, tlsPort: number, wssPort: number, certificate = "server"): string[] {
	const text = readFileSync(join(DEPLOY, "mosquitto.conf"), "utf8")
		.replace(/^listener 1883 127\.0\.0\.1\nprotocol mqtt\n/m, "");
	return text.split("\n")
		.filter((line) => line.trim() && !line.startsWith("#") && !line.startsWith("per_listener_settings"))
		.map((line) => line
			.replace(/^listener 8883$/, `listener ${tlsPort} 127.0.0.1`)
			.replace(/^listener 8884$/, `listener ${wssPort} 127.0.0.1`)
			.replace(/^acl_file acl$/, `acl_file ${join(DEPLOY, "acl")}`)
			.replace(/lab\/server\./, `lab/${certificate}.`)
			.replace(/\blab\//g, `${lab}/`));
}

/** A certificate for localhost, signed by the lab CA, that expired in 2020. */
function expiredCertificate(lab: string): void {
	const dir = join(lab, "expired-ca");
	execFileSync("mkdir", ["-p", dir]);
	writeFileSync(join(dir, "index.txt"), "");
	writeFileSync(join(dir, "serial"), "01\n");
	writeFileSync(join(dir, "ca.cnf"), [
		"[ca]", "default_ca = lab",
		"[lab]", `database = ${dir}/index.txt`, `new_certs_dir = ${dir}`, `serial = ${dir}/serial`,
		"default_md = sha256", "policy = any", "x509_extensions = ext",
		"[any]", "commonName = supplied",
		"[ext]", "basicConstraints = CA:FALSE", "subjectAltName = DNS:localhost", "",
	].join("\n"));
	execFileSync("openssl", ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", join(lab, "expired.key"), "-out", join(dir, "expired.csr"), "-subj", "/CN=localhost"], { stdio: "pipe" });
	execFileSync("openssl", ["ca", "-batch", "-notext", "-config", join(dir, "ca.cnf"), "-cert", join(lab, "ca.crt"), "-keyfile", join(lab, "ca.key"),
		"-in", join(dir, "expired.csr"), "-out", join(lab, "expired.crt"), "-startdate", "20200101000000Z", "-enddate", "20200201000000Z"], { stdio: "pipe" });
}

/** `sha256/<base64>` of a PEM certificate's DER bytes. */
function pinOf(pemFile: string): string {
	const der = Buffer.from(readFileSync(pemFile, "utf8").replace(/-----[^-]+-----|\s/g, ""), "base64");
	return `sha256/${createHash("sha256").update(der).digest("base64")}`;
}

/** The MQTT 5 reason code of an acknowledgement: 0 for success, 0x87 (135) for not authorized. */
function reasonOf(packet: unknown): number {
	return (packet as { reasonCode?: number } | undefined)?.reasonCode ?? 0;
}

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
	while (cleanups.length)
		await cleanups.pop()!();
});

const run = mosquittoAvailable() && opensslAvailable() ? describe : describe.skip;

run("security, against the reference Mosquitto", () => {
	let lab: string;
	let other: string;
	let passwords: Map<string, string>;
	let broker: Awaited<ReturnType<typeof startMosquitto>>;
	let tlsUrl: string;
	let wssUrl: string;
	let tlsPort: number;
	let ca: string;

	beforeAll(async () => {
		lab = mkdtempSync(join(tmpdir(), "nightlight-lab-"));
		other = mkdtempSync(join(tmpdir(), "nightlight-other-lab-"));
		labSetup(lab, ["--host", "localhost", ROOM_A, ROOM_B, LONGEST]);
		labSetup(other, ["--host", "localhost"]);
		passwords = credentials(lab);
		ca = join(lab, "ca.crt");
		tlsPort = await freePort();
		const wssPort = await freePort();
		broker = await startMosquitto({ config: referenceConfig(lab, tlsPort, wssPort) });
		tlsUrl = `mqtts://localhost:${tlsPort}`;
		wssUrl = `wss://localhost:${wssPort}`;
	}, 60_000);

	afterAll(async () => {
		await broker?.stop();
		for (const dir of [lab, other])
			if (dir)
				rmSync(dir, { recursive: true, force: true });
	});

	const login = (user: string) => ({ username: user, password: passwords.get(user)! });

	function device(id: string, options: Partial<Parameters<typeof startNodeDevice>[0]> = {}): NodeDevice & { led: RecordingLed; lines: string[] } {
		const led = new RecordingLed();
		const log = recorder();
		const node = startNodeDevice({ id, url: tlsUrl, caFile: ca, ...login(id), light: 600, led, log: log.log, ...options });
		cleanups.push(() => node.stop());
		return { ...node, led, lines: log.lines };
	}

	function server(options: Partial<Parameters<typeof startNodeServer>[0]> = {}): NodeServer {
		const node = startNodeServer({ url: tlsUrl, caFile: ca, ...login("nightlight-server"), rule: { threshold: 300, hysteresis: 20 }, log: recorder().log, ...options });
		cleanups.push(() => node.stop());
		return node;
	}

	/** An MQTT 5 client over TLS, to see the broker's reason codes. */
	async function client(user: string, url = tlsUrl): Promise<mqtt.MqttClient> {
		const connected = await mqtt.connectAsync(url, { ...login(user), ca: readFileSync(ca), protocolVersion: 5, reconnectPeriod: 0, clientId: `test-${user.slice(0, 20)}-${Math.random().toString(16).slice(2, 8)}` });
		cleanups.push(() => connected.endAsync(true));
		return connected;
	}

	test("device and server connect over TLS with their credentials, and the nightlight works end to end", async () => {
		const srv = server();
		const node = device(ROOM_A);
		await until(() => node.device.stats.commandsApplied > 0, "the server's first command over TLS", 15_000);
		expect(node.led.on).toBe(false);
		node.sensor.set(100);
		await until(() => node.led.on, "dark: the server turns the LED on");
		node.sensor.set(900);
		await until(() => !node.led.on, "bright: the server turns the LED off");
		expect(srv.server.stats.connects).toBe(1);
		expect(node.lines.join("\n")).toContain(`connected to mqtts://localhost:${tlsPort}`);
		expect(node.lines.join("\n")).not.toContain(passwords.get(ROOM_A)!);
	}, 30_000);

	test("the reference ACL lets servers of a share group find each other, follow commands and share overrides", async () => {
		const groups = parseGroups([{ name: "hall", sensors: [ROOM_A], leds: [ROOM_A] }], { threshold: 300, hysteresis: 20 });
		const [one, two] = [server({ share: "night", groups }), server({ share: "night", groups })];
		await until(() => one.server.servers().length === 2 && two.server.servers().length === 2 || undefined, "both servers heard each other", 15_000);
		const node = device(ROOM_A, { light: 100 });
		await until(() => node.led.on, "the hall's owner lit the LED");
		await until(() => [one, two].every((srv) => srv.server.device(ROOM_A)?.ledOn === true) || undefined, "both servers follow the command");
		one.server.setOverride({ kind: "group", id: "hall", mode: "off" });
		await until(() => two.server.overrides()[0]?.mode === "off" || undefined, "the override reached the other server");
		await until(() => !node.led.on, "the override is in force");
	}, 30_000);

	test("the CLI: mqtts:// with the CA from --ca and the password from NIGHTLIGHT_PASSWORD, never shown", async () => {
		const secret = passwords.get("nightlight-server")!;
		const child = spawn(process.execPath, ["dist/nightlight.js", "server", "--http-port", "0", "--broker", tlsUrl, "--ca", ca, "--username", "nightlight-server", "--pin", pinOf(ca)],
			{ env: { ...process.env, NIGHTLIGHT_PASSWORD: secret }, stdio: ["ignore", "pipe", "pipe"] });
		cleanups.push(() => { if (child.exitCode === null) child.kill("SIGKILL"); });
		let output = "";
		child.stdout.on("data", (chunk) => (output += chunk));
		child.stderr.on("data", (chunk) => (output += chunk));
		await until(() => output.includes(`connected to ${tlsUrl}`), "the CLI server connected over TLS", 10_000);
		expect(output).toContain("password=***");
		expect(output).not.toContain(secret);
	}, 20_000);

	test("a certificate pin: the right one connects (over mqtts:// and wss://), a wrong one is refused", async () => {
		const right = device(ROOM_A, { pin: pinOf(join(lab, "server.crt")) });
		await until(() => right.client.connected, "connected with the server certificate's pin");
		await right.stop();
		const byCa = device(ROOM_A, { pin: `${pinOf(join(other, "ca.crt"))},${pinOf(ca)}` });
		await until(() => byCa.client.connected, "connected with the CA's pin, second in the list");
		await byCa.stop();
		const dashboard = connectMqtt({ url: wssUrl, clientId: "pinned-dashboard", caFile: ca, pin: pinOf(join(lab, "server.crt")), ...login("nightlight-dashboard"), reconnectPeriodMs: 0 });
		cleanups.push(() => dashboard.end(true));
		await until(() => dashboard.connected, "the dashboard connected over wss:// with a pin");

		const wrong = device(ROOM_A, { pin: pinOf(join(other, "server.crt")) });
		await until(() => wrong.lines.some((line) => line.startsWith("error")), "an error line", 10_000);
		expect(wrong.client.connected).toBe(false);
		expect(wrong.lines.find((line) => line.startsWith("error"))).toMatch(/matches no pin .*update --pin/);
	}, 30_000);

	test("a wrong CA, an expired certificate, a wrong server name: refused, each with a clear message", async () => {
		expiredCertificate(lab);
		const expiredPort = await freePort();
		const expired = await startMosquitto({ config: referenceConfig(lab, expiredPort, await freePort(), "expired") });
		cleanups.push(() => expired.stop());
		const cases = [
			{ name: "wrong CA", url: tlsUrl, caFile: join(other, "ca.crt"), expected: /not signed by a CA this client trusts \([A-Z_]+\): give the CA that signed it with --ca/ },
			{ name: "no CA (system CAs only)", url: tlsUrl, caFile: undefined, expected: /not signed by a CA this client trusts/ },
			{ name: "expired certificate", url: `mqtts://localhost:${expiredPort}`, caFile: ca, expected: /certificate has expired \(CERT_HAS_EXPIRED\): renew/ },
			{ name: "wrong server name", url: `mqtts://127.0.0.1:${tlsPort}`, caFile: ca, expected: /certificate is for another name .*--servername/ },
		].map((item) => ({ ...item, node: device(ROOM_A, { url: item.url, caFile: item.caFile }) }));
		await sleep(6_000);
		for (const item of cases) {
			const errors = item.node.lines.filter((line) => line.startsWith("error"));
			expect(item.node.device.stats.connects).toBe(0);
			expect(errors[0]).toMatch(item.expected);
			expect(errors.join("\n")).not.toMatch(/\n\s+at /);
			figure(`${item.name}: ${errors[0]}`);
		}
		// The right name given with --servername makes the IP address work.
		const named = device(ROOM_A, { url: `mqtts://127.0.0.1:${tlsPort}`, servername: "localhost" });
		await until(() => named.client.connected, "connected to 127.0.0.1 with servername localhost");
	}, 40_000);

	test("a wrong password over TLS: a clear error, then bounded retries with backoff", async () => {
		const node = device(ROOM_A, { password: "not-the-password" });
		await sleep(15_000);
		const errors = node.lines.filter((line) => line.startsWith("error"));
		expect(node.device.stats.connects).toBe(0);
		// Mosquitto 2.0 answers a wrong password with "not authorized" (CONNACK 5).
		expect(errors[0]).toMatch(/refused (the username or password|this client \(not authorized\)): check --username and --password/);
		expect(errors.length).toBeLessThanOrEqual(2);
		const tries = node.lines.filter((line) => line.includes("next connection attempt")).length;
		expect(tries).toBeGreaterThanOrEqual(3);
		expect(tries).toBeLessThanOrEqual(10);
		figure(`wrong password over TLS: ${tries + 1} connection attempts in 15 s, ${errors.length} error lines: ${errors[0]}`);
	}, 30_000);

	test("a device's credential cannot command another device nor read its telemetry: the broker denies it", async () => {
		const roomB = await client(ROOM_B);
		const received: string[] = [];
		roomB.on("message", (topic, payload) => received.push(`${topic} ${payload}`));
		const grantedB = await roomB.subscribeAsync([topics.commands(ROOM_B), configTopics.set(ROOM_B)], { qos: 1 });
		expect(grantedB.map((grant) => grant.qos)).toEqual([1, 1]);

		const roomA = await client(ROOM_A);
		const snooped: string[] = [];
		roomA.on("message", (topic) => snooped.push(topic));
		// Reading another device's telemetry: Mosquitto 2.0 grants the subscription but checks the
		// ACL on every message, so nothing it may not read is ever delivered (checked below).
		const grantedA = await roomA.subscribeAsync([topics.telemetry(ROOM_B), "+/telemetry", "#"], { qos: 1 });
		figure(`room-a's subscriptions to room-b's telemetry, +/telemetry and #: granted ${grantedA.map((grant) => grant.qos).join(", ")}; deliveries checked per message`);
		// Commanding another device: the publish is refused (PUBACK 0x87, not authorized) and never
		// delivered. So is pretending to be the server, or writing another device's availability.
		const refusal = (topic: string) => roomA.publishAsync(topic, `{"led_on":true}`, { qos: 1, retain: true }).then(
			(packet) => reasonOf(packet),
			(error: { code?: number }) => error.code);
		expect(await refusal(topics.commands(ROOM_B))).toBe(135);
		expect(await refusal(SERVER_STATUS_TOPIC)).toBe(135);
		expect(await refusal(topics.status(ROOM_B))).toBe(135);
		expect(await refusal(topics.telemetry(ROOM_B))).toBe(135);
		// Nor change another device's settings, nor its own: only the server and the operator may.
		expect(await refusal(configTopics.set(ROOM_B))).toBe(135);
		expect(await refusal(configTopics.set(ROOM_A))).toBe(135);
		// What it may do: its own telemetry, state, availability and settings report.
		for (const topic of [topics.telemetry(ROOM_A), topics.state(ROOM_A), topics.status(ROOM_A), configTopics.config(ROOM_A)])
			expect(reasonOf(await roomA.publishAsync(topic, "{}", { qos: 1 }))).toBe(0);
		await roomB.publishAsync(topics.telemetry(ROOM_B), `{"light":12}`, { qos: 1 });

		// The operator may command room-b: proof that the path works and the denial was the ACL.
		const operator = await client("nightlight-operator");
		expect(reasonOf(await operator.publishAsync(configTopics.set(ROOM_B), `{"threshold":250}`, { qos: 1 }))).toBe(0);
		await operator.publishAsync(topics.commands(ROOM_B), `{"led_on":false}`, { qos: 1 });
		await until(() => received.length > 0, "the operator's command at room-b");
		await sleep(300);
		expect(received).toEqual([`${configTopics.set(ROOM_B)} {"threshold":250}`, `${topics.commands(ROOM_B)} {"led_on":false}`]);
		// Through "#" room-a got only what is its own to read: nothing of room-b's.
		expect(snooped.filter((topic) => topic !== topics.commands(ROOM_A) && topic !== SERVER_STATUS_TOPIC)).toEqual([]);
		expect(snooped).not.toContain(topics.telemetry(ROOM_B));
	}, 30_000);

	test("the dashboard's credential over wss:// reads every device but commands none; the operator's commands", async () => {
		const node = device(ROOM_A);
		await until(() => node.client.connected && node.device.stats.telemetrySent > 0, "room-a connected and reporting");
		const dashboard: NodeMqttClient = connectMqtt({ url: wssUrl, clientId: "dashboard", caFile: ca, ...login("nightlight-dashboard"), reconnectPeriodMs: 0 });
		cleanups.push(() => dashboard.endAsync(true));
		const seen: string[] = [];
		dashboard.on("message", (topic) => seen.push(topic));
		await until(() => dashboard.connected, "the dashboard connected over wss://");
		await dashboard.subscribeAsync(["+/telemetry", "+/state", "+/status", "nightlight/server/status", "+/commands"], { qos: 1 });
		await until(() => seen.includes(topics.telemetry(ROOM_A)) && seen.includes(topics.state(ROOM_A)) && seen.includes(topics.status(ROOM_A)), "room-a's telemetry, state and status at the dashboard");

		const applied = node.device.stats.commandsApplied;
		await dashboard.publishAsync(topics.commands(ROOM_A), `{"led_on":true}`, { qos: 1 });
		await sleep(1_000);
		expect(node.device.stats.commandsApplied).toBe(applied);
		expect(node.led.on).toBe(false);
		// Its subscription to +/commands delivered nothing either: commands are not its to read.
		expect(seen.filter((topic) => topic.endsWith("/commands"))).toEqual([]);

		const operator = await client("nightlight-operator", wssUrl);
		const accepted = await operator.publishAsync(topics.commands(ROOM_A), `{"led_on":true}`, { qos: 1 });
		expect(reasonOf(accepted)).toBe(0);
		await until(() => node.led.on, "the operator's command applied");
		await sleep(300);
		expect(seen.filter((topic) => topic.endsWith("/commands"))).toEqual([]);
	}, 30_000);

	test("our payload limits agree with the broker's maximum packet size: the largest command passes, a larger packet is refused, the device survives", async () => {
		const configured = /^max_packet_size (\d+)$/m.exec(readFileSync(join(DEPLOY, "mosquitto.conf"), "utf8"));
		expect(Number(configured?.[1])).toBe(MAX_PACKET_BYTES);

		const node = device(LONGEST);
		await until(() => node.client.connected && node.device.stats.telemetrySent > 0, "the 64-character device connected and reporting");
		const head = `{"led_on":true,"pad":"`;
		const largest = head + "x".repeat(COMMAND_MAX_BYTES - head.length - 2) + `"}`;
		expect(Buffer.byteLength(largest)).toBe(COMMAND_MAX_BYTES);
		const operator = await mqtt.connectAsync(tlsUrl, { ...login("nightlight-operator"), ca: readFileSync(ca), reconnectPeriod: 0 });
		cleanups.push(() => operator.endAsync(true));
		await operator.publishAsync(topics.commands(LONGEST), largest, { qos: 1 });
		await until(() => node.led.on, "the largest command allowed, on the longest topic, applied");
		figure(`largest command: ${publishPacketBytes(topics.commands(LONGEST), COMMAND_MAX_BYTES, 1)} bytes on the wire; broker limit ${MAX_PACKET_BYTES}`);

		// Over the broker's limit: the broker disconnects the sender (MQTT 3.1.1 has no reason code).
		// Mosquitto 2.0 counts a packet as its first byte plus its remaining length, leaving out the
		// 1..4 length bytes, so the smallest packet it refuses has a remaining length of the limit.
		// publishPacketBytes counts them all: what it says fits, Mosquitto accepts.
		const topic = topics.commands(LONGEST);
		const over = Buffer.alloc(MAX_PACKET_BYTES - 2 - topic.length - 2, "x");
		expect(publishPacketBytes(topic, over.length, 1)).toBe(MAX_PACKET_BYTES + 3);
		let closed = false;
		operator.on("close", () => (closed = true));
		operator.publish(topic, over, { qos: 1 });
		await until(() => closed, "the broker disconnects the sender of an oversized packet", 5_000);

		// The device never saw it, and is still connected and obeying.
		await sleep(500);
		expect(node.client.connected).toBe(true);
		expect(node.device.stats.rejected).toBe(0);
		const again = await client("nightlight-operator");
		await again.publishAsync(topic, `{"led_on":false}`, { qos: 1 });
		await until(() => !node.led.on, "the device still obeys");
	}, 30_000);
});
