/*
 * `npm run emulate:pico`: the real Pico image on an emulated RP2040, by hand. Builds the image
 * (unless --uf2 names one), boots it in rp2040js with the chip's boot ROM ($RP2040_BOOTROM), and
 * prints its trace lines and the LED pin's edges with the emulated time, while the light on GP26
 * follows what you type (a level 0..1023 and Enter) or, with --sweep, moves from dark to bright
 * and back by itself.
 *
 *   npm run emulate:pico                          # the plain Pico, standalone
 *   npm run emulate:pico -- --sweep --seconds=20
 *   npm run emulate:pico -- --board=pico_w led_pin=15 grace_ms=2000
 *   npm run emulate:pico -- --uf2=path/to/xs_pico.uf2 --led=25
 */
import { mkdirSync } from "node:fs";
import { createInterface } from "node:readline";
import { type PicoBoard, buildPico, picoPrerequisites } from "../test/support/pico-build.js";
import { ADC_MAX, EmulatedPico, EmulatorStop } from "../test/support/rp2040.js";

const USAGE = "usage: npm run emulate:pico -- [--board=pico|pico_w] [--uf2=FILE] [--led=PIN] [--seconds=N] [--sweep] [key=value ...]";

function fail(message: string): never {
	console.error(`npm run emulate:pico: ${message}`);
	process.exit(2);
}

let board: PicoBoard = "pico";
let uf2: string | undefined;
let led: number | undefined;
let seconds = 60;
let sweep = false;
const settings: string[] = [];
for (const arg of process.argv.slice(2)) {
	const [key, value] = arg.split(/=(.*)/s) as [string, string | undefined];
	if (key === "--board" && (value === "pico" || value === "pico_w"))
		board = value;
	else if (key === "--uf2" && value)
		uf2 = value;
	else if (key === "--led" && value && /^[0-9]+$/.test(value) && Number(value) <= 29)
		led = Number(value);
	else if (key === "--seconds" && value && Number(value) > 0)
		seconds = Number(value);
	else if (arg === "--sweep")
		sweep = true;
	else if (arg === "--help" || arg === "-h") {
		console.log(USAGE);
		process.exit(0);
	}
	else if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(arg))
		settings.push(arg);
	else
		fail(`unknown argument ${JSON.stringify(arg)}\n${USAGE}`);
}

const missing = picoPrerequisites({ emulator: true });
if (missing && (!uf2 || missing.startsWith("RP2040_BOOTROM")))
	fail(`${missing}. See docs/pico.md, "The board in an emulator".`);

if (!uf2) {
	const out = `node_modules/.cache/nightlight/emulate-${board}`;
	mkdirSync(out, { recursive: true });
	console.log(`building the ${board} image (npm run build:pico -- --board=${board} ${settings.join(" ")})...`);
	try {
		uf2 = buildPico({ board, out, settings }).uf2;
	}
	catch (error) {
		fail((error as Error).message);
	}
}
// The LED: led_pin= if given, else the board's on-board one (the Pico W's sits on the Wi-Fi chip, not emulated).
led ??= Number(settings.find((setting) => setting.startsWith("led_pin="))?.slice("led_pin=".length) ?? (board === "pico" ? 25 : 15));

const stamp = (ms: number) => `[${ms.toFixed(1).padStart(9)} ms]`;
const pico = new EmulatedPico({
	uf2,
	limits: { emulatedMs: seconds * 1000, wallMs: Math.max(60_000, seconds * 10_000) },
	watchPins: [led],
	onTrace: (line) => console.log(`${stamp(line.atMs)} ${line.text}`),
});
let light = 800;
pico.setAdc(0, (light / 1023) * ADC_MAX);
console.log(`${uf2}: light ${light} on GP26, LED on GP${led}. Type a light level 0..1023 and Enter${sweep ? " (or let --sweep move it)" : ""}; Ctrl-C stops.`);

const input = createInterface({ input: process.stdin });
input.on("line", (text) => {
	const level = Number(text.trim());
	if (!Number.isInteger(level) || level < 0 || level > 1023) {
		console.log(`"${text.trim()}" is not a light level: type an integer 0..1023`);
		return;
	}
	light = level;
	pico.setAdc(0, (light / 1023) * ADC_MAX);
	console.log(`${stamp(pico.nowMs)} light ${light} on GP26`);
});

let edges = 0;
let faults = 0;
const SWEEP_MS = 10_000;
try {
	while (pico.nowMs < seconds * 1000) {
		await pico.runFor(50);
		if (sweep) {
			const phase = (pico.nowMs % SWEEP_MS) / SWEEP_MS;
			light = Math.round(1023 * Math.abs(1 - 2 * phase));
			pico.setAdc(0, (light / 1023) * ADC_MAX);
		}
		for (const edge of pico.edges(led).slice(edges))
			console.log(`${stamp(edge.atMs)} GP${edge.pin} ${edge.high ? "high: LED on" : "low: LED off"} (light ${light})`);
		edges = pico.edges(led).length;
		for (const fault of pico.faults.slice(faults))
			console.log(`fault: ${fault}`);
		faults = pico.faults.length;
	}
}
catch (error) {
	if (!(error instanceof EmulatorStop))
		throw error;
	console.log(`stopped: ${error.message}`);
}
input.close();
pico.close();
const heap = pico.instruments;
console.log(`${(pico.nowMs / 1000).toFixed(1)} emulated s, ${edges} LED edges, ${pico.faults.length} faults${heap ? `; XS: ${Object.entries(heap).filter(([name]) => /^(Chunk|Slot|Stack) used$/.test(name)).map(([name, value]) => `${name} ${value}`).join(", ")}` : ""}`);
process.exit(pico.faults.length ? 1 : 0);
