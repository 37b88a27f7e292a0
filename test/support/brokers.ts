/*
 * Real brokers for integration tests, on 127.0.0.1 only, one per suite: Aedes in-process (our
 * embedded broker) and Mosquitto as a child process with its own config and a free port.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { type AddressInfo, createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBroker } from "../../cli/broker.js";

export interface TestBroker {
	name: string;
	url: string;
	wsUrl?: string | undefined;
	port: number;
	stop(): Promise<void>;
	/** Mosquitto only: stop the process but keep its port and config, to start it again. */
	pause?(): Promise<void>;
	/** Mosquitto only: start again on the same port after a pause. */
	start?(): Promise<void>;
}

export async function startAedes(): Promise<TestBroker> {
	const broker = await startBroker({ host: "127.0.0.1", mqttPort: 0, wsPort: 0, log: () => undefined });
	return { name: "aedes", url: broker.mqttUrl, wsUrl: broker.wsUrl, port: broker.mqttPort, stop: () => broker.close() };
}

/** The mosquitto binary, or undefined when it is not installed. */
export function mosquittoPath(): string | undefined {
	for (const dir of [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/usr/local/sbin"]) {
		const candidate = join(dir, "mosquitto");
		if (dir && existsSync(candidate))
			return candidate;
	}
	return undefined;
}

/**
 * Whether Mosquitto suites can run. Without it they are skipped with a message, except in CI,
 * where its absence is an error: CI must prove the integration against Mosquitto.
 */
export function mosquittoAvailable(): boolean {
	if (mosquittoPath())
		return true;
	if (process.env.CI)
		throw new Error("mosquitto is not installed, and CI must test against it: apt-get install mosquitto");
	console.log("skipped: mosquitto not installed (apt-get install mosquitto)");
	return false;
}

export async function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = createServer();
		server.once("error", reject);
		server.listen(0, "127.0.0.1", () => {
			const { port } = server.address() as AddressInfo;
			server.close(() => resolve(port));
		});
	});
}

export interface MosquittoOptions {
	/** Keep retained messages and sessions across a pause and start, as a production broker does. */
	persistence?: boolean;
	/** More lines for mosquitto.conf; `{dir}` stands for the broker's own temporary folder. */
	config?: string[];
}

export async function startMosquitto(options: MosquittoOptions = {}): Promise<TestBroker & { dir: string }> {
	const binary = mosquittoPath();
	if (!binary)
		throw new Error("mosquitto is not installed: apt-get install mosquitto");
	const dir = mkdtempSync(join(tmpdir(), "nightlight-mosquitto-"));
	const port = await freePort();
	const config = join(dir, "mosquitto.conf");
	writeFileSync(config, [
		`listener ${port} 127.0.0.1`,
		// Started as root, Mosquitto would switch to its own user and lose access to our temporary files.
		...(process.getuid?.() === 0 ? ["user root"] : []),
		...(options.config?.some((line) => line.startsWith("allow_anonymous")) ? [] : ["allow_anonymous true"]),
		options.persistence ? `persistence true\npersistence_location ${dir}/` : "persistence false",
		"log_dest stderr",
		"log_type error",
		"log_type warning",
		...(options.config ?? []).map((line) => line.replaceAll("{dir}", dir)),
		"",
	].join("\n"));
	let child: ChildProcess | undefined;
	let output = "";
	const start = async () => {
		child = spawn(binary, ["-c", config], { stdio: ["ignore", "pipe", "pipe"] });
		child.stdout!.on("data", (chunk) => (output += chunk));
		child.stderr!.on("data", (chunk) => (output += chunk));
		await waitForPort(port, 5_000, () => output);
	};
	const stop = async () => {
		const running = child;
		child = undefined;
		if (!running || running.exitCode !== null)
			return;
		await new Promise<void>((resolve) => {
			running.once("exit", () => resolve());
			running.kill("SIGTERM");
			setTimeout(() => running.kill("SIGKILL"), 3_000).unref();
		});
	};
	await start();
	return {
		name: "mosquitto",
		url: `mqtt://127.0.0.1:${port}`,
		port,
		dir,
		pause: stop,
		start,
		stop: async () => {
			await stop();
			rmSync(dir, { recursive: true, force: true });
		},
	};
}

async function waitForPort(port: number, timeoutMs: number, output: () => string): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const open = await new Promise<boolean>((resolve) => {
			const socket = createConnection({ port, host: "127.0.0.1" });
			socket.once("connect", () => { socket.destroy(); resolve(true); });
			socket.once("error", () => resolve(false));
		});
		if (open)
			return;
		if (Date.now() > deadline)
			throw new Error(`broker did not listen on 127.0.0.1:${port} within ${timeoutMs} ms: ${output()}`);
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
}

/** Mosquitto's version line, for test names and reports. */
export function mosquittoVersion(): string {
	const binary = mosquittoPath();
	if (!binary)
		return "not installed";
	const result = spawnSync(binary, ["-h"], { encoding: "utf8" });
	return (result.stdout || result.stderr).split("\n")[0] ?? "";
}
