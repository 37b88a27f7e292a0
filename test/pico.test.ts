/*
 * The firmware built as a Raspberry Pi Pico W image, through `npm run build:pico`. Runs only where
 * $MODDABLE and the pico SDK ($PICO_ROOT or $PICO_SDK_DIR) are set: both are prerequisites users
 * install from their own guides, never part of this repository. Elsewhere it prints
 * "skipped: MODDABLE not set" or "skipped: pico SDK not set".
 *
 * It builds into a fresh folder (a pico build takes about a minute on 2 cores, more on a cold
 * machine: the timeout is 15 minutes), then checks what a maker needs: a .uf2 exists, the build
 * took the Pico W host and the Wi-Fi and broker settings, and the .elf fits the Pico W's 2 MB of
 * flash and 264 KB of RAM with room to spare.
 */
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildPico, elfSections } from "./support/pico-build.js";

const MODDABLE = process.env.MODDABLE;
const PICO = process.env.PICO_SDK_DIR ?? process.env.PICO_ROOT;
const BUILD_TIMEOUT_MS = 15 * 60_000;
const FLASH_BYTES = 2 * 1024 * 1024;
const RAM_BYTES = 264 * 1024;

if (!MODDABLE)
	process.stdout.write("skipped: MODDABLE not set\n");
else if (!PICO)
	process.stdout.write("skipped: pico SDK not set\n");

const suite = MODDABLE && PICO ? describe : describe.skip;

suite("the Pico W image (npm run build:pico)", () => {
	let out = "";
	let app = "";
	let work = "";

	beforeAll(() => {
		out = mkdtempSync(join(tmpdir(), "nightlight-pico-"));
		app = join(out, "bin", "pico", "pico_w", "debug", "nightlight");
		work = join(out, "tmp", "pico", "pico_w", "debug", "nightlight");
	});
	afterAll(() => {
		if (out)
			rmSync(out, { recursive: true, force: true });
	});

	test("a clean build with ssid=, password= and broker= gives a .uf2", () => {
		const image = buildPico({ board: "pico_w", out, settings: ["ssid=nightlight-test", "password=not-a-secret", "broker=mqtt://192.168.4.2:1883"], timeoutMs: BUILD_TIMEOUT_MS - 30_000 });
		expect(image.uf2).toBe(join(app, "xs_pico.uf2"));
		expect(statSync(image.uf2).size).toBeGreaterThan(100_000);
		expect(image.output).toContain(`nightlight for the Pico W: ${image.uf2}`);
	}, BUILD_TIMEOUT_MS);

	test("the image holds the Pico W host and the command line's settings", () => {
		expect(existsSync(join(work, "modules", "nightlight", "pico", "board.xsb"))).toBe(true);
		expect(existsSync(join(work, "modules", "nightlight", "pico", "wifi.xsb"))).toBe(true);
		const config = readFileSync(join(work, "mc.config.js"), "utf8");
		expect(config).toContain(`"ssid": "nightlight-test"`);
		expect(config).toContain(`"broker": "mqtt://192.168.4.2:1883"`);
	});

	test("the on-board LED's path through the Wi-Fi chip is compiled in (WIFI_GPIO)", () => {
		// Moddable SDK 8.2 sets WIFI_GPIO for pico_w as a make variable only; hosts/pico/manifest.json
		// passes it to the compiler, or the ECMA-419 Digital refuses to write pin 32 ("can't write input").
		const nm = spawnSync("arm-none-eabi-nm", [join(work, "digitalbank.c.o")], { encoding: "utf8" });
		expect(nm.status).toBe(0);
		expect(nm.stdout).toMatch(/ U cyw43_arch_gpio_put$/m);
	});

	test("the .elf fits the Pico W's 2 MB flash and 264 KB RAM with room to spare", () => {
		const size = elfSections(join(app, "xs_pico.elf"));
		const flash = (size[".boot2"] ?? 0) + (size[".text"] ?? 0) + (size[".rodata"] ?? 0) + (size[".data"] ?? 0);
		const ram = (size[".data"] ?? 0) + (size[".bss"] ?? 0);
		process.stdout.write(`pico_w image: text ${size[".text"]}, rodata ${size[".rodata"]}, data ${size[".data"]}, bss ${size[".bss"]} bytes; flash ${flash}, static RAM ${ram}\n`);
		expect(size[".text"]).toBeGreaterThan(0);
		expect(flash).toBeLessThan(FLASH_BYTES);
		expect(ram).toBeLessThan(RAM_BYTES);
		// Room to spare: a quarter of the flash free,
		expect(flash).toBeLessThan(FLASH_BYTES * 0.75);
		// and half the RAM, since the XS machine's 128 KB (manifest "creation" static) and the
		// network's buffers come from the heap left after data+bss.
		expect(ram).toBeLessThan(RAM_BYTES / 2);
	});
});
