/*
 * The baseline for the XS memory benchmark: the nightlight as the classic lesson writes it on top
 * of an mqtt/js-style client, bare: every 2 s read the sensor and publish {"light": N}; on a
 * command, parse it and set the LED. Same fake clock and counting client as our workload, so the
 * two are measured the same way. `empty` loads nothing but this harness, to weigh the harness.
 */
import { FakeClock } from "../test/support/fake-clock.js";
import { CountingMqtt } from "../test/xs/workload.js";

declare function gc(): void;

class BareNightlight {
	clock = new FakeClock();
	mqtt = new CountingMqtt();
	level = 500;
	ledOn = false;
	commands = 0;
	constructor() {
		this.mqtt.connected = true;
		this.mqtt.on("message", ((_topic: string, payload: ArrayBuffer) => {
			const command = JSON.parse(new TextDecoder().decode(payload)) as { led_on?: unknown };
			if (typeof command.led_on === "boolean")
				this.ledOn = command.led_on;
			this.commands++;
		}) as (...args: never[]) => void);
		this.mqtt.subscribe("bare/commands", { qos: 1 });
		this.clock.setInterval(() => {
			this.mqtt.publish("bare/telemetry", JSON.stringify({ light: this.level }), { qos: 0 });
		}, 2_000);
	}
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ON = encoder.encode(`{"led_on":true}`).buffer as ArrayBuffer;
const OFF = encoder.encode(`{"led_on":false}`).buffer as ArrayBuffer;
let app: BareNightlight | undefined;

function answer(command: string): unknown {
	const [step = "", count = "0"] = command.split(" ");
	const n = Number(count);
	if (step === "empty") {
		gc();
		return {};
	}
	if (step === "start")
		app = new BareNightlight();
	else if (!app)
		throw new Error("start first");
	else if (step === "telemetry")
		app.clock.advance(n * 2_000);
	else if (step === "commands") {
		for (let i = 0; i < n; i++)
			app.mqtt.emit("message", "bare/commands", i & 1 ? OFF : ON);
	}
	gc();
	return { published: app?.mqtt.published ?? 0, commands: app?.commands ?? 0 };
}

(globalThis as unknown as { handleCommand(message: ArrayBuffer): ArrayBuffer }).handleCommand = (message) =>
	encoder.encode(JSON.stringify(answer(decoder.decode(message)))).buffer as ArrayBuffer;
