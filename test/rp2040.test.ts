/*
 * The real Pico firmware on an emulated RP2040 (npm rp2040js with the chip's boot ROM): the images
 * `npm run build:pico` makes boot, read the light on the ADC and drive the LED pin, on the chip's
 * own instruction set. Runs where the Moddable SDK, the Pico SDK and the boot ROM are present
 * ($MODDABLE, $PICO_ROOT or $PICO_SDK_DIR, $RP2040_BOOTROM) and prints "skipped: ..." elsewhere.
 *
 * Each image is built once into a temporary folder (about 1-2 minutes each on 2 cores). Emulation
 * runs at a fraction of real time, so every run is bounded in emulated and wall time; timing is
 * checked in emulated milliseconds, which the machine's load does not change.
 */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type PicoImage, buildPico, picoPrerequisites } from "./support/pico-build.js";
import { ADC_MAX, EmulatedPico } from "./support/rp2040.js";

const missing = picoPrerequisites({ emulator: true });
if (missing)
	process.stdout.write(`skipped: ${missing}\n`);
const suite = missing ? describe.skip : describe;

const BUILD_MS = 15 * 60_000;
const SAMPLE_MS = 100;
/** Margin on top of one sample period: the ADC read, the rule, the LED write, the timer's jitter. */
const REACTION_MARGIN_MS = 20;
const THRESHOLD = 300;
const HYSTERESIS = 20;

/** The ADC value for a light level on the lesson's 0..1023 scale. */
const adc = (light: number) => Math.round((light / 1023) * ADC_MAX);

/** Emulates the image, printing its trace when a test fails. */
function emulate(image: PicoImage, watchPins: number[], emulatedMs: number): EmulatedPico {
	return new EmulatedPico({ uf2: image.uf2, limits: { emulatedMs, wallMs: 8 * 60_000 }, watchPins });
}

/**
 * Sets the light and runs until the pin reaches `high` and holds it; the emulated ms it took, or
 * NaN. A Pico W built without Wi-Fi blinks "needs setup" (100 ms pulses), which is not a switch.
 */
async function reaction(pico: EmulatedPico, pin: number, light: number, high: boolean, withinMs: number): Promise<number> {
	const from = pico.nowMs;
	pico.setAdc(0, adc(light));
	const until = from + withinMs;
	while (pico.nowMs < until) {
		if (!await pico.runUntil(() => pico.pin(pin) === high, until - pico.nowMs))
			return Number.NaN;
		const at = pico.edges(pin).at(-1)!.atMs;
		if (await steady(pico, pin) === high)
			return at - from;
	}
	return Number.NaN;
}

/** The pin's level over the next 300 ms, as most samples see it: a 100 ms blink does not count. */
async function steady(pico: EmulatedPico, pin: number): Promise<boolean> {
	let high = 0;
	for (let i = 0; i < 10; i++) {
		await pico.runFor(30);
		if (pico.pin(pin))
			high++;
	}
	return high >= 6;
}

suite("the nightlight on an emulated Raspberry Pi Pico", () => {
	let out = "";
	let image: PicoImage;
	let pico: EmulatedPico;

	beforeAll(() => {
		out = mkdtempSync(join(tmpdir(), "nightlight-rp2040-"));
		image = buildPico({ board: "pico", out, settings: [`threshold=${THRESHOLD}`, `hysteresis=${HYSTERESIS}`, `sample_ms=${SAMPLE_MS}`] });
		pico = emulate(image, [25], 60_000);
		pico.setAdc(0, adc(800));
	}, BUILD_MS);
	afterAll(() => {
		pico?.close();
		if (pico?.faults.length)
			process.stdout.write(`pico trace:\n${pico.tail(40)}\n`);
		if (out)
			rmSync(out, { recursive: true, force: true });
	});

	test("boots, says it decides alone and with which rule and pins", async () => {
		const start = await pico.waitForTrace(/nightlight on pico, standalone:/, 3_000);
		expect(start.text).toContain(`sample=${SAMPLE_MS}ms local rule: threshold=${THRESHOLD} hysteresis=${HYSTERESIS}`);
		await pico.waitForTrace(/board: sensor_pin=GP26 \(ADC0\) led_pin=25 on-board GP25/, 500);
		const local = await pico.waitForTrace(/mode local, always: no network on this board/, 500);
		process.stdout.write(`figure: pico boot to the standalone core started: ${local.atMs.toFixed(1)} emulated ms\n`);
		expect(local.atMs).toBeLessThan(3_000);
		await pico.runFor(300);
		expect(pico.pin(25)).toBe(false);
		expect(pico.faults).toEqual([]);
	}, 120_000);

	test("dark lights the LED pin within one sample period, bright darkens it", async () => {
		const times: number[] = [];
		for (const [light, high] of [[100, true], [900, false], [150, true], [700, false]] as const) {
			await pico.runFor(37 + times.length * 23); // a different phase against the sampler each time
			const took = await reaction(pico, 25, light, high, 1_000);
			times.push(took);
			expect(took).toBeLessThanOrEqual(SAMPLE_MS + REACTION_MARGIN_MS);
		}
		process.stdout.write(`figure: pico ADC step to LED edge: ${times.map((t) => t.toFixed(2)).join(", ")} emulated ms\n`);
		await pico.waitForTrace(/LED on: light 1[0-9][0-9]/, 100);
		expect(pico.faults).toEqual([]);
	}, 180_000);

	test("a reading hovering in the hysteresis band does not flap the pin", async () => {
		expect(await reaction(pico, 25, 250, true, 1_000)).toBeLessThanOrEqual(SAMPLE_MS + REACTION_MARGIN_MS);
		const before = pico.edges(25).length;
		for (let i = 0; i < 20; i++) {
			pico.setAdc(0, adc(i % 2 ? THRESHOLD - 8 : THRESHOLD + HYSTERESIS - 6));
			await pico.runFor(SAMPLE_MS * 1.5);
		}
		expect(pico.edges(25).length).toBe(before);
		expect(pico.pin(25)).toBe(true);
		expect(await reaction(pico, 25, THRESHOLD + HYSTERESIS + 200, false, 1_000)).toBeLessThanOrEqual(SAMPLE_MS + REACTION_MARGIN_MS);
		expect(pico.faults).toEqual([]);
	}, 180_000);
});

suite("the Pico W image on an emulated RP2040 (no Wi-Fi chip in the emulator)", () => {
	let out = "";
	let image: PicoImage;
	let pico: EmulatedPico;
	const GRACE_MS = 2_000;

	beforeAll(() => {
		out = mkdtempSync(join(tmpdir(), "nightlight-rp2040w-"));
		image = buildPico({ board: "pico_w", out, settings: ["led_pin=15", `grace_ms=${GRACE_MS}`, "broker=mqtt://192.168.4.2:1883"] });
		pico = emulate(image, [15], 60_000);
		pico.setAdc(0, adc(800));
	}, BUILD_MS);
	afterAll(() => {
		pico?.close();
		if (pico?.faults.length)
			process.stdout.write(`pico_w trace:\n${pico.tail(40)}\n`);
		if (out)
			rmSync(out, { recursive: true, force: true });
	});

	test("starts without the Wi-Fi chip, falls back to local mode after the grace period, and lights an external LED in the dark", async () => {
		const start = await pico.waitForTrace(/nightlight on pico_w:/, 5_000);
		expect(start.text).toContain(`after ${GRACE_MS}ms`);
		const local = await pico.waitForTrace(/mode local: the broker is unreachable/, GRACE_MS + 5_000);
		expect(local.atMs - start.atMs).toBeGreaterThanOrEqual(GRACE_MS - SAMPLE_MS);
		process.stdout.write(`figure: pico_w start to local mode: ${(local.atMs - start.atMs).toFixed(0)} emulated ms (grace ${GRACE_MS} ms)\n`);
		expect(await steady(pico, 15)).toBe(false);
		const took = await reaction(pico, 15, 100, true, 1_000);
		expect(took).toBeLessThanOrEqual(SAMPLE_MS + REACTION_MARGIN_MS);
		expect(await reaction(pico, 15, 900, false, 1_000)).toBeLessThanOrEqual(SAMPLE_MS + REACTION_MARGIN_MS);
		expect(pico.faults).toEqual([]);
	}, 240_000);

	test("needs setup: built without a Wi-Fi network, it says so and blinks twice every 3 s while the rule holds the LED", async () => {
		const bare = buildPico({ board: "pico_w", out: join(out, "bare"), settings: ["led_pin=15", `grace_ms=${GRACE_MS}`] });
		const unset = emulate(bare, [15], 30_000);
		try {
			unset.setAdc(0, adc(800));
			await unset.waitForTrace(/needs setup: no Wi-Fi network/, 5_000);
			const from = unset.nowMs;
			await unset.runFor(6_500);
			const pulses = unset.edges(15).filter((edge) => edge.atMs >= from && edge.high);
			process.stdout.write(`figure: needs setup: ${pulses.length} blinks in 6.5 s, at ${pulses.map((edge) => (edge.atMs - from).toFixed(0)).join(", ")} ms\n`);
			expect(pulses.length).toBeGreaterThanOrEqual(4);
			expect(pulses.length).toBeLessThanOrEqual(6);
			expect(await steady(unset, 15)).toBe(false);
			expect(unset.faults).toEqual([]);
		}
		finally {
			unset.close();
		}
	}, 600_000);
});
