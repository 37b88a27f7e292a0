/* The server on Node: npm `mqtt`, the Node clock and a console log around the portable Server. */
import type { Log } from "../src/ports.js";
import type { RuleOptions } from "../src/rule.js";
import type { LinkPolicy } from "../src/link.js";
import { nodeClock } from "../runtime/node/clock.js";
import { type BrokerOptions, type NodeMqttClient, connectMqtt, endClient, watchConnection } from "../runtime/node/mqtt.js";
import type { GroupConfig } from "./groups.js";
import { Server, type ServerEvent, serverWill } from "./server.js";
import { OverrideFile } from "./state.js";

export interface NodeServerOptions extends BrokerOptions {
	rule: RuleOptions;
	/** Shared-subscription group, to split the fleet with other servers. */
	share?: string | undefined;
	groups?: GroupConfig[] | undefined;
	/** Where the overrides are kept across restarts; undefined: not kept. */
	stateDir?: string | undefined;
	/** A device not heard for this long is forgotten; default 30 days. */
	forgetAfterMs?: number | undefined;
	log: Log;
	/** The reconnection policy (src/link.ts). */
	link?: Partial<LinkPolicy>;
	onEvent?: (event: ServerEvent) => void;
	/** With `share`: the broker has no shared subscriptions (see server/share-probe.ts). */
	onShareProblem?: (problem: string) => void;
	/** First topic levels that are not devices (see ServerOptions). */
	notDevices?: string[];
}

export interface NodeServer {
	server: Server;
	client: NodeMqttClient;
	stop(): Promise<void>;
}

export function startNodeServer(options: NodeServerOptions): NodeServer {
	// Read before connecting: a damaged state file is a configuration error, not a run-time fault.
	const file = options.stateDir === undefined ? undefined : new OverrideFile(options.stateDir);
	const overrides = file?.load() ?? [];
	const keep = (write: (file: OverrideFile) => void) => {
		if (!file)
			return;
		try {
			write(file);
		}
		catch (error) {
			options.log("error", "server", `cannot save the overrides to ${file.path}: ${(error as Error).message}`);
		}
	};
	// Start from one snapshot, with nothing after a line a power cut may have torn.
	keep((saved) => saved.journalLines > 0 && saved.save(overrides));
	const suffix = Math.floor(Math.random() * 0x1000000).toString(16).padStart(6, "0");
	const clientId = `nightlight-server-${suffix}`;
	const client = connectMqtt({
		url: options.url,
		clientId,
		username: options.username,
		password: options.password,
		caFile: options.caFile,
		pin: options.pin,
		servername: options.servername,
		keepaliveSeconds: options.keepaliveSeconds,
		will: serverWill(),
		// The server's Link reconnects, with backoff.
		reconnectPeriodMs: 0,
	});
	watchConnection(client, options.url, options.log, "server");
	const onEvent = options.onEvent;
	let server: Server;
	try {
		server = new Server({
			mqtt: client,
			clock: nodeClock,
			log: options.log,
			rule: options.rule,
			share: options.share,
			instance: clientId,
			groups: options.groups ?? [],
			overrides,
			notDevices: options.notDevices ?? [],
			...(options.link ? { link: options.link } : {}),
			...(options.forgetAfterMs === undefined ? {} : { forgetAfterMs: options.forgetAfterMs }),
			...(options.onShareProblem ? { onShareProblem: options.onShareProblem } : {}),
			// Every change of the overrides is kept, whichever server of the fleet made it.
			onEvent: (event) => {
				if (event.type === "overrides")
					keep((saved) => saved.record(event.change, () => server.overrides()));
				onEvent?.(event);
			},
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
