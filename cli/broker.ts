/*
 * The embedded broker of the local stack: Aedes, speaking MQTT on TCP and MQTT over WebSocket.
 * It listens on 127.0.0.1 unless told otherwise. For anything beyond a lab, run Mosquitto.
 *
 * It speaks MQTT 3.1 and 3.1.1 only: an MQTT 5 client is refused with CONNACK return code 1
 * (unacceptable protocol version), and it has no shared subscriptions (`$share/…` is taken as a
 * plain filter that matches nothing). An empty client id with clean session off is refused with
 * return code 2 (identifier rejected), as MQTT 3.1.1 §3.1.3-8 requires: the broker could not
 * find that session again. Retained messages, wills, QoS 1 and 2, persistent sessions (in memory)
 * and keep-alive work as the standard says (test/integration/broker.test.ts).
 */
import { type Server as NetServer, createServer } from "node:net";
import { type Server as HttpServer, createServer as createHttpServer } from "node:http";
import { Aedes, type AuthenticateError } from "aedes";
import { WebSocketServer, createWebSocketStream } from "ws";
import { messageOf } from "../src/errors.js";
import type { Log } from "../src/ports.js";

const TAG = "broker";

export interface BrokerOptions {
	host: string;
	/** 0 picks a free port. */
	mqttPort: number;
	/** 0 picks a free port; undefined: no WebSocket listener. */
	wsPort?: number | undefined;
	log: Log;
}

export interface Broker {
	mqttUrl: string;
	wsUrl: string | undefined;
	host: string;
	mqttPort: number;
	wsPort: number | undefined;
	close(): Promise<void>;
}

export async function startBroker(options: BrokerOptions): Promise<Broker> {
	const { host, log } = options;
	// A client with an empty id and clean session off: refused at authentication, which answers with a CONNACK.
	const unnamedSessions = new WeakSet<object>();
	const aedes = await Aedes.createBroker({
		preConnect: (client, packet, callback) => {
			if (!packet.clientId && packet.clean === false)
				unnamedSessions.add(client);
			callback(null, true);
		},
		authenticate: (client, _username, _password, callback) => {
			if (!unnamedSessions.has(client))
				return callback(null, true);
			const error = new Error("identifier rejected: a persistent session (clean session off) needs a client id") as AuthenticateError;
			error.returnCode = 2 as AuthenticateError["returnCode"];
			callback(error, false);
		},
	});
	aedes.on("clientError", (client, error) => log("debug", TAG, `client ${client?.id ?? "?"}: ${error.message}`));
	aedes.on("connectionError", (client, error) => log("debug", TAG, `connection ${client?.id ?? "?"}: ${error.message}`));
	aedes.on("client", (client) => log("debug", TAG, `client ${client.id} connected`));
	aedes.on("clientDisconnect", (client) => log("debug", TAG, `client ${client.id} disconnected`));

	const tcp = createServer(aedes.handle);
	let http: HttpServer | undefined;
	let wss: WebSocketServer | undefined;
	try {
		const mqttPort = await listen(tcp, host, options.mqttPort, "MQTT", "--mqtt-port (NIGHTLIGHT_MQTT_PORT)", LISTEN_OPTION);
		let wsPort: number | undefined;
		if (options.wsPort !== undefined) {
			http = createHttpServer((_request, response) => {
				response.writeHead(426, { "content-type": "text/plain" });
				response.end("This port speaks MQTT over WebSocket.\n");
			});
			wss = new WebSocketServer({ server: http });
			// It re-emits the HTTP server's errors, which listen() below reports.
			wss.on("error", () => undefined);
			wss.on("connection", (socket, request) => {
				const stream = createWebSocketStream(socket);
				stream.on("error", (error) => log("debug", TAG, `websocket: ${error.message}`));
				aedes.handle(stream, request);
			});
			wsPort = await listen(http, host, options.wsPort, "MQTT over WebSocket", "--ws-port (NIGHTLIGHT_WS_PORT)", LISTEN_OPTION);
		}
		const shownHost = host.includes(":") ? `[${host}]` : host;
		return {
			host,
			mqttPort,
			wsPort,
			mqttUrl: `mqtt://${shownHost}:${mqttPort}`,
			wsUrl: wsPort === undefined ? undefined : `ws://${shownHost}:${wsPort}`,
			close: () => closeAll(aedes, tcp, http, wss),
		};
	}
	catch (error) {
		await closeAll(aedes, tcp, http, wss);
		throw error;
	}
}

const LISTEN_OPTION = "--listen (NIGHTLIGHT_LISTEN)";

/**
 * Why a listener could not start, naming the option to change: `portOption` and `hostOption` as
 * the user knows them, e.g. "--mqtt-port (NIGHTLIGHT_MQTT_PORT)".
 */
export function listenProblem(error: NodeJS.ErrnoException, host: string, port: number, what: string, portOption: string, hostOption: string): BrokerError {
	switch (error.code) {
	case "EADDRINUSE":
		return new BrokerError(`port ${port} on ${host} is already in use, so the ${what} listener cannot start: stop the other program (is Mosquitto running?) or choose another port with ${portOption}`);
	case "EADDRNOTAVAIL":
		return new BrokerError(`${host} is not an address of this machine, so the ${what} listener cannot start: choose another with ${hostOption}, e.g. 127.0.0.1 or 0.0.0.0`);
	case "ENOTFOUND":
	case "EAI_AGAIN":
		return new BrokerError(`${host} is not a known address or host name, so the ${what} listener cannot start: choose another with ${hostOption}, e.g. 127.0.0.1 or 0.0.0.0`);
	case "EACCES":
		return new BrokerError(`not allowed to listen on port ${port}: choose a port above 1023 with ${portOption}`);
	default:
		return new BrokerError(`the ${what} listener cannot start on ${host}:${port}: ${messageOf(error)}; check ${hostOption} and ${portOption}`);
	}
}

function listen(server: NetServer | HttpServer, host: string, port: number, what: string, portOption: string, hostOption: string): Promise<number> {
	return new Promise((resolve, reject) => {
		const onError = (error: NodeJS.ErrnoException) => reject(listenProblem(error, host, port, what, portOption, hostOption));
		server.once("error", onError);
		server.listen(port, host, () => {
			server.off("error", onError);
			const address = server.address();
			resolve(typeof address === "object" && address ? address.port : port);
		});
	});
}

async function closeAll(aedes: Aedes, tcp: NetServer, http: HttpServer | undefined, wss: WebSocketServer | undefined): Promise<void> {
	for (const client of wss?.clients ?? [])
		client.terminate();
	await new Promise<void>((resolve) => (wss ? wss.close(() => resolve()) : resolve()));
	await new Promise<void>((resolve) => aedes.close(() => resolve()));
	await Promise.all([tcp, http].map((server) => new Promise<void>((resolve) => {
		if (!server?.listening)
			return resolve();
		server.close(() => resolve());
		// Connections still open after the broker closed them must not keep the process alive.
		(server as NetServer & { closeAllConnections?: () => void }).closeAllConnections?.();
	})));
}

/** A listener cannot start with the settings given: the CLI says why and exits 2. */
export class BrokerError extends Error {
	override name = "BrokerError";
}
