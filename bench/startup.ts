/*
 * Start-up on Node: from spawning `nightlight device` to its first reading arriving at a
 * subscriber, through a broker on 127.0.0.1. The XS figure (evaluate the bundle, start, first
 * reading published) comes from bench/xs.ts.
 */
import { spawn } from "node:child_process";
import mqtt from "mqtt";
import type { TestBroker } from "../test/support/brokers.js";
import { until } from "../test/support/wait.js";

export async function startup(broker: TestBroker, runs = 5): Promise<number[]> {
	const subscriber = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
	const firstSeen = new Map<string, number>();
	subscriber.on("message", (topic, _payload, packet) => {
		if (!packet.retain && !firstSeen.has(topic))
			firstSeen.set(topic, performance.now());
	});
	await subscriber.subscribeAsync("+/telemetry", { qos: 0 });
	const times: number[] = [];
	try {
		for (let run = 0; run < runs; run++) {
			const id = `startup-${process.pid}-${run}`;
			const started = performance.now();
			const child = spawn(process.execPath, ["dist/nightlight.js", "device", "--broker", broker.url, "--id", id, "--log-level", "error"], { stdio: ["ignore", "ignore", "ignore"] });
			try {
				await until(() => firstSeen.get(`${id}/telemetry`), "the first reading", 15_000);
				times.push(firstSeen.get(`${id}/telemetry`)! - started);
			}
			finally {
				child.kill("SIGKILL");
			}
		}
	}
	finally {
		await subscriber.endAsync();
	}
	return times.sort((a, b) => a - b);
}
