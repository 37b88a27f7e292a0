/*
 * `npm run bench:link`: the plain Pico joined over a serial link, through the whole system: the
 * real image (link=serial) on the emulated RP2040, its UART0 wired to `nightlight bridge` in this
 * process, Mosquitto on 127.0.0.1 and `nightlight server` (dist/nightlight.js) as a child process.
 * - ADC step to LED edge: the light stepped on the ADC, the board reports it, the server commands
 *   it back through broker and bridge, the pin moves; in emulated ms and in wall ms;
 * - bytes on the serial line in a steady room: counted over one heartbeat period (60 s emulated),
 *   per hour; the keep-alive's share at the default 10 s, from the frames it takes;
 * - the board's XS heap with the link (the debug build's instruments).
 * Writes its section of docs/BENCHMARKS.md. Figures, never assertions.
 */
import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { Duplex } from "node:stream";
import mqtt from "mqtt";
import { Bridge } from "../cli/bridge.js";
import { FRAME_DATA, encodeFrame } from "../src/serial-link.js";
import { startMosquitto } from "../test/support/brokers.js";
import { buildPico, picoPrerequisites } from "../test/support/pico-build.js";
import { ADC_MAX, EmulatedPico, type Instruments } from "../test/support/rp2040.js";
import { Report, ms } from "./report.js";

const ID = "pico-bench";
const LED = 25;
const HEARTBEAT_MS = 60_000;
const STEPS = Number(process.env.BENCH_LINK_STEPS ?? 6);

const missing = picoPrerequisites({ emulator: true });
if (missing) {
	console.error(`npm run bench:link needs the Moddable SDK, the Pico SDK and the RP2040 boot ROM: ${missing}. See docs/pico.md.`);
	process.exit(2);
}
const adc = (light: number) => Math.round((light / 1023) * ADC_MAX);
const kb = (bytes: number) => `${bytes.toLocaleString("en-US")} (${(bytes / 1024).toFixed(1)} KB)`;

const out = mkdtempSync(join(tmpdir(), "nightlight-bench-link-"));
let server: ChildProcess | undefined;
const broker = await startMosquitto();
try {
	const image = buildPico({ board: "pico", out, settings: ["link=serial", `id=${ID}`, "keepalive=600", `heartbeat_ms=${HEARTBEAT_MS}`] });
	server = spawn(process.execPath, ["dist/nightlight.js", "server", "--broker", broker.url, "--http-port", "0", "--state-dir", join(out, "state")], { stdio: "ignore" });
	const watcher = mqtt.connect(broker.url, { clientId: "bench-watcher" });
	let online = false;
	watcher.on("message", (_topic, payload) => (online = payload.toString() === "online"));
	await new Promise((resolve) => watcher.on("connect", resolve));
	watcher.subscribe("nightlight/server/status");
	while (!online)
		await new Promise((resolve) => setTimeout(resolve, 50));

	const pico = new EmulatedPico({ uf2: image.uf2, limits: { emulatedMs: 900_000, wallMs: 60 * 60_000 }, watchPins: [LED] });
	const wallStart = performance.now();
	pico.setAdc(0, adc(800));
	const stream = new Duplex({ read() {}, write(chunk: Buffer, _encoding, callback) { pico.writeUart(chunk); callback(); } });
	pico.onUartBytes((bytes) => stream.push(Buffer.from(bytes)));
	const bridge = new Bridge({ serial: stream, broker: broker.url, log: () => undefined });
	await bridge.start();
	await pico.waitForTrace(/device: connected/, 30_000);
	await pico.waitForTrace(/server is online/, 30_000);
	await pico.runFor(2_000);

	// ADC step to LED edge, through board, bridge, broker, server and back.
	const emulated: number[] = [];
	const wall: number[] = [];
	for (let i = 0; i < STEPS; i++) {
		const high = i % 2 === 0;
		await pico.runFor(300 + i * 37);
		const from = pico.nowMs;
		const wallFrom = performance.now();
		pico.setAdc(0, adc(high ? 100 : 900));
		if (!(await pico.runUntil(() => pico.pin(LED) === high, 60_000)))
			throw new Error(`no LED edge; trace:\n${pico.tail(20)}`);
		emulated.push(pico.edges(LED).at(-1)!.atMs - from);
		wall.push(performance.now() - wallFrom);
	}
	const localMode = pico.traces.some((line) => /mode local/.test(line.text));

	// A steady room: one heartbeat period.
	await pico.runFor(2_000);
	const inBefore = bridge.stats.bytesIn;
	const outBefore = bridge.stats.bytesOut;
	const windowStart = pico.nowMs;
	await pico.runFor(HEARTBEAT_MS + 500);
	const windowMs = pico.nowMs - windowStart;
	const up = bridge.stats.bytesIn - inBefore;
	const down = bridge.stats.bytesOut - outBefore;
	const perHour = (bytes: number) => Math.round(bytes * 3_600_000 / windowMs);
	// The keep-alive at the default 10 s: a PINGREQ and a PINGRESP (2 bytes each) in one DATA frame each.
	const ping = encodeFrame(FRAME_DATA, 1, 0, Uint8Array.of(0xc0, 0)).length;
	const keepalivePerHour = 360 * 2 * ping;
	const samples = pico.samples.filter((sample) => sample.atMs >= windowStart);
	const heap = (values: Instruments) => (values["Chunk used"] ?? 0) + (values["Slot used"] ?? 0);
	const lows = samples.map((sample) => heap(sample.values));
	const stack = Math.max(...samples.map((sample) => sample.values["Stack peak"] ?? sample.values["Stack used"] ?? 0));
	const lowest = Math.min(...lows);
	const highest = Math.max(...lows);
	const low = samples.find((sample) => heap(sample.values) === lowest)!.values;
	const speed = pico.nowMs / (performance.now() - wallStart);
	pico.close();
	await bridge.stop();
	watcher.end(true);

	const report = new Report("npm run bench:link");
	const say = report.say;
	say("## The Pico joined over a serial link, through the whole system");
	say();
	say(`The debug image of the plain Pico built with \`link=serial\`, on the emulated RP2040 (npm rp2040js), its UART0 wired to \`nightlight bridge\` in the same Node process, Mosquitto on 127.0.0.1 and \`nightlight server\` as a child process. Machine: ${cpus().length} × ${cpus()[0]?.model.split(" ").slice(0, 2).join(" ") ?? "?"}, Node ${process.version}. Date: ${new Date().toISOString().slice(0, 10)}. Command: \`npm run build && npm run bench:link\` (BENCH_LINK_STEPS=${STEPS}). The board runs at a fraction of real time while the bridge, broker and server run in wall time, so the wall figure holds the machine's Node and Mosquitto time at full weight and the board's at about ${(1 / Math.max(speed, 0.01)).toFixed(0)}× its real duration.`);
	say();
	say("| figure | value |");
	say("|---|---|");
	say(`| ADC step to LED edge, emulated (the board's own time: sampling, MQTT, serial line at 115200 baud, its handling of the command) | ${emulated.map(ms).join(", ")} ms |`);
	say(`| the same, wall time (includes the emulation's slowness) | ${wall.map(ms).join(", ")} ms |`);
	say(`| decided by | ${localMode ? "the board alone at some point (local mode seen)" : "the server every time (no local mode)"} |`);
	say(`| bytes on the line in a steady room, measured over ${(windowMs / 1000).toFixed(1)} emulated s (one heartbeat) | board to bridge ${up}, bridge to board ${down}: ${perHour(up).toLocaleString("en-US")} + ${perHour(down).toLocaleString("en-US")} bytes per hour |`);
	say(`| plus the keep-alive at its default 10 s (this image: 600 s, as the emulator runs slow) | ${ping} bytes per PINGREQ or PINGRESP frame: ${keepalivePerHour.toLocaleString("en-US")} bytes per hour both ways |`);
	say(`| XS heap (chunks + slots) during the steady window, lowest / highest | ${kb(lowest)} / ${kb(highest)}; chunks ${low["Chunk used"] ?? "?"}, slots ${low["Slot used"] ?? "?"}; stack peak ${stack} bytes |`);
	say();
	say("The serial line at 115200 baud carries about 11,500 bytes a second: a steady room uses a tiny share of it. The standalone Pico's heap, for comparison, is in the section above (`npm run bench:pico`).");
	report.write();
}
finally {
	server?.kill("SIGINT");
	await broker.stop();
	rmSync(out, { recursive: true, force: true });
}
process.exit(0);
