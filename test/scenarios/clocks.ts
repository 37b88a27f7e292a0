/*
 * Scenarios for the device core when clocks are wrong and links die quietly: commands ordered
 * without comparing clocks across machines, and the grace period counted from the last packet
 * heard. Portable: jest runs them on Node, and the same bundle runs on XS.
 */
import { equal, ok } from "../support/assert.js";
import { type Scenario, started } from "./device.js";

export const clockScenarios: Scenario[] = [
	{
		name: "a device clock an hour ahead, behind, unset or jumping: after a local spell the server's commands are still followed",
		run() {
			for (const offset of [3_600_000, -3_600_000, -1_700_000_000_000, "jumps"] as const) {
				const r = started();
				r.clock.wallOffset = offset === "jumps" ? 0 : offset;
				const server = r.clock.now();
				r.mqtt.deliver("room1/commands", `{"led_on":false,"seq":1,"ts":${server}}`);
				r.mqtt.drop();
				r.clock.advance(11_000);
				if (offset === "jumps")
					r.clock.wallOffset = 7_200_000;
				r.sensor.set(100);
				equal(r.led.on, true, `${offset}: local decision, on`);
				r.mqtt.connect();
				r.mqtt.deliver("room1/commands", `{"led_on":false,"seq":1,"ts":${server}}`);
				equal(r.led.on, true, `${offset}: the retained old command is not applied`);
				if (offset === "jumps")
					r.clock.wallOffset = -7_200_000;
				r.sensor.set(900);
				r.clock.advance(300);
				r.mqtt.deliver("room1/commands", `{"led_on":false,"seq":2,"ts":${r.clock.now()}}`);
				equal(r.led.on, false, `${offset}: the server's new decision is`);
				const stamps = r.mqtt.sent("room1/telemetry").map((item) => JSON.parse(item.message).ts as number | undefined);
				if (offset === -1_700_000_000_000)
					ok(stamps.slice(1).every((ts) => ts === undefined), "once the clock reads as unset, readings carry no stamp");
			}
		},
	},
	{
		name: "after a local spell, commands that come before the server had the fresh reading are noted, not applied",
		run() {
			const r = started();
			r.mqtt.deliver("room1/commands", `{"led_on":false,"seq":1,"ts":${r.clock.now()}}`);
			r.mqtt.drop();
			r.clock.advance(11_000);
			r.sensor.set(100);
			equal(r.led.on, true, "local decision: on");
			r.mqtt.holdAcks = true;
			r.mqtt.connect();
			equal(r.device.mode, "remote", "remote again");
			// Decided while the device was away (from no reading of its own), retained.
			r.mqtt.deliver("room1/commands", `{"led_on":false,"seq":2,"ts":${r.clock.now() - 5_000}}`);
			equal(r.led.on, true, "held: the server has not heard this room yet");
			r.mqtt.holdAcks = false;
			r.mqtt.deliver("room1/commands", `{"led_on":false,"seq":2,"ts":${r.clock.now() - 5_000}}`);
			equal(r.led.on, true, "the reminder of it is a duplicate");
			r.mqtt.drop();
			r.mqtt.connect();
			r.mqtt.deliver("room1/commands", `{"led_on":false,"seq":3,"ts":${r.clock.now()}}`);
			equal(r.led.on, false, "once the fresh reading is acknowledged, the server's answer applies");
		},
	},
	{
		name: "the grace period runs from the last packet heard, not from when the client gave up",
		run() {
			const r = started();
			r.clock.advance(8_000);
			r.mqtt.emit("packetreceive");
			r.clock.advance(11_000);
			equal(r.device.mode, "remote", "a link that has not been given up is trusted");
			r.mqtt.drop();
			r.clock.advance(100);
			equal(r.device.mode, "local", "silent for 11 s when the drop was noticed: local at once");
			// Heard 5 s before the drop: local 5 s after it. A client that does not report every
			// packet (mqtt/js) gets the whole grace period from the drop.
			for (const [reports, waits] of [[true, 5_000], [false, 10_000]] as const) {
				const r2 = started();
				if (reports)
					r2.mqtt.emit("packetreceive");
				r2.clock.advance(5_000);
				r2.mqtt.drop();
				r2.clock.advance(waits - 1_000);
				equal(r2.device.mode, "remote", `${reports ? "reports packets" : "does not"}: still waiting`);
				r2.clock.advance(1_100);
				equal(r2.device.mode, "local", `${reports ? "reports packets" : "does not"}: then local`);
			}
		},
	},
];
