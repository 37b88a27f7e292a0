/*
 * `nightlight setup --serial PORT`, as a user runs it against a freshly flashed board: the port is
 * a pseudo-terminal whose other end answers with the board's own console (src/config.ts, the same
 * code the firmware runs) and, once restarted, says `online` on Mosquitto (or Aedes) on 127.0.0.1.
 */
import { spawn } from "node:child_process";
import { afterEach, describe, expect, test } from "@jest/globals";
import mqtt from "mqtt";
import { Settings, type SettingsStore, consoleCommand } from "../../src/config.js";
import type { Values } from "../../src/settings.js";
import { type TestBroker, mosquittoAvailable, startAedes, startMosquitto } from "../support/brokers.js";
import { CLI, cleanEnv } from "../support/cli.js";
import { type Pty, openPty, ptyAvailable } from "../support/pty.js";

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
	while (cleanups.length)
		await cleanups.pop()!();
});

/** A board's console at the far end of the pty: its settings, and on reboot its `online`. */
function board(pty: Pty, id: string): { stored: () => Values; reboots: () => number } {
	let kept: { values: Values; revision: number } = { values: {}, revision: 0 };
	const store: SettingsStore = { load: () => kept, save: (values, revision) => (kept = { values: { ...values }, revision }) };
	const settings = new Settings({ store, config: {}, log: () => undefined });
	let reboots = 0;
	let text = "";
	pty.onData((bytes) => {
		text += bytes.toString("latin1");
		let end: number;
		while ((end = text.indexOf("\r")) >= 0) {
			const line = text.slice(0, end);
			text = text.slice(end + 1);
			const answer = consoleCommand({
				settings,
				about: () => [`running as ${id} on test, broker ${settings.values.broker}, not connected, needs setup`],
				restart: () => {
					reboots++;
					// The board comes back with its new settings and says online on the broker it was given.
					setTimeout(() => {
						const client = mqtt.connect(String(settings.values.broker), { clientId: `board-${id}`, reconnectPeriod: 0 });
						cleanups.push(() => client.endAsync(true));
						client.on("connect", () => client.publish(`${id}/status`, "online", { qos: 1, retain: true }));
					}, 300);
				},
			}, line);
			pty.write(Buffer.from(answer.map((item) => `${item}\r\n`).join(""), "latin1"));
		}
	});
	return { stored: () => kept.values, reboots: () => reboots };
}

function setup(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
	return new Promise((resolve) => {
		const child = spawn(process.execPath, [CLI, "setup", ...args], { env: cleanEnv() });
		let stdout = "";
		let stderr = "";
		child.stdout.on("data", (chunk) => (stdout += chunk));
		child.stderr.on("data", (chunk) => (stderr += chunk));
		const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
		child.on("exit", (status) => {
			clearTimeout(timer);
			resolve({ status, stdout, stderr });
		});
	});
}

const run = ptyAvailable() ? describe : describe.skip;
if (!ptyAvailable())
	console.log("skipped: python3 with its pty module is needed for a pseudo-terminal");

run("nightlight setup over a serial line", () => {
	test("types the Wi-Fi and the broker on the board's console, restarts it, and waits for it online", async () => {
		const broker: TestBroker = mosquittoAvailable() ? await startMosquitto() : await startAedes();
		cleanups.push(() => broker.stop());
		const pty = await openPty();
		cleanups.push(() => pty.close());
		const peer = board(pty, "fresh1");
		const result = await setup(["--serial", pty.path, "wifi_ssid=Lab Network", "wifi_password=s3cret-pass", `broker=${broker.url}`, "threshold=250"]);
		expect(result.stderr).not.toContain("error");
		expect(result.status).toBe(0);
		expect(result.stdout).toContain("fresh1 is online");
		expect(peer.stored()).toEqual({ wifi_ssid: "Lab Network", wifi_password: "s3cret-pass", broker: broker.url, threshold: 250 });
		expect(peer.reboots()).toBe(1);
		expect(result.stdout + result.stderr).not.toContain("s3cret-pass");
	}, 60_000);

	test("a missing port, a bad setting, and a board that never comes online each get one clear line", async () => {
		const missing = await setup(["--serial", "/dev/ttyNIGHTLIGHT9", "wifi_ssid=x"]);
		expect(missing.status).toBe(2);
		expect(missing.stderr).toContain("no serial port /dev/ttyNIGHTLIGHT9");
		const bad = await setup(["--serial", "/dev/null", "threshold=lots"]);
		expect(bad.status).toBe(2);
		expect(bad.stderr).toContain(`threshold must be an integer 0..1024, got "lots"`);
		const pty = await openPty();
		cleanups.push(() => pty.close());
		board(pty, "lost1");
		// The broker it is given is not there: the board never says online, and this computer cannot see it.
		const unreachable = await setup(["--serial", pty.path, "broker=mqtt://127.0.0.1:9", "--timeout-ms", "1500"]);
		expect(unreachable.status).toBe(1);
		expect(unreachable.stderr).toContain("lost1 is restarting with its new settings, but this computer cannot reach mqtt://127.0.0.1:9");
		// A broker this computer reaches, where the board never says online.
		const broker: TestBroker = mosquittoAvailable() ? await startMosquitto() : await startAedes();
		cleanups.push(() => broker.stop());
		const silent = await setup(["--serial", pty.path, "broker=mqtt://127.0.0.1:9", "--broker", broker.url, "--timeout-ms", "1500"]);
		expect(silent.status).toBe(1);
		expect(silent.stderr).toContain("lost1 did not say online");
	}, 60_000);
});
