/*
 * MQTT on Node: npm `mqtt` (MQTT.js) with our settings, and a watcher that turns connection
 * faults into one clear line each (what went wrong, what to do) instead of a stack trace.
 * With `reconnectPeriodMs: 0` MQTT.js leaves reconnection to the core's Link (with backoff).
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { type ConnectionOptions, type PeerCertificate, checkServerIdentity } from "node:tls";
import mqtt from "mqtt";
import { messageOf } from "../../src/errors.js";
import type { Log } from "../../src/ports.js";

export type NodeMqttClient = mqtt.MqttClient;

/** Where the broker is and how to prove who we are: what a device, a server and the CLI all take. */
export type BrokerOptions = Pick<ConnectOptions, "url" | "username" | "password" | "caFile" | "pin" | "servername" | "keepaliveSeconds">;

/**
 * The MQTT keep-alive, in seconds. MQTT.js pings after this long without hearing the broker and
 * gives the link up after 1.5 times it, as the broker does for a silent client: 10 s notices a dead
 * link (a half-open TCP connection, a black hole) within 15 s, close to the device's 10 s grace period.
 */
export const DEFAULT_KEEPALIVE_SECONDS = 10;

export interface ConnectOptions {
	url: string;
	clientId: string;
	username?: string | undefined;
	password?: string | undefined;
	/** PEM file of the CA that signed the broker's certificate, for mqtts:// and wss://. */
	caFile?: string | undefined;
	/**
	 * Certificate pins, comma-separated: the SHA-256 fingerprint of a certificate the broker's chain
	 * must contain (its own, an intermediate's or the root's), as `sha256/<base64>` or hex.
	 */
	pin?: string | undefined;
	/** The name the broker's certificate must carry, when it is not the URL's host. */
	servername?: string | undefined;
	will?: { topic: string; payload: string; qos: 0 | 1 | 2; retain: boolean } | undefined;
	clean?: boolean;
	keepaliveSeconds?: number | undefined;
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
	// MQTT.js passes its options on to tls.connect, so Node's TLS options work for mqtts:// too.
	const clientOptions: mqtt.IClientOptions & Pick<ConnectionOptions, "checkServerIdentity" | "servername"> = {
		clientId: options.clientId,
		clean: options.clean ?? true,
		keepalive: options.keepaliveSeconds ?? DEFAULT_KEEPALIVE_SECONDS,
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
	const pins = options.pin ? parsePins(options.pin) : [];
	if (pins.length)
		clientOptions.checkServerIdentity = pinnedIdentity(pins);
	if (options.servername)
		clientOptions.servername = options.servername;
	// MQTT.js hands only some TLS options to a wss:// socket: give it the same checks as mqtts://.
	// `ws` passes them on to tls.connect (its typing of checkServerIdentity is not Node's).
	if (new URL(options.url).protocol === "wss:") {
		clientOptions.wsOptions = {
			...(clientOptions.ca ? { ca: clientOptions.ca } : {}),
			...(clientOptions.checkServerIdentity ? { checkServerIdentity: clientOptions.checkServerIdentity } : {}),
			...(options.servername ? { servername: options.servername } : {}),
		} as NonNullable<mqtt.IClientOptions["wsOptions"]>;
	}
	return mqtt.connect(options.url, clientOptions);
}

/** The error a certificate pin mismatch is reported with. */
export const PIN_MISMATCH = "ERR_NIGHTLIGHT_PIN_MISMATCH";

/**
 * Parses `--pin`: comma-separated SHA-256 fingerprints, each `sha256/<base64>` or 64 hex digits
 * (colons allowed, as `openssl x509 -fingerprint -sha256` prints them). Returns them as hex.
 */
export function parsePins(text: string): string[] {
	return text.split(",").map((item) => item.trim()).filter(Boolean).map((item) => {
		const base64 = /^sha256\/([A-Za-z0-9+/]{43}=)$/.exec(item);
		if (base64)
			return Buffer.from(base64[1]!, "base64").toString("hex");
		const hex = item.replace(/^sha256[/:]/i, "").replaceAll(":", "").toLowerCase();
		if (/^[0-9a-f]{64}$/.test(hex))
			return hex;
		throw new RangeError(`pin ${JSON.stringify(item)} is not a SHA-256 fingerprint: expected sha256/<44 characters of base64> or 64 hex digits (openssl x509 -noout -fingerprint -sha256 -in cert.pem)`);
	});
}

/** The SHA-256 fingerprints (hex) of a peer certificate and its issuers. */
function chainFingerprints(cert: PeerCertificate): string[] {
	const prints: string[] = [];
	let current: PeerCertificate | undefined = cert;
	while (current?.raw && prints.length < 10) {
		const print = createHash("sha256").update(current.raw).digest("hex");
		if (prints.includes(print))
			break;
		prints.push(print);
		current = (current as PeerCertificate & { issuerCertificate?: PeerCertificate }).issuerCertificate;
	}
	return prints;
}

/** Node's own host name check, then: some certificate of the chain must match a pin. */
function pinnedIdentity(pins: string[]): (host: string, cert: PeerCertificate) => Error | undefined {
	return (host, cert) => {
		const failure = checkServerIdentity(host, cert);
		if (failure)
			return failure;
		const prints = chainFingerprints(cert);
		if (prints.some((print) => pins.includes(print)))
			return undefined;
		const leaf = Buffer.from(prints[0] ?? "", "hex").toString("base64");
		return Object.assign(new Error(`the broker's certificate matches no pin (its own is sha256/${leaf})`), { code: PIN_MISMATCH });
	};
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
	if (code === PIN_MISMATCH)
		return `TLS with ${url} refused: ${message}; the broker's certificate changed, or someone is in between: check the certificate, then update --pin (NIGHTLIGHT_PIN)`;
	if (code === "UNABLE_TO_VERIFY_LEAF_SIGNATURE" || code === "UNABLE_TO_GET_ISSUER_CERT_LOCALLY" || code === "UNABLE_TO_GET_ISSUER_CERT" || code === "SELF_SIGNED_CERT_IN_CHAIN" || code === "DEPTH_ZERO_SELF_SIGNED_CERT")
		return `TLS with ${url} refused: the broker's certificate is not signed by a CA this client trusts (${code}): give the CA that signed it with --ca FILE (NIGHTLIGHT_CA), e.g. deploy/mosquitto/lab/ca.crt`;
	if (code === "CERT_HAS_EXPIRED")
		return `TLS with ${url} refused: the broker's certificate has expired (${code}): renew the broker's certificate (and check this machine's clock)`;
	if (code === "CERT_NOT_YET_VALID")
		return `TLS with ${url} refused: the broker's certificate is not valid yet (${code}): check this machine's clock`;
	if (code === "ERR_TLS_CERT_ALTNAME_INVALID")
		return `TLS with ${url} refused: the broker's certificate is for another name (${message}): connect with a host name the certificate lists, or give the expected one with --servername (NIGHTLIGHT_SERVERNAME)`;
	if (typeof code === "string" && (code.startsWith("ERR_TLS") || code.includes("CERT") || code.startsWith("ERR_SSL")))
		return `TLS with ${url} failed: ${message} (${code}): check the CA file (--ca) and that the URL's host matches the certificate`;
	return `MQTT error with ${url}: ${message}${code === undefined ? "" : ` (${code})`}`;
}
