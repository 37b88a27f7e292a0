/*
 * MQTT on Node: npm `mqtt` (MQTT.js) with our settings, and a watcher that turns connection
 * faults into one clear line each (what went wrong, what to do) instead of a stack trace.
 * With `reconnectPeriodMs: 0` MQTT.js leaves reconnection to the core's Link (with backoff).
 */
import { readFileSync } from "node:fs";
import mqtt from "mqtt";
import { messageOf } from "../../src/errors.js";
import type { Log } from "../../src/ports.js";

export type NodeMqttClient = mqtt.MqttClient;

export interface ConnectOptions {
	url: string;
	clientId: string;
	username?: string | undefined;
	password?: string | undefined;
	/** PEM file of the CA that signed the broker's certificate, for mqtts:// and wss://. */
	caFile?: string | undefined;
	will?: { topic: string; payload: string; qos: 0 | 1 | 2; retain: boolean } | undefined;
	clean?: boolean;
	keepaliveSeconds?: number;
	reconnectPeriodMs?: number;
	connectTimeoutMs?: number;
}

export const SUPPORTED_SCHEMES = ["mqtt:", "mqtts:", "ws:", "wss:"];

/** Throws a RangeError saying what is wrong with a broker URL. */
export function checkBrokerUrl(text: string): URL {
	let url: URL;
	try {
		url = new URL(text);
	}
	catch {
		throw new RangeError(`broker URL ${JSON.stringify(text)} is not a URL; expected e.g. mqtt://127.0.0.1:1883`);
	}
	if (!SUPPORTED_SCHEMES.includes(url.protocol))
		throw new RangeError(`broker URL ${JSON.stringify(redactUrl(text))} has scheme ${url.protocol}; use mqtt://, mqtts://, ws:// or wss://`);
	if (!url.hostname)
		throw new RangeError(`broker URL ${JSON.stringify(redactUrl(text))} has no host`);
	return url;
}

/** The URL without a password in it, fit for a log. */
export function redactUrl(text: string): string {
	try {
		const url = new URL(text);
		if (url.password)
			url.password = "***";
		return url.toString();
	}
	catch {
		return text;
	}
}

export function connectMqtt(options: ConnectOptions): NodeMqttClient {
	const clientOptions: mqtt.IClientOptions = {
		clientId: options.clientId,
		clean: options.clean ?? true,
		keepalive: options.keepaliveSeconds ?? 30,
		reconnectPeriod: options.reconnectPeriodMs ?? 1_000,
		connectTimeout: options.connectTimeoutMs ?? 10_000,
		// The core subscribes in its connect handler; MQTT.js must not do it a second time.
		resubscribe: false,
		queueQoSZero: false,
	};
	if (options.username !== undefined)
		clientOptions.username = options.username;
	if (options.password !== undefined)
		clientOptions.password = options.password;
	if (options.will)
		clientOptions.will = { ...options.will, payload: Buffer.from(options.will.payload) };
	if (options.caFile) {
		try {
			clientOptions.ca = readFileSync(options.caFile);
		}
		catch (error) {
			throw new RangeError(`cannot read the CA file ${options.caFile}: ${messageOf(error)}`);
		}
	}
	return mqtt.connect(options.url, clientOptions);
}

/**
 * Runs `before` (the owner saying goodbye), then ends the client, flushing what is in flight;
 * resolves within `timeoutMs` even if the broker never answers or the client was already ended.
 */
export function endClient(client: NodeMqttClient, before: () => void, timeoutMs = 2_000): Promise<void> {
	return new Promise<void>((resolve) => {
		try {
			before();
		}
		finally {
			if (client.disconnected || client.disconnecting) {
				client.end(true, {}, () => resolve());
				setTimeout(resolve, 100).unref();
			}
			else {
				const timer = setTimeout(() => client.end(true, {}, () => resolve()), timeoutMs);
				timer.unref();
				client.end(false, {}, () => {
					clearTimeout(timer);
					resolve();
				});
			}
		}
	});
}

/** Logs connects, losses and faults of a client, each fault explained once until it changes. */
export function watchConnection(client: NodeMqttClient, url: string, log: Log, tag: string): void {
	const shown = redactUrl(url);
	let lastProblem = "";
	let lastProblemAt = 0;
	let wasConnected = false;
	let erredThisAttempt = false;
	const report = (problem: string) => {
		const now = Date.now();
		if (problem === lastProblem && now - lastProblemAt < 30_000)
			return;
		const again = problem === lastProblem ? " (still)" : "";
		lastProblem = problem;
		lastProblemAt = now;
		const retry = client.options.reconnectPeriod ? `every ${client.options.reconnectPeriod} ms` : "with backoff";
		log("error", tag, `${problem}${again}; retrying ${retry}`);
	};
	client.on("connect", () => {
		log("info", tag, `connected to ${shown}`);
		lastProblem = "";
		wasConnected = true;
	});
	client.on("offline", () => {
		if (wasConnected)
			log("warn", tag, `lost the connection to ${shown}; reconnecting`);
		wasConnected = false;
	});
	client.on("error", (error) => {
		erredThisAttempt = true;
		report(explainMqttError(error, shown));
	});
	client.on("close", () => {
		// Closed before the broker answered, with no error: something that is not an MQTT broker
		// (or not without TLS) took the connection and hung up.
		if (!wasConnected && !erredThisAttempt)
			report(`the server at ${shown} closed the connection without answering MQTT: if that port speaks TLS, use mqtts://; otherwise check the port`);
		erredThisAttempt = false;
	});
}

/** One line: what went wrong talking to the broker, and what to do about it. */
export function explainMqttError(error: Error & { code?: string | number }, url: string): string {
	const code = error.code;
	const message = error.message;
	if (code === "ECONNREFUSED")
		return `nothing is listening at ${url}: start a broker (npm run broker, or Mosquitto) or fix the broker URL`;
	if (code === "ENOTFOUND" || code === "EAI_AGAIN")
		return `cannot resolve the broker's host name in ${url}: check the broker URL`;
	if (code === "ETIMEDOUT" || code === "EHOSTUNREACH" || code === "ENETUNREACH")
		return `cannot reach ${url} (${code}): check the host, the port and the network`;
	if (code === "ECONNRESET" || code === "EPIPE")
		return `the broker at ${url} closed the connection (${code}): if that port speaks TLS, use mqtts://`;
	if (code === 4 || /bad user ?name or password/i.test(message))
		return `the broker at ${url} refused the username or password: check --username and --password (NIGHTLIGHT_USERNAME, NIGHTLIGHT_PASSWORD)`;
	if (code === 5 || code === 135 || /not authori[sz]ed/i.test(message))
		return `the broker at ${url} refused this client (not authorized): check --username and --password (NIGHTLIGHT_USERNAME, NIGHTLIGHT_PASSWORD) and the broker's access rules`;
	if (typeof code === "string" && (code.startsWith("ERR_TLS") || code.includes("CERT") || code.startsWith("ERR_SSL")))
		return `TLS with ${url} failed: ${message} (${code}): check the CA file (--ca) and that the URL's host matches the certificate`;
	return `MQTT error with ${url}: ${message}${code === undefined ? "" : ` (${code})`}`;
}
