/*
 * The `nightlight` command: `up` (broker, server and one simulated device in one process: what
 * `npm start` runs), `device`, `server` and `broker`. Bad configuration prints what is wrong and
 * exits with code 2; faults at run time are logged and retried, never a stack trace.
 */
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { isDeviceId } from "../src/contract.js";
import { DEFAULT_GRACE_MS, DEFAULT_REPORT, DEFAULT_SAMPLE_PERIOD_MS } from "../src/device.js";
import { messageOf } from "../src/errors.js";
import type { ReportOptions } from "../src/filters.js";
import { DEFAULT_OUTBOX_LIMITS } from "../src/outbox.js";
import type { Log, LogLevel } from "../src/ports.js";
import { DEFAULT_RULE, checkRule } from "../src/rule.js";
import { isConsoleCommand } from "../src/config.js";
import { type ManagedDevice, startManagedDevice } from "../hosts/node/settings.js";
import { defaultDeviceId } from "../hosts/node/identity.js";
import { nodeClock } from "../runtime/node/clock.js";
import { LOG_LEVELS, consoleLog } from "../runtime/node/log.js";
import { DEFAULT_KEEPALIVE_SECONDS, checkBrokerUrl, parsePins, redactUrl } from "../runtime/node/mqtt.js";
import { parseLevel } from "../hosts/node/sensor.js";
import { apiTokenProblem, isLoopback } from "../server/auth.js";
import { type HttpApi, type SimulatedSensor, startHttpApi } from "../server/http.js";
import { DEFAULT_FORGET_AFTER_MS, formatDuration } from "../server/forgetting.js";
import { startNodeServer } from "../server/node.js";
import { DEFAULT_MAX_STREAMS } from "../server/sse.js";
import { DEFAULT_STATE_DIR, OverrideFile, loadGroupsFile } from "../server/state.js";
import { DEFAULT_HA_PREFIX, checkPrefix } from "../server/discovery.js";
import { DEFAULT_RETENTION_DAYS } from "../server/history.js";
import { type Integrations, dbProblem, openIntegrations } from "../server/integrations.js";
import { BRIDGE_SUMMARY, BRIDGE_USAGE, BridgeError, bridgeOptions, runBridge } from "./bridge.js";
import { BrokerError, listenProblem, startBroker } from "./broker.js";
import { configCommand } from "./config.js";
import { setupCommand } from "./setup.js";
import { ConfigError, type OneShot, type OptionSpec, type Values, describeConfig, helpText, parseOptions } from "./options.js";

const LOG_OPTION: OptionSpec = { name: "log-level", kind: "string", choices: LOG_LEVELS, default: "info", help: "how much to log" };

const CONNECTION_OPTIONS: OptionSpec[] = [
	{ name: "broker", kind: "string", value: "URL", default: "mqtt://127.0.0.1:1883", help: "broker URL: mqtt://, mqtts://, ws:// or wss://", show: redactUrl },
	{ name: "username", kind: "string", value: "NAME", help: "broker user name" },
	{ name: "password", kind: "string", value: "SECRET", help: "broker password (never logged)", secret: true },
	{ name: "ca", kind: "string", value: "FILE", help: "PEM file of the CA that signed the broker's certificate (mqtts://, wss://); default: the system's CAs" },
	{ name: "pin", kind: "string", value: "sha256/BASE64", help: "accept the broker only if its certificate chain holds a certificate with this SHA-256 fingerprint (comma-separated for several)" },
	{ name: "servername", kind: "string", value: "NAME", help: "the name the broker's certificate must carry, when it is not the broker URL's host" },
];

const KEEPALIVE_OPTION: OptionSpec = { name: "keepalive", kind: "integer", min: 1, max: 65535, default: DEFAULT_KEEPALIVE_SECONDS, value: "SECONDS", help: "MQTT keep-alive: a link silent for 1.5 times this is taken for dead and reconnected" };

const DEVICE_OPTIONS: OptionSpec[] = [
	{ name: "id", kind: "string", value: "ID", help: "device id, one topic level (default: from this machine's MAC address)" },
	{ name: "light", kind: "number", min: 0, max: 1023, default: 500, help: "initial light level of the simulated sensor, 0..1023" },
	{ name: "sample-ms", kind: "integer", min: 10, default: DEFAULT_SAMPLE_PERIOD_MS, help: "sensor sampling period" },
	{ name: "report", kind: "string", choices: ["change", "period"], default: DEFAULT_REPORT.mode, help: "report on change (deadband + heartbeat) or every --period-ms like the lesson" },
	{ name: "period-ms", kind: "integer", min: 100, default: DEFAULT_REPORT.periodMs, help: "telemetry period in --report period" },
	{ name: "deadband", kind: "integer", min: 0, max: 1023, default: DEFAULT_REPORT.deadband, help: "change in light that is worth a message" },
	{ name: "heartbeat-ms", kind: "integer", min: 1000, default: DEFAULT_REPORT.heartbeatMs, help: "longest time without telemetry" },
	{ name: "min-gap-ms", kind: "integer", min: 0, default: DEFAULT_REPORT.minGapMs, help: "shortest time between two telemetry messages" },
	{ name: "smoothing", kind: "number", min: 0.01, max: 1, default: DEFAULT_REPORT.smoothing, help: "smoothing factor per sample, 1 for none" },
	{ name: "grace-ms", kind: "integer", min: 0, default: DEFAULT_GRACE_MS, help: "without broker or server for this long, the device decides by itself (local mode)" },
	{ name: "outbox-count", kind: "integer", min: 1, default: DEFAULT_OUTBOX_LIMITS.maxCount, help: "readings kept while the broker is unreachable, at most" },
	{ name: "outbox-bytes", kind: "integer", min: 64, default: DEFAULT_OUTBOX_LIMITS.maxBytes, help: "bytes of readings kept while the broker is unreachable, at most" },
];

const RULE_OPTIONS: OptionSpec[] = [
	{ name: "threshold", kind: "integer", min: 0, max: 1024, default: DEFAULT_RULE.threshold, help: "the LED goes on below this light level" },
	{ name: "hysteresis", kind: "integer", min: 0, max: 1023, default: DEFAULT_RULE.hysteresis, help: "the LED goes off again at threshold + hysteresis" },
];

const STATE_OPTION: OptionSpec = { name: "state-dir", kind: "string", value: "DIR", default: DEFAULT_STATE_DIR, help: "folder where the server's overrides and the device's settings are kept across restarts" };

const SHARE_OPTION: OptionSpec = { name: "share", kind: "string", value: "GROUP", help: "split the fleet with the other servers of this group (MQTT shared subscriptions, checked at start: Mosquitto 2, EMQX, HiveMQ; not the embedded broker)" };

const SERVER_OPTIONS: OptionSpec[] = [
	{ name: "groups", kind: "string", value: "FILE", help: "JSON file of groups: sensors that decide together for the LEDs they name (see docs/fleet.md); without it each device decides alone" },
	{ name: "http-port", kind: "integer", min: 0, max: 65535, default: 8080, help: "port of the dashboard and the HTTP API (0: any free port)" },
	{ name: "http-listen", kind: "string", value: "ADDRESS", default: "127.0.0.1", help: "address the dashboard and the HTTP API listen on; 0.0.0.0 opens them to your network: set --api-token too" },
	{ name: "api-token", kind: "string", value: "TOKEN", secret: true, refuseEmpty: true, check: apiTokenProblem, help: "token that changes through the HTTP API need (Authorization: Bearer TOKEN), at least 16 characters; reading stays open; never logged" },
	{ name: "api-token-file", kind: "string", value: "FILE", help: "file holding the API token, instead of --api-token (kept out of ps)" },
	{ name: "db", kind: "string", value: "FILE|URL|none", show: redactUrl, check: dbProblem, help: "where the history (readings, commands, availability, overrides) is kept: an SQLite file, postgres://user:password@host:5432/database, or none (default: history.sqlite in --state-dir)" },
	{ name: "history-days", kind: "number", min: 0.01, max: 3650, default: DEFAULT_RETENTION_DAYS, help: "days of history kept; older rows are deleted every hour" },
	{ name: "ha-prefix", kind: "string", value: "PREFIX", default: DEFAULT_HA_PREFIX, check: checkPrefix, help: "Home Assistant's MQTT discovery prefix, under which every device is announced" },
	{ name: "no-ha", kind: "flag", default: false, help: "announce nothing to Home Assistant" },
	{ name: "max-streams", kind: "integer", min: 1, default: DEFAULT_MAX_STREAMS, help: "live event streams (dashboards) open at once, at most; one more is answered 503" },
	{ name: "forget-after", kind: "duration", value: "DURATION", min: 1_000, default: formatDuration(DEFAULT_FORGET_AFTER_MS), show: (ms) => formatDuration(Number(ms)), help: "forget a device not heard for this long (30d, 12h, 90s or ms): dropped from the server and the API, its retained command cleared" },
];

const LISTEN_OPTIONS: OptionSpec[] = [
	{ name: "listen", kind: "string", value: "ADDRESS", default: "127.0.0.1", help: "address the broker listens on; 0.0.0.0 opens it to your network" },
	{ name: "mqtt-port", kind: "integer", min: 0, max: 65535, default: 1883, help: "MQTT port (0: any free port)" },
	{ name: "ws-port", kind: "integer", min: 0, max: 65535, default: 9001, help: "MQTT over WebSocket port (0: any free port)" },
];

interface Running {
	stop(): Promise<void>;
}

interface Command {
	usage: string;
	summary: string;
	options: OptionSpec[];
	/** `fatal`: the command found, once running, that a setting cannot work; it stops with exit code 2. */
	run(values: Values, log: Log, fatal: (message: string) => void): Promise<Running>;
}

const COMMANDS: Record<string, Command> = {
	up: {
		usage: "nightlight up [options]",
		summary: "Runs the whole nightlight on this machine: an MQTT broker, the server and one simulated device.\nType a light level 0..1023 and Enter to change the simulated light.\nIts broker speaks MQTT 3.1 and 3.1.1 only, with no shared subscriptions: for MQTT 5 clients or\nservers that share the fleet, run Mosquitto 2 (or another broker) with nightlight server and device.",
		options: [...LISTEN_OPTIONS, ...DEVICE_OPTIONS, KEEPALIVE_OPTION, ...RULE_OPTIONS, ...SERVER_OPTIONS, STATE_OPTION, LOG_OPTION],
		run: runUp,
	},
	device: {
		usage: "nightlight device [options]",
		summary: "Runs one simulated nightlight device against a broker.\nType a light level 0..1023 and Enter to change the simulated light, or a console command\n(help, show, set KEY VALUE, unset KEY, reboot, factory-reset) to change its settings, which it\nkeeps in --state-dir and also takes over MQTT (<id>/config/set, or nightlight config).\nIts --threshold and --hysteresis are the rule it runs itself in local mode.",
		options: [...CONNECTION_OPTIONS, KEEPALIVE_OPTION, ...DEVICE_OPTIONS, ...RULE_OPTIONS, STATE_OPTION, LOG_OPTION],
		run: runDevice,
	},
	server: {
		usage: "nightlight server [options]",
		summary: "Runs the nightlight server: reads every device's telemetry and commands its LED.",
		options: [...CONNECTION_OPTIONS, KEEPALIVE_OPTION, ...RULE_OPTIONS, SHARE_OPTION, ...SERVER_OPTIONS, STATE_OPTION, LOG_OPTION],
		run: runServer,
	},
	broker: {
		usage: "nightlight broker [options]",
		summary: "Runs a small MQTT broker (MQTT and MQTT over WebSocket) for a lab.\nIt speaks MQTT 3.1 and 3.1.1 only: an MQTT 5 client is refused (CONNACK return code 1,\nunacceptable protocol version), and it has no shared subscriptions (nightlight server --share\nneeds them). For either, run Mosquitto 2 or another broker.",
		options: [...LISTEN_OPTIONS, LOG_OPTION],
		run: runBroker,
	},
	bridge: {
		usage: BRIDGE_USAGE,
		summary: BRIDGE_SUMMARY,
		options: [...bridgeOptions(CONNECTION_OPTIONS), LOG_OPTION],
		run: runBridge,
	},
};

const GENERAL_HELP = `usage: nightlight <command> [options]

commands:
  up       broker, server and one simulated device in one process (what npm start runs)
  device   one simulated device against a broker
  server   the server that commands every device
  broker   a small MQTT broker for a lab
  bridge   joins a board without a network to the broker over its serial port
  config   show or change a running device's settings over MQTT
  setup    give a freshly flashed board its Wi-Fi and broker over its serial console

Run nightlight <command> --help for its options.
`;

async function main(argv: string[]): Promise<number> {
	const [name, ...rest] = argv;
	if (name === undefined || name === "--help" || name === "-h" || name === "help") {
		process.stdout.write(GENERAL_HELP);
		return name === undefined ? 2 : 0;
	}
	if (name === "config")
		return runOneShot(name, configCommand(CONNECTION_OPTIONS), rest);
	if (name === "setup")
		return runOneShot(name, setupCommand(CONNECTION_OPTIONS, LOG_OPTION), rest);
	const command = COMMANDS[name];
	if (!command) {
		process.stderr.write(`nightlight: unknown command ${JSON.stringify(name)}; expected up, device, server, broker, bridge or config\n`);
		return 2;
	}
	let values: Values & { help?: boolean };
	try {
		values = parseOptions(command.options, rest, process.env);
		if (values.help) {
			process.stdout.write(helpText(command.usage, command.summary, command.options));
			return 0;
		}
		checkValues(values);
	}
	catch (error) {
		return configFailure(name, error);
	}
	const log = consoleLog(values["log-level"] as LogLevel);
	log("info", "config", `${name} ${describeConfig(command.options, values)}`);
	let fatal!: (message: string) => void;
	const fatalMessage = new Promise<string>((resolve) => (fatal = resolve));
	let running: Running;
	try {
		running = await command.run(values, log, fatal);
	}
	catch (error) {
		if (error instanceof RangeError || error instanceof ConfigError)
			return configFailure(name, error);
		// A port in use or an address not of this machine: a setting to change, like any other.
		if (error instanceof BrokerError || error instanceof BridgeError) {
			process.stderr.write(`nightlight ${name}: ${error.message}\n`);
			return 2;
		}
		throw error;
	}
	return new Promise<number>((resolve) => {
		let stopping = false;
		const stop = (signal: string) => {
			if (stopping) {
				process.stderr.write(`nightlight: ${signal} again; exiting now\n`);
				process.exit(130);
			}
			stopping = true;
			log("info", name, `${signal}: stopping`);
			const force = setTimeout(() => resolve(1), 5_000);
			force.unref();
			running.stop().then(() => resolve(0), (error) => {
				log("error", name, `stopping failed: ${messageOf(error)}`);
				resolve(1);
			});
		};
		process.once("SIGINT", () => stop("SIGINT"));
		process.once("SIGTERM", () => stop("SIGTERM"));
		void fatalMessage.then((message) => {
			if (stopping)
				return;
			stopping = true;
			process.stderr.write(`nightlight ${name}: ${message}\n`);
			const force = setTimeout(() => resolve(2), 5_000);
			force.unref();
			running.stop().then(() => resolve(2), () => resolve(2));
		});
	});
}

/** A one-shot command: parse, answer --help, check, run; exit 2 on a bad setting, 1 on a failure. */
async function runOneShot<T>(name: string, command: OneShot<T>, argv: string[]): Promise<number> {
	const positionals: string[] = [];
	let values: Values & { help?: boolean };
	let prepared: T;
	try {
		values = parseOptions(command.options, argv, process.env, positionals);
		if (values.help) {
			process.stdout.write(helpText(command.usage, command.summary, command.options));
			return 0;
		}
		checkValues(values);
		prepared = command.prepare(values, positionals);
	}
	catch (error) {
		return configFailure(name, error);
	}
	try {
		return await command.run(prepared, values);
	}
	catch (error) {
		if (error instanceof ConfigError)
			return configFailure(name, error);
		process.stderr.write(`nightlight ${name}: ${messageOf(error)}\n`);
		return 1;
	}
}

function configFailure(name: string, error: unknown): number {
	if (!(error instanceof ConfigError) && !(error instanceof RangeError))
		throw error;
	process.stderr.write(`nightlight ${name}: ${error.message}\nRun nightlight ${name} --help for the options.\n`);
	return 2;
}

/** Checks that need more than one option or more than a type. */
function checkValues(values: Values): void {
	if (typeof values.id === "string" && !isDeviceId(values.id))
		throw new ConfigError(`--id must be 1..64 letters, digits, "_", "." or "-" (one MQTT topic level), got ${JSON.stringify(values.id)}`);
	if (typeof values.broker === "string") {
		try {
			checkBrokerUrl(values.broker);
		}
		catch (error) {
			throw new ConfigError(`--broker: ${messageOf(error)}`);
		}
	}
	if (typeof values.pin === "string") {
		try {
			parsePins(values.pin);
		}
		catch (error) {
			throw new ConfigError(`--pin: ${messageOf(error)}`);
		}
	}
	if (typeof values.share === "string" && !isDeviceId(values.share))
		throw new ConfigError(`--share must be 1..64 letters, digits, "_", "." or "-" (one MQTT topic level), got ${JSON.stringify(values.share)}`);
	if (typeof values.ca === "string") {
		try {
			readFileSync(values.ca);
		}
		catch (error) {
			throw new ConfigError(`--ca: cannot read the CA file ${values.ca}: ${messageOf(error)}`);
		}
	}
	if (values.password !== undefined && values.username === undefined)
		throw new ConfigError("--password needs --username: MQTT sends no password without a user name");
	if (values.threshold !== undefined)
		checkRule({ threshold: values.threshold as number, hysteresis: values.hysteresis as number });
	if (typeof values.groups === "string") {
		try {
			loadGroupsFile(values.groups, { threshold: values.threshold as number, hysteresis: values.hysteresis as number });
		}
		catch (error) {
			throw new ConfigError(`--groups: ${messageOf(error)}`);
		}
	}
	apiTokenOf(values);
	if (typeof values["state-dir"] === "string") {
		try {
			new OverrideFile(values["state-dir"]).load();
		}
		catch (error) {
			throw new ConfigError(`--state-dir: ${messageOf(error)}`);
		}
	}
}

/** The HTTP API's token: --api-token's, or the one in the file --api-token-file names. */
function apiTokenOf(values: Values): string | undefined {
	const file = values["api-token-file"];
	if (typeof file !== "string")
		return values["api-token"] as string | undefined;
	if (values["api-token"] !== undefined)
		throw new ConfigError("give --api-token or --api-token-file, not both");
	let token: string;
	try {
		// A file written by `echo` ends with a newline that is no part of the token.
		token = readFileSync(file, "utf8").trim();
	}
	catch (error) {
		throw new ConfigError(`--api-token-file: cannot read ${file}: ${messageOf(error)}`);
	}
	const problem = apiTokenProblem(token);
	if (problem !== undefined)
		throw new ConfigError(`--api-token-file: the token in ${file} ${problem}`);
	return token;
}

function reportOf(values: Values): Partial<ReportOptions> {
	return {
		mode: values.report as ReportOptions["mode"],
		periodMs: values["period-ms"] as number,
		deadband: values.deadband as number,
		heartbeatMs: values["heartbeat-ms"] as number,
		minGapMs: values["min-gap-ms"] as number,
		smoothing: values.smoothing as number,
	};
}

function startDevice(values: Values, log: Log, url: string): ManagedDevice {
	const id = (values.id as string | undefined) ?? defaultDeviceId();
	const node = startManagedDevice({
		id,
		url,
		username: values.username as string | undefined,
		password: values.password as string | undefined,
		caFile: values.ca as string | undefined,
		pin: values.pin as string | undefined,
		servername: values.servername as string | undefined,
		keepaliveSeconds: values.keepalive as number,
		light: values.light as number,
		samplePeriodMs: values["sample-ms"] as number,
		report: reportOf(values),
		rule: { threshold: values.threshold as number, hysteresis: values.hysteresis as number },
		graceMs: values["grace-ms"] as number,
		outbox: { maxCount: values["outbox-count"] as number, maxBytes: values["outbox-bytes"] as number },
		log,
		onEvent: (event) => {
			if (event.type === "telemetry")
				log("info", "device", `sent ${JSON.stringify({ light: event.light })} to ${id}/telemetry`);
		},
	}, values["state-dir"] as string | undefined, log);
	readStdin(node, log);
	return node;
}

/** Light levels and console commands, typed on stdin. */
function readStdin(managed: ManagedDevice, log: Log): void {
	if (process.stdin.destroyed)
		return;
	const lines = createInterface({ input: process.stdin, terminal: false });
	lines.on("line", (line) => {
		const text = line.trim();
		if (/^[a-z?]/i.test(text) && isConsoleCommand(text)) {
			for (const answer of managed.command(text))
				process.stdout.write(answer + "\n");
			return;
		}
		try {
			const level = parseLevel(line);
			if (level === undefined)
				return;
			managed.node.sensor.set(level);
			log("info", "device", `light set to ${level}`);
		}
		catch (error) {
			log("warn", "device", `${messageOf(error)}, or a command: type help`);
		}
	});
	lines.on("error", () => undefined);
}

/** The dashboard's files: next to dist/nightlight.js once built. */
const DASHBOARD_DIR = fileURLToPath(new URL("./dashboard/", import.meta.url));

/** The nightlight's version, from the package.json next to dist/. */
function version(): string {
	try {
		return (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version?: string }).version ?? "unknown";
	}
	catch {
		return "unknown";
	}
}

async function startServer(values: Values, log: Log, url: string, fatal: (message: string) => void, simulated?: Map<string, SimulatedSensor>): Promise<Running & { http: HttpApi }> {
	const rule = { threshold: values.threshold as number, hysteresis: values.hysteresis as number };
	let http: HttpApi | undefined;
	let integrations: Integrations;
	try {
		integrations = await openIntegrations({
			db: values.db as string | undefined,
			stateDir: values["state-dir"] as string,
			historyDays: values["history-days"] as number,
			haPrefix: values["no-ha"] === true ? undefined : values["ha-prefix"] as string,
			share: values.share as string | undefined,
			version: version(),
			clock: nodeClock,
			log,
		});
	}
	catch (error) {
		const problem = messageOf(error);
		throw new ConfigError(`--db: ${problem}${/[.?!]$/.test(problem) ? "" : "."} Fix --db (NIGHTLIGHT_DB), or run without history: --db none`);
	}
	const extras = integrations;
	let node: ReturnType<typeof startNodeServer>;
	try {
		node = startNodeServer({
			url,
			username: values.username as string | undefined,
			password: values.password as string | undefined,
			caFile: values.ca as string | undefined,
			pin: values.pin as string | undefined,
			servername: values.servername as string | undefined,
			keepaliveSeconds: values.keepalive as number,
			rule,
			share: values.share as string | undefined,
			groups: typeof values.groups === "string" ? loadGroupsFile(values.groups, rule) : [],
			stateDir: values["state-dir"] as string,
			forgetAfterMs: values["forget-after"] as number,
			log,
			notDevices: extras.notDevices,
			onEvent: (event) => {
				http?.send(event);
				extras.observe(event);
			},
			onShareProblem: (problem) => fatal(`--share ${String(values.share)}: ${problem}. Use a broker with MQTT shared subscriptions, such as Mosquitto 2 (the embedded broker has none), or run without --share`),
		});
	}
	catch (error) {
		await extras.stop();
		throw error;
	}
	const handlers = extras.attach(node.server, node.client);
	const host = values["http-listen"] as string;
	const port = values["http-port"] as number;
	const apiToken = apiTokenOf(values);
	try {
		http = await startHttpApi({
			server: node.server,
			log,
			host,
			port,
			...(simulated ? { simulated } : {}),
			brokerUp: () => node.client.connected,
			staticDirs: [DASHBOARD_DIR],
			handlers,
			maxStreams: values["max-streams"] as number,
			...(apiToken === undefined ? {} : { apiToken }),
		});
	}
	catch (error) {
		await node.stop();
		await extras.stop();
		throw listenProblem(error as NodeJS.ErrnoException, host, port, "dashboard", "--http-port (NIGHTLIGHT_HTTP_PORT)", "--http-listen (NIGHTLIGHT_HTTP_LISTEN)");
	}
	const api = http;
	if (!api.auth && !isLoopback(host))
		log("warn", "http", `the HTTP API on ${host}:${api.port} accepts changes (overrides, simulated light) from anyone on your network: set --api-token or NIGHTLIGHT_API_TOKEN, or --http-listen 127.0.0.1`);
	return {
		http: api,
		stop: async () => {
			await api.close();
			await node.stop();
			await extras.stop();
		},
	};
}

async function runDevice(values: Values, log: Log): Promise<Running> {
	const node = startDevice(values, log, values.broker as string);
	process.stdout.write(`device ${node.node.device.id} → ${redactUrl(String(node.settings.values.broker))}; type a light level 0..1023 and Enter to change it, or help for the console\n`);
	return node;
}

async function runServer(values: Values, log: Log, fatal: (message: string) => void): Promise<Running> {
	const server = await startServer(values, log, values.broker as string, fatal);
	process.stdout.write(`server → ${redactUrl(values.broker as string)}; dashboard and HTTP API at ${server.http.url}${server.http.auth ? "; changes need the API token" : ""}\n`);
	return server;
}

async function runBroker(values: Values, log: Log): Promise<Running> {
	const broker = await startBroker({
		host: values.listen as string,
		mqttPort: values["mqtt-port"] as number,
		wsPort: values["ws-port"] as number,
		log,
	});
	process.stdout.write(brokerLines(broker).join("\n") + "\n");
	return { stop: () => broker.close() };
}

async function runUp(values: Values, log: Log, fatal: (message: string) => void): Promise<Running> {
	const broker = await startBroker({
		host: values.listen as string,
		mqttPort: values["mqtt-port"] as number,
		wsPort: values["ws-port"] as number,
		log,
	});
	// The server and the device reach the broker over loopback when it listens on every address.
	const local = broker.host === "0.0.0.0" || broker.host === "::" ? `mqtt://127.0.0.1:${broker.mqttPort}` : broker.mqttUrl;
	const id = (values.id as string | undefined) ?? defaultDeviceId();
	const { threshold, hysteresis } = values;
	const simulated = new Map<string, SimulatedSensor>();
	let server: (Running & { http: HttpApi }) | undefined;
	let device: ManagedDevice | undefined;
	try {
		server = await startServer(values, log, local, fatal, simulated);
		const managed = startDevice({ ...values, id }, log, local);
		device = managed;
		// The sensor of whichever device runs now: a reboot from the console starts a new one.
		simulated.set(id, { set: (level) => managed.node.sensor.set(level) });
	}
	catch (error) {
		await server?.stop();
		await broker.close();
		throw error;
	}
	process.stdout.write([
		"nightlight is up:",
		...brokerLines(broker),
		`  server           threshold ${threshold}, hysteresis ${hysteresis}: the LED goes on below ${threshold} and off at ${Number(threshold) + Number(hysteresis)} or above`,
		`  dashboard        ${server.http.url}  (and the HTTP API under ${server.http.url}api/${server.http.auth ? "; changes need the API token" : ""})`,
		`  device           ${id}, light ${values.light}: topics ${id}/telemetry, /commands, /state, /status`,
		"Type a light level 0..1023 and Enter to change the simulated light (dark is low). Ctrl-C stops.",
		"",
	].join("\n"));
	const running = device;
	return {
		stop: async () => {
			await running.stop();
			await server?.stop();
			await broker.close();
		},
	};
}

function brokerLines(broker: { mqttUrl: string; wsUrl: string | undefined; host: string }): string[] {
	const scope = broker.host === "127.0.0.1" || broker.host === "::1" || broker.host === "localhost"
		? "this machine only; --listen 0.0.0.0 opens it to your network"
		: `on ${broker.host}: reachable from other machines, with no password`;
	const lines = [`  MQTT broker      ${broker.mqttUrl}  (${scope})`];
	if (broker.wsUrl)
		lines.push(`  MQTT WebSocket   ${broker.wsUrl}`);
	return lines;
}

// A reader that goes away (`nightlight up | head`) must not bring the nightlight down with it.
process.stdout.on("error", () => undefined);
process.stderr.on("error", () => undefined);

main(process.argv.slice(2)).then((code) => process.exit(code), (error) => {
	process.stderr.write(`nightlight: unexpected failure: ${error instanceof Error ? error.stack : String(error)}\n`);
	process.exit(1);
});
