/*
 * Reaction time: a light step on a simulated device to the LED applied on that device, through a
 * real broker and the server, at random moments. Default settings on both sides.
 */
import type { Led } from "../src/ports.js";
import { startNodeDevice } from "../hosts/node/device.js";
import { startNodeServer } from "../server/node.js";
import { type TestBroker, mosquittoPath, startAedes, startMosquitto } from "../test/support/brokers.js";
import { sleep, until } from "../test/support/wait.js";

export interface ReactionResult {
	broker: string;
	steps: number;
	p50: number;
	p99: number;
	max: number;
}

class TimedLed implements Led {
	on = false;
	changedAt = 0;
	write(on: boolean): void {
		if (on !== this.on)
			this.changedAt = performance.now();
		this.on = on;
	}
}

export async function reaction(broker: TestBroker, steps: number): Promise<ReactionResult> {
	const led = new TimedLed();
	const quiet = () => undefined;
	const server = startNodeServer({ url: broker.url, rule: { threshold: 300, hysteresis: 20 }, log: quiet });
	const node = startNodeDevice({ id: `bench-reaction-${process.pid}`, url: broker.url, light: 700, led, log: quiet });
	const times: number[] = [];
	try {
		await until(() => node.device.stats.commandsApplied > 0, "the first command", 10_000);
		for (let i = 0; i < steps; i++) {
			// Steps at least 400 ms apart: closer ones are held back by the 250 ms minimum gap, by design.
			await sleep(400 + Math.random() * 1_000);
			const target = !led.on;
			const startedAt = performance.now();
			node.sensor.set(target ? 100 : 700);
			await until(() => led.on === target, "the LED", 5_000);
			times.push(led.changedAt - startedAt);
		}
	}
	finally {
		await node.stop();
		await server.stop();
	}
	times.sort((a, b) => a - b);
	const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
	return { broker: broker.name, steps, p50: at(0.5), p99: at(0.99), max: times[times.length - 1]! };
}

export async function reactionAll(steps: number): Promise<ReactionResult[]> {
	const results: ReactionResult[] = [];
	const starters = [startAedes, ...(mosquittoPath() ? [() => startMosquitto()] : [])];
	for (const start of starters) {
		const broker = await start();
		try {
			results.push(await reaction(broker, steps));
		}
		finally {
			await broker.stop();
		}
	}
	return results;
}
