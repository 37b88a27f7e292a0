/* The server on Node: npm `mqtt`, the Node clock and a console log around the portable Server. */
import type { Log } from "../src/ports.js";
import type { RuleOptions } from "../src/rule.js";
import { nodeClock } from "../runtime/node/clock.js";
import { type NodeMqttClient, connectMqtt, endClient, watchConnection } from "../runtime/node/mqtt.js";
import { Server, type ServerEvent, serverWill } from "./server.js";

export interface NodeServerOptions {
	url: string;
	username?: string | undefined;
	password?: string | undefined;
	caFile?: string | undefined;
	/** Certificate pins for mqtts:// and wss:// (see ConnectOptions.pin). */
	pin?: string | undefined;
	/** The name the broker's certificate must carry, when it is not the URL's host. */
	servername?: string | undefined;
	rule: RuleOptions;
	/** Shared-subscription group, to split the fleet with other servers. */
	share?: string | undefined;
	log: Log;
	onEvent?: (event: ServerEvent) => void;
}

export interface NodeServer {
	server: Server;
	client: NodeMqttClient;
	stop(): Promise<void>;
}

export function startNodeServer(options: NodeServerOptions): NodeServer {
	const suffix = Math.floor(Math.random() * 0x1000000).toString(16).padStart(6, "0");
	const client = connectMqtt({
		url: options.url,
		clientId: `nightlight-server-${suffix}`,
		username: options.username,
		password: options.password,
		caFile: options.caFile,
		pin: options.pin,
		servername: options.servername,
		will: serverWill(),
		// The server's Link reconnects, with backoff.
		reconnectPeriodMs: 0,
	});
	watchConnection(client, options.url, options.log, "server");
	let server: Server;
	try {
		server = new Server({
			mqtt: client,
			clock: nodeClock,
			log: options.log,
			rule: options.rule,
			share: options.share,
			...(options.onEvent ? { onEvent: options.onEvent } : {}),
		});
	}
	catch (error) {
		client.end(true);
		throw error;
	}
	server.start();
	return {
		server,
		client,
		stop: () => endClient(client, () => server.stop()),
	};
}
