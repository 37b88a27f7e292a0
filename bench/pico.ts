/*
 * `npm run bench:pico`: the firmware's figures on the real 32-bit image, in the RP2040 emulator
 * (npm rp2040js with the chip's boot ROM). Builds the debug images of the plain Pico (standalone)
 * and of the Pico W (the connected core, here without its Wi-Fi chip, so it runs offline: the
 * broker unreachable, readings queued, local mode after the grace period), then for each:
 * - boot to the first light sample (the first ADC conversion), in emulated ms;
 * - XS memory (the debug build's instruments: chunks, slots, stack) after start, after N samples
 *   and after M LED switches: flat means no leak;
 * - ADC step to LED edge for each switch, at a random phase against the sampler (p50, p99);
 * - the processor's cycles per sample spent in the XS engine and the native functions it calls
 *   (symbols fx*, xs*), apart from the main loop's idle polling.
 * Writes its section of docs/BENCHMARKS.md between its markers. Figures, never assertions.
 * BENCH_PICO_SAMPLES (default 1000) and BENCH_PICO_SWITCHES (default 100) shorten a run;
 * BENCH_PICO_BOARDS (default "pico,pico_w") picks the images.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { type PicoBoard, buildPico, elfSections, picoPrerequisites } from "../test/support/pico-build.js";
import { ADC_MAX, EmulatedPico, type Instruments } from "../test/support/rp2040.js";

const FILE = "docs/BENCHMARKS.md";
const BEGIN = "<!-- npm run bench:pico: begin -->";
const END = "<!-- npm run bench:pico: end -->";
const SAMPLE_MS = 100;
const SAMPLES = Number(process.env.BENCH_PICO_SAMPLES ?? 1_000);
const SWITCHES = Number(process.env.BENCH_PICO_SWITCHES ?? 100);
const BOARDS = (process.env.BENCH_PICO_BOARDS ?? "pico,pico_w").split(",") as PicoBoard[];
/** The XS block of the pico builds (the manifest's creation.static), and the goal for the app's share of it. */
const XS_BLOCK = 131_072;
const HEAP_GOAL = 48 * 1024;

const missing = picoPrerequisites({ emulator: true });
if (missing) {
	console.error(`npm run bench:pico needs the Moddable SDK, the Pico SDK and the RP2040 boot ROM: ${missing}. See docs/pico.md.`);
	process.exit(2);
}

const adc = (light: number) => Math.round((light / 1023) * ADC_MAX);
const quantile = (values: number[], q: number) => {
	const sorted = [...values].sort((a, b) => a - b);
	return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
};
/** A repeatable random sequence, so two runs switch at the same phases. */
function random(seed: number): () => number {
	let state = seed >>> 0;
	return () => {
		state = (state * 1_664_525 + 1_013_904_223) >>> 0;
		return state / 2 ** 32;
	};
}

/** The flash ranges of the XS engine and its native functions, from the .elf's symbols. */
function xsRanges(elf: string): Array<[number, number]> {
	const nm = spawnSync("arm-none-eabi-nm", ["-S", elf], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
	if (nm.status !== 0)
		throw new Error(`arm-none-eabi-nm failed: ${nm.stderr}`);
	const ranges: Array<[number, number]> = [];
	for (const match of nm.stdout.matchAll(/^([0-9a-f]{8}) ([0-9a-f]{8}) [tT] (\S+)$/gm)) {
		if (/^_?(fx|xs)/.test(match[3]!)) {
			const start = Number.parseInt(match[1]!, 16) & ~1;
			ranges.push([start, start + Number.parseInt(match[2]!, 16)]);
		}
	}
	return ranges;
}

/** XS memory over a stretch of the run, from the instrument samples (one per emulated second). */
interface MemoryFigure {
	label: string;
	atMs: number;
	/** Chunks + slots in use: lowest (nearest the live heap, just after a collection) and highest (garbage not yet collected). */
	low: number;
	high: number;
	chunks: number;
	slots: number;
	stack: number;
	collections: number;
}

function memory(label: string, pico: EmulatedPico, fromMs: number): MemoryFigure {
	const window = pico.samples.filter((sample) => sample.atMs >= fromMs);
	const heap = (values: Instruments) => (values["Chunk used"] ?? 0) + (values["Slot used"] ?? 0);
	const low = window.reduce((best, sample) => (heap(sample.values) < heap(best.values) ? sample : best), window[0] ?? { atMs: 0, values: {} });
	return {
		label,
		atMs: pico.nowMs,
		low: heap(low.values),
		high: Math.max(...window.map((sample) => heap(sample.values))),
		chunks: low.values["Chunk used"] ?? Number.NaN,
		slots: low.values["Slot used"] ?? Number.NaN,
		stack: Math.max(...window.map((sample) => sample.values["Stack used"] ?? 0)),
		// The instrument counts the collections since the previous sample.
		collections: window.reduce((sum, sample) => sum + (sample.values["Garbage collections"] ?? 0), 0),
	};
}

interface BoardResult {
	board: PicoBoard;
	flash: number;
	ram: number;
	bootToFirstSampleMs: number;
	bootToStartLineMs: number | undefined;
	memory: MemoryFigure[];
	reactions: number[];
	missed: number;
	xsCyclesPerSample: number;
	cyclesPerSample: number;
	clkSys: number;
	emulatedPerWall: number;
	faults: string[];
	samples: number;
}

async function measure(board: PicoBoard, out: string): Promise<BoardResult> {
	const settings = [`sample_ms=${SAMPLE_MS}`, "threshold=300", "hysteresis=20"];
	if (board === "pico_w")
		settings.push("led_pin=15", "broker=mqtt://192.168.4.2:1883");
	console.log(`building ${board}: npm run build:pico -- --board=${board} ${settings.join(" ")}`);
	const image = buildPico({ board, out: join(out, board), settings });
	const sections = elfSections(image.elf);
	const bytes = (...names: string[]) => names.reduce((sum, name) => sum + (sections[name] ?? 0), 0);
	const led = board === "pico" ? 25 : 15;
	const emulatedLimitMs = 30_000 + (SAMPLES + SWITCHES * 4) * SAMPLE_MS;
	const pico = new EmulatedPico({ uf2: image.uf2, limits: { emulatedMs: emulatedLimitMs, wallMs: 60 * 60_000 }, watchPins: [led] });
	const wallStart = Date.now();
	pico.setAdc(0, adc(800));

	await pico.runUntil(() => pico.firstAdcReadMs !== undefined, 10_000);
	const bootToFirstSampleMs = pico.firstAdcReadMs ?? Number.NaN;
	const startLine = pico.traces.find((line) => /nightlight on pico/.test(line.text));
	await pico.runFor(3_000 + (board === "pico_w" ? 10_000 : 0)); // the Pico W: past its grace period into local mode
	const figures = [memory(board === "pico_w" ? "start, to the end of the grace period" : "start, the first seconds", pico, 0)];
	let windowStart = pico.nowMs;

	// Samples in a steady room with a little sensor noise.
	const noise = random(1);
	pico.profile(xsRanges(image.elf));
	const cyclesBefore = pico.cycles;
	const readsBefore = pico.adcReads();
	while (pico.adcReads() - readsBefore < SAMPLES) {
		pico.setAdc(0, adc(800 + Math.round((noise() - 0.5) * 16)));
		await pico.runFor(SAMPLE_MS);
	}
	const sampled = pico.adcReads() - readsBefore;
	const xsCyclesPerSample = pico.profiledCycles / sampled;
	const cyclesPerSample = (pico.cycles - cyclesBefore) / sampled;
	await pico.runFor(1_100); // one more instruments sample
	figures.push(memory(`${sampled} samples in a steady room`, pico, windowStart));
	windowStart = pico.nowMs;

	// LED switches at random phases against the sampler: dark, bright, dark...
	const phase = random(2);
	const reactions: number[] = [];
	let missed = 0;
	for (let i = 0; i < SWITCHES; i++) {
		await pico.runFor(SAMPLE_MS + phase() * SAMPLE_MS);
		const on = i % 2 === 0;
		const from = pico.nowMs;
		pico.setAdc(0, adc(on ? 100 : 900));
		if (await pico.runUntil(() => pico.pin(led) === on, 1_000))
			reactions.push(pico.edges(led).at(-1)!.atMs - from);
		else
			missed++;
	}
	await pico.runFor(1_100);
	figures.push(memory(`${SWITCHES} LED switches`, pico, windowStart));
	pico.close();
	return {
		board,
		flash: bytes(".boot2", ".text", ".rodata", ".ARM.extab", ".ARM.exidx", ".binary_info", ".data"),
		ram: bytes(".ram_vector_table", ".data", ".uninitialized_data", ".bss"),
		bootToFirstSampleMs,
		bootToStartLineMs: startLine?.atMs,
		memory: figures,
		reactions,
		missed,
		xsCyclesPerSample,
		cyclesPerSample,
		clkSys: pico.mcu.clkSys,
		emulatedPerWall: pico.nowMs / (Date.now() - wallStart),
		faults: pico.faults,
		samples: sampled,
	};
}

const out = mkdtempSync(join(tmpdir(), "nightlight-bench-pico-"));
const results: BoardResult[] = [];
try {
	for (const board of BOARDS)
		results.push(await measure(board, out));
}
finally {
	rmSync(out, { recursive: true, force: true });
}

const lines: string[] = [];
const say = (line = "") => {
	lines.push(line);
	console.log(line);
};
const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
const num = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "n/a");
const names: Record<PicoBoard, string> = { pico: "Pico, standalone", pico_w: "Pico W, offline (no Wi-Fi chip in the emulator)" };

say("## The firmware on an emulated RP2040");
say();
say(`The debug images \`npm run build:pico\` makes, run in npm rp2040js with the RP2040 boot ROM: the chip's own instruction set, clock and ADC, emulated. Machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, Node ${process.version}. Date: ${new Date().toISOString().slice(0, 10)}. Command: \`npm run bench:pico\` (BENCH_PICO_SAMPLES=${SAMPLES}, BENCH_PICO_SWITCHES=${SWITCHES}). Settings: sample every ${SAMPLE_MS} ms, threshold 300, hysteresis 20; the Pico W's LED on GP15 (its on-board LED sits on the Wi-Fi chip, which the emulator lacks). Times are emulated, so the machine's load does not change them.`);
say();
say("| image | flash | static RAM | boot to first sample | samples | LED switches | reaction p50 | reaction p99 | max | cycles per sample in XS | faults |");
say("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const r of results) {
	say(`| ${names[r.board]} | ${kb(r.flash)} | ${kb(r.ram)} | ${r.bootToFirstSampleMs.toFixed(1)} ms | ${r.samples} | ${r.reactions.length}${r.missed ? ` (${r.missed} missed)` : ""} | ${quantile(r.reactions, 0.5).toFixed(2)} ms | ${quantile(r.reactions, 0.99).toFixed(2)} ms | ${Math.max(...r.reactions).toFixed(2)} ms | ${num(r.xsCyclesPerSample)} (${(r.xsCyclesPerSample / r.clkSys * 1e6).toFixed(0)} µs at ${r.clkSys / 1e6} MHz) | ${r.faults.length} |`);
}
say();
say("XS memory (the debug build's instruments, sampled every emulated second, over each stretch of the run; bytes; 16-byte slots on the 32-bit RP2040). XS collects garbage only when its block runs short, so the heap in use swings between the live objects (the lowest sample, just after a collection) and the garbage made since; flat lows mean no leak:");
say();
say("| image | stretch | ends at (emulated s) | chunks + slots, lowest | of which chunks / slots | highest | collections | stack used, highest |");
say("|---|---|---:|---:|---:|---:|---:|---:|");
for (const r of results) {
	for (const m of r.memory)
		say(`| ${names[r.board]} | ${m.label} | ${(m.atMs / 1000).toFixed(1)} | ${num(m.low)} (${kb(m.low)}) | ${num(m.chunks)} / ${num(m.slots)} | ${num(m.high)} (${kb(m.high)}) | ${m.collections} | ${num(m.stack)} |`);
}
say();
for (const r of results) {
	const lows = r.memory.slice(1).map((m) => m.low);
	const steady = Math.max(...lows);
	const highest = Math.max(...r.memory.map((m) => m.high));
	const growth = (r.memory.at(-1)?.low ?? 0) - (r.memory[1]?.low ?? 0);
	const p99 = quantile(r.reactions, 0.99);
	say(`- ${names[r.board]}: live heap in the steady state ${kb(steady)} of the ${kb(XS_BLOCK)} block (goal ≤ ${kb(HEAP_GOAL)}: ${steady <= HEAP_GOAL ? "met" : "missed"}; with uncollected garbage up to ${kb(highest)}), ${growth >= 0 ? "+" : ""}${num(growth)} bytes between the lowest samples of the steady room and of the switches (${Math.abs(growth) <= 1024 ? "flat" : "moving"}); reaction p99 ${p99.toFixed(2)} ms (goal ≤ ${SAMPLE_MS + 10} ms: ${p99 <= SAMPLE_MS + 10 && r.missed === 0 ? "met" : "missed"}); boot to first sample ${r.bootToFirstSampleMs.toFixed(0)} ms (goal ≤ 1,500 ms: ${r.bootToFirstSampleMs <= 1_500 ? "met" : "missed"}); all cycles per sample period ${num(r.cyclesPerSample)} (the main loop polls without sleeping, so all but the XS share is idle polling and the USB debugger link); emulation ran at ${r.emulatedPerWall.toFixed(2)} emulated s per wall s.`);
	if (r.faults.length)
		say(`- ${names[r.board]} faults: ${r.faults.slice(0, 5).join("; ")}`);
}

if (existsSync(FILE)) {
	const text = readFileSync(FILE, "utf8");
	const section = `${BEGIN}\n${lines.join("\n")}\n${END}`;
	const begin = text.indexOf(BEGIN);
	const end = text.indexOf(END);
	writeFileSync(FILE, begin >= 0 && end > begin ? text.slice(0, begin) + section + text.slice(end + END.length) : `${text.trimEnd()}\n\n${section}\n`);
	console.log(`\nwritten into ${FILE}`);
}
