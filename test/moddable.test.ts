/*
 * The firmware built with the Moddable SDK, in its desktop simulator, against a real Mosquitto.
 * Runs only where $MODDABLE is set (the SDK is a prerequisite users install, never part of this
 * repository); elsewhere it prints "skipped: MODDABLE not set".
 *
 * It builds the app for `lin` into a fresh folder, starts Mosquitto on a free 127.0.0.1 port,
 * Xvfb on a free display and mcsim with our simulated device, then checks what a user would:
 * telemetry arrives, dragging the light slider is reported, {"led_on":true} lights the lamp,
 * the device comes back after a broker restart and obeys again. Screenshots go to test-results/.
 * Every wait is bounded; every process started here is killed in afterAll.
 */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import mqtt from "mqtt";

const MODDABLE = process.env.MODDABLE;
const root = fileURLToPath(new URL("..", import.meta.url));
const results = join(root, "test-results");

if (!MODDABLE)
	process.stdout.write("skipped: MODDABLE not set\n");

const suite = MODDABLE ? describe : describe.skip;

interface Message {
	topic: string;
	text: string;
}

suite("the app in the Moddable simulator (mcsim) with Mosquitto on 127.0.0.1", () => {
	const tools = join(MODDABLE ?? "", "build", "bin", "lin", "release");
	const id = `nl-sim-${process.pid}`;
	// Made in beforeAll, so a skipped run leaves nothing behind.
	let work = "";
	const processes: ChildProcess[] = [];
	const messages: Message[] = [];
	let simOutput = "";
	let port = 0;
	let display = "";
	let mosquitto: ChildProcess | undefined;
	let client: mqtt.MqttClient | undefined;
	let windowId = "";

	function start(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
		const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
		processes.push(child);
		return child;
	}

	function startBroker(): ChildProcess {
		const broker = start("mosquitto", ["-c", join(work, "mosquitto.conf")]);
		broker.stderr?.on("data", () => {});
		broker.stdout?.on("data", () => {});
		return broker;
	}

	async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 20_000): Promise<T> {
		const end = Date.now() + timeoutMs;
		for (;;) {
			const value = probe();
			if (value !== undefined && value !== false)
				return value;
			if (Date.now() > end)
				throw new Error(`timed out waiting for ${what}; simulator output:\n${simOutput.split("\n").filter((line) => !line.startsWith("instruments")).slice(-20).join("\n")}`);
			await new Promise((done) => setTimeout(done, 100));
		}
	}

	function after(index: number, topic: string, test: (text: string) => boolean = () => true): Message | undefined {
		return messages.slice(index).find((message) => message.topic === topic && test(message.text));
	}

	function screenshot(name: string): void {
		mkdirSync(results, { recursive: true });
		execFileSync("import", ["-display", display, "-window", "root", "-crop", "640x480+0+0", "+repage", join(results, name)]);
	}

	function xdotool(...args: string[]): string {
		return execFileSync("xdotool", args, { env: { ...process.env, DISPLAY: display } }).toString().trim();
	}

	beforeAll(async () => {
		work = mkdtempSync(join(tmpdir(), "nightlight-moddable-"));
		for (const tool of ["mosquitto", "Xvfb", "xdotool", "import", "stdbuf"]) {
			if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0)
				throw new Error(`${tool} is needed for this check: install mosquitto, xvfb, xdotool, imagemagick and coreutils`);
		}
		if (!existsSync(join(tools, "mcconfig")) || !existsSync(join(tools, "mcsim")))
			throw new Error(`MODDABLE is set but ${tools} has no mcconfig or mcsim: build the SDK's tools (its Getting Started guide)`);

		port = await new Promise<number>((done, fail) => {
			const server = createServer();
			server.on("error", fail);
			server.listen(0, "127.0.0.1", () => {
				const address = server.address();
				server.close(() => done(typeof address === "object" && address ? address.port : 0));
			});
		});
		writeFileSync(join(work, "mosquitto.conf"), `listener ${port} 127.0.0.1\nallow_anonymous true\n`);
		mosquitto = startBroker();

		// A clean build of the app for the simulator, with the broker of this test.
		const out = join(work, "build");
		mkdirSync(out);
		const env = { ...process.env, MODDABLE, PATH: [join(root, "node_modules", ".bin"), tools, process.env.PATH].join(delimiter) };
		const build = spawnSync(join(tools, "mcconfig"), ["-d", "-m", "-p", "lin", "-t", "build", "-o", out, `broker=mqtt://127.0.0.1:${port}`, `id=${id}`], { cwd: root, env, encoding: "utf8", timeout: 300_000 });
		if (build.status !== 0)
			throw new Error(`mcconfig failed (${build.status}):\n${build.stdout}\n${build.stderr}`);
		const library = join(out, "bin", "lin", "mc", "debug", "nightlight", "mc.so");
		expect(existsSync(library)).toBe(true);

		let number = 90;
		while (existsSync(`/tmp/.X${number}-lock`) || existsSync(`/tmp/.X11-unix/X${number}`))
			number++;
		display = `:${number}`;
		start("Xvfb", [display, "-screen", "0", "1280x1024x24", "-nolisten", "tcp"]);
		await waitFor("Xvfb", () => existsSync(`/tmp/.X11-unix/X${number}`), 10_000);

		client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 500 });
		client.on("message", (topic, payload) => messages.push({ topic, text: payload.toString() }));
		client.on("connect", () => client!.subscribe(`${id}/#`, { qos: 1 }));
		client.on("error", () => {});

		const sim = start("stdbuf", ["-oL", join(tools, "mcsim"), join(root, "simulator"), library], { ...process.env, DISPLAY: display });
		sim.stdout?.on("data", (chunk: Buffer) => { simOutput += chunk.toString(); });
		sim.stderr?.on("data", (chunk: Buffer) => { simOutput += chunk.toString(); });
		windowId = await waitFor("the mcsim window", () => {
			try {
				return xdotool("search", "--onlyvisible", "--name", "^mcsim$").split("\n")[0] || undefined;
			}
			catch {
				return undefined;
			}
		});
	}, 400_000);

	afterAll(() => {
		client?.end(true);
		for (const child of processes.reverse())
			child.kill();
		if (work)
			rmSync(work, { recursive: true, force: true });
	});

	test("it says online and publishes {\"light\":N} to <id>/telemetry", async () => {
		await waitFor("online on <id>/status", () => after(0, `${id}/status`, (text) => text === "online"));
		const telemetry = await waitFor("telemetry", () => after(0, `${id}/telemetry`));
		expect(JSON.parse(telemetry.text)).toEqual({ light: 500 });
	}, 60_000);

	test("dragging the simulator's light slider down is reported", async () => {
		const from = messages.length;
		// The slider's thumb at 500 of 0..1023, in the controls pane at the window's top left.
		xdotool("mousemove", "--window", windowId, "197", "65", "mousedown", "1",
			"mousemove", "--window", windowId, "170", "65", "sleep", "0.2",
			"mousemove", "--window", windowId, "135", "65", "sleep", "0.2", "mouseup", "1");
		const dark = await waitFor("telemetry below 300", () => after(from, `${id}/telemetry`, (text) => (JSON.parse(text) as { light: number }).light < 300));
		expect((JSON.parse(dark.text) as { light: number }).light).toBeLessThan(300);
	}, 60_000);

	test("{\"led_on\":true} on <id>/commands lights the lamp", async () => {
		const from = messages.length;
		client!.publish(`${id}/commands`, `{"led_on":true}`, { qos: 1 });
		await waitFor("state led_on true", () => after(from, `${id}/state`, (text) => (JSON.parse(text) as { led_on: boolean }).led_on));
		await waitFor("the simulator's LED on", () => simOutput.includes("info sim: LED on"));
		await new Promise((done) => setTimeout(done, 500));
		screenshot("simulator-lamp-on.png");
	}, 60_000);

	test("it survives a broker restart and obeys again", async () => {
		const connects = simOutput.split("info mqtt: connected").length - 1;
		mosquitto?.kill();
		await waitFor("the device to notice the broker is gone", () => simOutput.includes("warn mqtt: lost"), 60_000);
		const from = messages.length;
		mosquitto = startBroker();
		await waitFor("a reconnection", () => simOutput.split("info mqtt: connected").length - 1 > connects, 60_000);
		await waitFor("online again on <id>/status", () => after(from, `${id}/status`, (text) => text === "online"), 30_000);
		const offFrom = messages.length;
		client!.publish(`${id}/commands`, `{"led_on":false}`, { qos: 1 });
		await waitFor("state led_on false", () => after(offFrom, `${id}/state`, (text) => !(JSON.parse(text) as { led_on: boolean }).led_on), 30_000);
		await waitFor("the simulator's LED off", () => simOutput.includes("info sim: LED off", simOutput.lastIndexOf("info sim: LED on")));
		await new Promise((done) => setTimeout(done, 500));
		screenshot("simulator-lamp-off.png");
	}, 150_000);

	test("it reports the simulator's memory figures (instruments)", () => {
		// Debug builds print a key line, then one line of values a second; report the last one.
		const lines = simOutput.split("\n");
		const key = lines.find((line) => line.startsWith("instruments key:"));
		const values = lines.filter((line) => line.startsWith("instruments:")).at(-1);
		expect(key).toBeDefined();
		expect(values).toBeDefined();
		const names = key!.slice("instruments key:".length).split(",").map((name) => name.trim());
		const numbers = values!.slice("instruments:".length).split(",").map((value) => value.trim());
		const figures = names.map((name, index) => `${name} ${numbers[index]}`).join("; ");
		console.log(`figure: mcsim instruments after the broker restart: ${figures}`);
	});
});
