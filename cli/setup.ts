/*
 * `nightlight setup --serial PORT wifi_ssid=NAME wifi_password=SECRET broker=URL`: gives a freshly
 * flashed board what it needs, over its settings console (UART0 on GP0/GP1 of a Pico, through a
 * USB-serial adapter), restarts it, and waits until it says `online` on the broker.
 *
 * Each setting is typed as a console line (`set KEY VALUE`) and must be answered `ok:`; a refusal
 * stops the setup with the board's own words. `show` tells the id the board runs as. Exit codes:
 * 0 online, 1 the board refused or did not come online, 2 a bad argument or port.
 */
import type { Duplex } from "node:stream";
import { connectMqtt, explainMqttError, redactUrl } from "../runtime/node/mqtt.js";
import type { Log } from "../src/ports.js";
import type { Change } from "../src/settings.js";
import { consoleLog } from "../runtime/node/log.js";
import type { LogLevel } from "../src/ports.js";
import { parseAssignments } from "./config.js";
import { ConfigError, type OneShot, type OptionSpec, type Values } from "./options.js";

export interface SetupOptions {
	/** The board's serial port (a path), or any byte stream (tests). */
	serial: string | Duplex;
	baud?: number;
	change: Change;
	/** Where to watch for the board's `online`: its `broker` setting by default. */
	watchBroker?: string | undefined;
	username?: string | undefined;
	password?: string | undefined;
	caFile?: string | undefined;
	/** How long to wait for the board to come online after its restart; 0: do not wait. */
	onlineTimeoutMs: number;
	log: Log;
}

/** Lines from the board's console, and a way to type one and wait for an answer. */
class ConsoleLine {
	#line: Duplex;
	#text = "";
	#lines: string[] = [];
	#waiters: Array<() => void> = [];

	constructor(line: Duplex) {
		this.#line = line;
		line.on("data", (chunk: Buffer) => {
			this.#text += chunk.toString("latin1");
			let end: number;
			while ((end = this.#text.search(/\r?\n/)) >= 0) {
				this.#lines.push(this.#text.slice(0, end).replace(/\r$/, ""));
				this.#text = this.#text.slice(this.#text[end] === "\r" ? end + 2 : end + 1);
			}
			for (const waiter of this.#waiters.splice(0))
				waiter();
		});
	}

	/** Types a line; resolves with the lines that came back until `done` matched one, or throws after `timeoutMs`. */
	async ask(line: string, done: RegExp, timeoutMs = 5_000): Promise<string[]> {
		const from = this.#lines.length;
		this.#line.write(`${line}\r`);
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			const answer = this.#lines.slice(from);
			if (answer.some((text) => done.test(text)))
				return answer;
			const left = deadline - Date.now();
			if (left <= 0)
				throw new Error(`the board did not answer ${JSON.stringify(line.replace(/(password)\s+\S.*/, "$1 ***"))} within ${timeoutMs / 1000} s: is it running the nightlight, and is its UART0 (GP0 TX, GP1 RX) wired to this port at ${115_200} baud?`);
			await new Promise<void>((resolve) => {
				const timer = setTimeout(resolve, Math.min(left, 200));
				this.#waiters.push(() => {
					clearTimeout(timer);
					resolve();
				});
			});
		}
	}
}

async function openPort(path: string, baud: number): Promise<Duplex> {
	const { SerialPort } = await import("serialport");
	const port = new SerialPort({ path, baudRate: baud, autoOpen: false });
	await new Promise<void>((resolve, reject) => port.open((error) => {
		if (!error)
			return resolve();
		const message = /permission denied|EACCES/i.test(error.message)
			? `no permission to open ${path}: add yourself to its group (sudo usermod -aG dialout $USER, then log in again)`
			: /no such file|ENOENT/i.test(error.message)
				? `no serial port ${path}: is the board plugged in (with a data cable)?`
				: `cannot open ${path}: ${error.message}`;
		reject(new ConfigError(message));
	}));
	return port;
}

/** Runs the setup; resolves with the board's id once it is online (or restarted, when not waiting). */
export async function runSetup(options: SetupOptions): Promise<{ id: string; online: boolean }> {
	const line = typeof options.serial === "string" ? await openPort(options.serial, options.baud ?? 115_200) : options.serial;
	try {
		const console = new ConsoleLine(line);
		await console.ask("show", /^running as |^revision /, 5_000);
		for (const key of Object.keys(options.change)) {
			const value = options.change[key];
			const answer = await console.ask(value === null || value === undefined ? `unset ${key}` : `set ${key} ${value}`, /^(ok|error):/);
			const said = answer.find((text) => /^(ok|error):/.test(text))!;
			if (said.startsWith("error:"))
				throw new Error(`the board refused ${key}: ${said.slice(7)}`);
			options.log("info", "setup", said);
		}
		const shown = await console.ask("show", /^running as /, 5_000).catch(() => [] as string[]);
		const about = shown.find((text) => text.startsWith("running as "));
		const id = /^running as (\S+)/.exec(about ?? "")?.[1];
		const brokerLine = shown.find((text) => text.startsWith("broker="));
		const broker = options.watchBroker ?? brokerLine?.slice("broker=".length).replace(/ \(.*\)$/, "");
		if (options.onlineTimeoutMs <= 0 || !id || !broker) {
			await console.ask("reboot", /^(ok|error):/);
			return { id: id ?? "?", online: false };
		}
		// Watch first, then restart the board: its `online` after the restart is news, not the retained one.
		const client = connectMqtt({ url: broker, clientId: `nightlight-setup-${process.pid}`, username: options.username, password: options.password, caFile: options.caFile, reconnectPeriodMs: 1_000 });
		try {
			const online = new Promise<void>((resolve, reject) => {
				client.on("message", (_topic, payload, packet) => {
					if (!packet.retain && payload.toString() === "online")
						resolve();
				});
				client.on("error", (error) => options.log("warn", "setup", explainMqttError(error, redactUrl(broker))));
				client.on("connect", () => client.subscribe(`${id}/status`, { qos: 1 }, (error) => error && reject(error)));
			});
			const reached = await new Promise<boolean>((resolve) => {
				if (client.connected)
					return resolve(true);
				client.once("connect", () => resolve(true));
				setTimeout(() => resolve(false), Math.min(5_000, options.onlineTimeoutMs)).unref();
			});
			await console.ask("reboot", /^(ok|error):/);
			if (!reached)
				throw new Error(`${id} is restarting with its new settings, but this computer cannot reach ${redactUrl(broker)} to see it come online: give --broker with an address of the broker that this computer reaches`);
			options.log("info", "setup", `${id} is restarting; waiting for it on ${redactUrl(broker)}`);
			let timer: NodeJS.Timeout | undefined;
			const late = new Promise<never>((_resolve, reject) => {
				timer = setTimeout(() => reject(new Error(`${id} did not say online on ${redactUrl(broker)} within ${options.onlineTimeoutMs / 1000} s: check its Wi-Fi name and password, and that the broker is reachable from its network (type show on its console)`)), options.onlineTimeoutMs);
			});
			try {
				await Promise.race([online, late]);
			}
			finally {
				clearTimeout(timer);
			}
			return { id, online: true };
		}
		finally {
			client.end(true);
		}
	}
	finally {
		if (typeof options.serial === "string")
			line.destroy();
	}
}

/** `nightlight setup --serial PORT KEY=VALUE ...`: one board, then exit. */
export function setupCommand(connection: OptionSpec[], logOption: OptionSpec): OneShot<Change> {
	const keep = new Set(["username", "password", "ca"]);
	return {
		usage: "nightlight setup --serial PORT wifi_ssid=NAME wifi_password=SECRET broker=mqtt://HOST [KEY=VALUE ...] [options]",
		summary: "Gives a freshly flashed board its settings over its serial console (set KEY VALUE for each),\nrestarts it, and waits until it says online on the broker. Any setting of README.md's table can\nbe given; KEY= unsets one.",
		options: [
			{ name: "serial", kind: "string", value: "PORT", help: "the board's serial port: /dev/ttyUSB0 for a USB-serial adapter on its UART0 (GP0 TX, GP1 RX)" },
			{ name: "baud", kind: "integer", min: 1_200, max: 4_000_000, default: 115_200, help: "the console's speed" },
			{ name: "broker", kind: "string", value: "URL", show: redactUrl, help: "where to wait for the board's online (default: the broker it is given)" },
			...connection.filter((option) => keep.has(option.name)),
			{ name: "timeout-ms", kind: "integer", min: 0, default: 90_000, help: "how long to wait for the board to come online after its restart (0: do not wait)" },
			logOption,
		],
		prepare(values: Values, positionals: string[]) {
			if (typeof values.serial !== "string")
				throw new ConfigError("--serial PORT is required: the board's serial port, e.g. --serial /dev/ttyUSB0");
			const change = parseAssignments(positionals);
			if (Object.keys(change).length === 0)
				throw new ConfigError("nothing to set: give at least KEY=VALUE, e.g. wifi_ssid=MyNetwork wifi_password=secret broker=mqtt://192.168.1.10");
			return change;
		},
		async run(change, values) {
			const { id, online } = await runSetup({
				serial: values.serial as string,
				baud: values.baud as number,
				change,
				watchBroker: values.broker as string | undefined,
				username: values.username as string | undefined,
				password: values.password as string | undefined,
				caFile: values.ca as string | undefined,
				onlineTimeoutMs: values["timeout-ms"] as number,
				log: consoleLog(values["log-level"] as LogLevel),
			});
			process.stdout.write(online ? `${id} is online\n` : `${id} is restarting with its new settings\n`);
			return 0;
		},
	};
}
