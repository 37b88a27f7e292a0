/*
 * Building the project's Pico images for tests and benchmarks, through `npm run build:pico`
 * (scripts/build-pico.js), into a folder of the caller's. The SDKs are prerequisites users install
 * from their own guides: `picoPrerequisites()` says which one is missing, so a test can print a
 * clear "skipped: ..." line instead of failing.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { bootromPath } from "./rp2040.js";

/** The project's folder: the nearest one above this module (or the bundle made of it) with scripts/build-pico.js. */
function projectRoot(): string {
	let folder = dirname(fileURLToPath(import.meta.url));
	while (!existsSync(join(folder, "scripts", "build-pico.js"))) {
		const parent = dirname(folder);
		if (parent === folder)
			throw new Error("cannot find the project's scripts/build-pico.js above this module");
		folder = parent;
	}
	return folder;
}

const root = projectRoot();

export type PicoBoard = "pico" | "pico_w";

/** What is missing to build and emulate Pico images here, or undefined when all is present. */
export function picoPrerequisites(options: { emulator?: boolean } = {}): string | undefined {
	if (!process.env.MODDABLE)
		return "MODDABLE not set";
	if (!process.env.PICO_SDK_DIR && !process.env.PICO_ROOT)
		return "pico SDK not set (PICO_ROOT or PICO_SDK_DIR)";
	if (options.emulator) {
		const rom = bootromPath();
		if (rom.missing)
			return rom.missing;
	}
	return undefined;
}

export interface PicoImage {
	uf2: string;
	elf: string;
	/** What the build printed. */
	output: string;
}

/** Builds one image with `npm run build:pico`; throws with the build's last lines when it fails. */
export function buildPico(options: { board: PicoBoard; out: string; settings?: readonly string[]; release?: boolean; timeoutMs?: number }): PicoImage {
	const args = [join(root, "scripts", "build-pico.js"), `--board=${options.board}`, `--out=${options.out}`];
	if (options.release)
		args.push("--release");
	args.push(...options.settings ?? []);
	const build = spawnSync(process.execPath, args, { cwd: root, encoding: "utf8", timeout: options.timeoutMs ?? 14 * 60_000, maxBuffer: 64 * 1024 * 1024 });
	const output = `${build.stdout}\n${build.stderr}`;
	if (build.status !== 0)
		throw new Error(`npm run build:pico -- --board=${options.board} failed (${build.status ?? build.signal}):\n${output.split("\n").slice(-40).join("\n")}`);
	const folder = join(options.out, "bin", ...(options.board === "pico" ? ["pico"] : ["pico", "pico_w"]), options.release ? "release" : "debug", "nightlight");
	const image = { uf2: join(folder, "xs_pico.uf2"), elf: join(folder, "xs_pico.elf"), output };
	if (!existsSync(image.uf2))
		throw new Error(`the build finished without ${image.uf2}:\n${output.split("\n").slice(-20).join("\n")}`);
	return image;
}

/** `arm-none-eabi-size -A` of an .elf: section name to bytes. */
export function elfSections(elf: string): Record<string, number> {
	const size = spawnSync("arm-none-eabi-size", ["-A", elf], { encoding: "utf8" });
	if (size.status !== 0)
		throw new Error(`arm-none-eabi-size failed: ${size.stderr}`);
	return Object.fromEntries([...size.stdout.matchAll(/^(\.\S+)\s+(\d+)\s+\d+$/gm)].map((match) => [match[1]!, Number(match[2])]));
}
