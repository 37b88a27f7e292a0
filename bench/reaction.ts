/*
 * Reaction time: a light step on a simulated device to the LED applied on that device, through a
 * real broker and a server, at random moments. Three configurations in the same run:
 * - ours, with a sensor that signals a change (the Node simulated sensor does);
 * - ours, with a sensor that is only polled every 100 ms (an ADC without an interrupt);
 * - the lesson's: a reading every 2 s, and a server that sends a command for every reading.
 * Several devices run at once to keep the run short; each step waits for its own LED.
 */
import mqtt from "mqtt";
import type { Led } from "../src/ports.js";
import { startNodeDevice } from "../hosts/node/device.js";
import { startNodeServer } from "../server/node.js";
import type { TestBroker } from "../test/support/brokers.js";
import { sleep, until } from "../test/support/wait.js";

export interface ReactionResult {
	name: string;
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

export type ReactionConfig = "ours" | "ours-polled" | "lesson";

const NAMES: Record<ReactionConfig, string> = {
	"ours": "nightlight defaults, sensor signals changes",
	"ours-polled": "nightlight defaults, sensor polled every 100 ms",
	"lesson": "lesson-style: reading every 2 s, a command for each",
};

/** A lesson-style server: a QoS 0 command for every reading, no state kept. */
async function lessonServer(url: string): Promise<mqtt.MqttClient> {
	const client = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
	client.on("message", (topic, payload) => {
		const light = (JSON.parse(payload.toString()) as { light: number }).light;
		client.publish(topic.replace(/telemetry$/, "commands"), JSON.stringify({ led_on: light < 300 }), { qos: 0 });
	});
	await client.subscribeAsync("+/telemetry", { qos: 0 });
	return client;
}

export async function reaction(broker: TestBroker, config: ReactionConfig, steps: number, parallel = 4): Promise<ReactionResult> {
	const quiet = () => undefined;
	const stopServer = config === "lesson"
		? await lessonServer(broker.url).then((client) => () => client.endAsync())
		: (() => { const server = startNodeServer({ url: broker.url, rule: { threshold: 300, hysteresis: 20 }, log: quiet }); return () => server.stop(); })();
	const times: number[] = [];
	const run = async (index: number) => {
		const led = new TimedLed();
		const node = startNodeDevice({
			id: `bench-${config}-${process.pid}-${index}`,
			url: broker.url,
			light: 700,
			led,
			log: quiet,
			// Polled: the core finds a change at its next sample (100 ms period).
			sensorSignals: config === "ours",
			...(config === "lesson" ? { report: { mode: "period" as const, periodMs: 2_000 } } : {}),
		});
		try {
			await until(() => node.device.stats.commandsApplied > 0, "the first command", 15_000);
			for (let i = 0; i < steps / parallel; i++) {
				// At least 400 ms apart: closer steps are held back by the 250 ms minimum gap, by design.
				await sleep(400 + Math.random() * 1_000);
				const target = !led.on;
				const startedAt = performance.now();
				node.sensor.set(target ? 100 : 700);
				await until(() => led.on === target, "the LED", 10_000);
				times.push(led.changedAt - startedAt);
			}
		}
		finally {
			await node.stop();
		}
	};
	try {
		await Promise.all(Array.from({ length: parallel }, (_, index) => run(index)));
	}
	finally {
		await stopServer();
	}
	times.sort((a, b) => a - b);
	const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
	return { name: NAMES[config], steps: times.length, p50: at(0.5), p99: at(0.99), max: times[times.length - 1]! };
}
