/*
 * Settings on a flashed board, on an emulated RP2040 (the real `pico` image in npm rp2040js with
 * the chip's boot ROM): typed on the settings console (UART0, GP0/GP1), kept in flash by Moddable's
 * preferences, still there after a reset that keeps the flash, and in effect. Runs where the
 * Moddable SDK, the Pico SDK and the boot ROM are present; prints "skipped: ..." elsewhere.
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

const adc = (light: number) => Math.round((light / 1023) * ADC_MAX);
const LED = 25;

/** Types a line and runs until the console answers a line matching `answer`. */
async function command(pico: EmulatedPico, line: string, answer: RegExp): Promise<string> {
	const seen = pico.consoleLines.length;
	pico.type(line);
	const found = () => pico.consoleLines.slice(seen).find((text) => answer.test(text));
	await pico.runUntil(() => found() !== undefined, 3_000);
	const text = found();
	if (text === undefined)
		throw new Error(`no answer matching ${answer} to ${JSON.stringify(line)}; console said:\n${pico.consoleLines.slice(seen).join("\n")}\ntrace:\n${pico.tail(20)}`);
	return text;
}

suite("settings on the emulated Pico: the console, the flash, a reset", () => {
	let out = "";
	let image: PicoImage;
	const emulators: EmulatedPico[] = [];
	const emulate = (flash?: Uint8Array) => {
		const pico = new EmulatedPico({ uf2: image.uf2, ...(flash ? { flash } : {}), limits: { emulatedMs: 30_000, wallMs: 6 * 60_000 }, watchPins: [LED] });
		emulators.push(pico);
		return pico;
	};

	beforeAll(() => {
		out = mkdtempSync(join(tmpdir(), "nightlight-rp2040-settings-"));
		image = buildPico({ board: "pico", out, settings: ["threshold=300", "hysteresis=20"] });
	}, 15 * 60_000);
	afterAll(() => {
		for (const pico of emulators)
			pico.close();
		if (out)
			rmSync(out, { recursive: true, force: true });
	});

	test("set over the console, kept through a reset with the flash kept, and in effect", async () => {
		const first = emulate();
		first.setAdc(0, adc(400));
		await first.waitForTrace(/mode local, always/, 5_000);
		await first.runUntil(() => first.consoleLines.includes("nightlight console: type help"), 2_000);
		expect(first.consoleLines).toContain("nightlight console: type help");
		await first.runFor(300);
		expect(first.pin(LED)).toBe(false);
		expect(await command(first, "set threshold lots", /^error/)).toBe(`error: threshold must be an integer 0..1024, got "lots"`);
		expect(await command(first, "frobnicate", /^error/)).toBe(`error: unknown command "frobnicate": type help`);
		// Live: light 400 is dark under threshold 500.
		expect(await command(first, "set threshold 500", /^ok|^error/)).toBe("ok: threshold=500");
		await first.runUntil(() => first.pin(LED), 500);
		expect(first.pin(LED)).toBe(true);
		expect(await command(first, "show", /^revision/)).toBe("revision 1");
		expect(first.consoleLines).toContain("threshold=500 (stored)");
		expect(first.faults).toEqual([]);
		const flash = first.flashImage();
		first.close();

		// The chip resets with its flash kept: the setting is still there, and decides from the start.
		const second = emulate(flash);
		second.setAdc(0, adc(400));
		await second.waitForTrace(/mode local, always/, 5_000);
		expect(second.traces.some((line) => /threshold=500/.test(line.text))).toBe(true);
		await second.runUntil(() => second.pin(LED), 1_000);
		expect(second.pin(LED)).toBe(true);
		expect(await command(second, "show", /^revision/)).toBe("revision 1");
		expect(second.consoleLines).toContain("threshold=500 (stored)");
		expect(await command(second, "unset threshold", /^ok/)).toBe("ok: threshold=300");
		await second.runUntil(() => !second.pin(LED), 500);
		expect(second.pin(LED)).toBe(false);
		expect(second.faults).toEqual([]);
	}, 8 * 60_000);
});
