// npm run build:pico [-- [--board=pico] [--release] [--out=<dir>] key=value ...]: type-checks the
// Pico hosts and builds the firmware for the Raspberry Pi Pico W (or, with --board=pico, the plain
// Pico: the nightlight standing alone) with the Moddable SDK: a .uf2 to copy to the board's
// RPI-RP2 drive.
//
//   npm run build:pico -- ssid="My Wi-Fi" password=secret broker=mqtt://192.168.1.10:1883
//   npm run build:pico -- ssid=lab password=secret broker=mqtt://192.168.1.10 id=hall led_pin=15
//   npm run build:pico -- --board=pico threshold=250 led_pin=15
//   npm run build:pico -- --board=pico link=serial id=hall     (joined through nightlight bridge)
//
// link=serial (or --link=serial) builds the plain Pico joined to the system over UART0 (GP0/GP1)
// instead of standing alone: it sets NIGHTLIGHT_LINK=serial, which manifest.json reads to pick
// hosts/pico/manifest_serial.json, and passes link=serial on to mc/config.
//
// Every key=value goes to mcconfig (and so to the app's mc/config). --release leaves out -d (no
// xsbug debugging); --out=<dir> builds under <dir> instead of $MODDABLE/build.
//
// Needs what the SDK's own guides install, never built here: the Moddable SDK with its tools
// ($MODDABLE), the Pico SDK 2.2.0 with its submodules, pico-extras and pico-examples under
// $PICO_ROOT (or $PICO_SDK_DIR), pioasm and picotool built in $PICO_SDK_DIR/build, the
// arm-none-eabi toolchain, cmake, and `npm install` (for tsc). Exits with 2 and says what to
// install when something is missing.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const MODDABLE_GUIDE = "https://github.com/Moddable-OpenSource/moddable/blob/public/documentation/Moddable%20SDK%20-%20Getting%20Started.md";
const PICO_GUIDE = "https://github.com/Moddable-OpenSource/moddable/blob/public/documentation/devices/pico.md";
/** The boards: mcconfig's platform, the folder it builds into, and what the board is. */
const BOARDS = {
	pico_w: { platform: "pico/pico_w", folder: join("pico", "pico_w"), name: "the Pico W" },
	pico: { platform: "pico", folder: "pico", name: "the Pico (standalone, no network)" },
};
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const tools = { linux: "lin", darwin: "mac" }[process.platform];

function fail(message) {
	console.error(`npm run build:pico: ${message}`);
	process.exit(2);
}

/** The first directory on PATH that holds `name`. */
function onPath(name) {
	for (const dir of (process.env.PATH ?? "").split(delimiter)) {
		if (dir && existsSync(join(dir, name)))
			return dir;
	}
	return undefined;
}

let debug = true;
let out;
let board = BOARDS.pico_w;
const settings = [];
for (const arg of process.argv.slice(2)) {
	if (arg.startsWith("--board=")) {
		board = BOARDS[arg.slice("--board=".length)];
		if (!board)
			fail(`unknown board ${JSON.stringify(arg.slice("--board=".length))}: give --board=pico_w (the default) or --board=pico`);
	}
	else if (arg.startsWith("--link="))
		settings.push(`link=${arg.slice("--link=".length)}`);
	else if (arg === "--release")
		debug = false;
	else if (arg.startsWith("--out="))
		out = resolve(arg.slice("--out=".length));
	else if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(arg))
		settings.push(arg);
	else
		fail(`unknown argument ${JSON.stringify(arg)}: give key=value settings (ssid=, password=, broker=, id=, sensor_pin=, led_pin=...), --board=pico, --link=serial, --release or --out=<dir>`);
}
const link = settings.findLast((setting) => setting.startsWith("link="))?.slice("link=".length);
if (link !== undefined && link !== "serial")
	fail(`unknown link ${JSON.stringify(link)}: the only link is link=serial (UART0 to nightlight bridge)`);
if (link && board !== BOARDS.pico)
	fail("link=serial is for the plain Pico: add --board=pico (the Pico W joins over Wi-Fi)");

// The Moddable SDK and its tools.
if (!tools)
	fail(`Pico builds run on Linux and macOS (the SDK's pico guide has no Windows setup), not on ${process.platform}`);
const moddable = process.env.MODDABLE;
if (!moddable)
	fail(`MODDABLE is not set. Install the Moddable SDK and build its tools as its Getting Started guide says (${MODDABLE_GUIDE}), then export MODDABLE=<the SDK's folder>.`);
const sdkTools = join(moddable, "build", "bin", tools, "release");
const mcconfig = join(sdkTools, "mcconfig");
if (!existsSync(mcconfig))
	fail(`the Moddable SDK tools are not built in ${sdkTools} (mcconfig is missing). Build them as the SDK's Getting Started guide says (${MODDABLE_GUIDE}).`);

// The Pico SDK, where the Moddable SDK's makefile (tools/mcconfig/make.pico.mk) looks for it.
// PICO_ROOT holds pico-sdk, pico-extras and pico-examples side by side, as the guide lays them out.
const picoRoot = process.env.PICO_ROOT ?? (process.env.PICO_SDK_DIR ? dirname(resolve(process.env.PICO_SDK_DIR)) : join(homedir(), "pico"));
const picoSdk = process.env.PICO_SDK_DIR ?? join(picoRoot, "pico-sdk");
const picoHelp = `Install the Pico SDK 2.2.0 with its submodules, pico-extras and pico-examples as the Moddable SDK's pico guide says (${PICO_GUIDE}), then export PICO_ROOT=<the folder that holds them> (and PICO_SDK_DIR if pico-sdk is elsewhere).`;
if (!process.env.PICO_ROOT && !process.env.PICO_SDK_DIR && !existsSync(picoSdk))
	fail(`the pico SDK is not set: PICO_ROOT and PICO_SDK_DIR are unset and ${picoSdk} does not exist. ${picoHelp}`);
if (!existsSync(join(picoSdk, "pico_sdk_init.cmake")))
	fail(`no Pico SDK at ${picoSdk} (PICO_SDK_DIR): pico_sdk_init.cmake is missing. ${picoHelp}`);
if (!existsSync(join(picoSdk, "lib", "cyw43-driver", "src")) || !existsSync(join(picoSdk, "lib", "lwip", "src")))
	fail(`the Pico SDK at ${picoSdk} lacks its submodules (lib/cyw43-driver, lib/lwip): run git submodule update --init there. ${picoHelp}`);
for (const folder of ["pico-extras", "pico-examples"]) {
	if (!existsSync(join(picoRoot, folder)))
		fail(`${folder} is missing from ${picoRoot} (PICO_ROOT). ${picoHelp}`);
}
const pioasm = join(picoSdk, "build", "pioasm", "pioasm");
const picotool = process.env.UF2CONV ?? join(picoSdk, "build", "_deps", "picotool", "picotool");
if (!existsSync(pioasm) || !existsSync(picotool))
	fail(`pioasm or picotool is not built (${existsSync(pioasm) ? picotool : pioasm} is missing): build them in ${join(picoSdk, "build")} with cmake .. && make, as the pico guide's step "Build some pico tools" says (${PICO_GUIDE}).`);

// The toolchain.
const gccBin = process.env.PICO_GCC_ROOT ? join(process.env.PICO_GCC_ROOT, "bin") : onPath("arm-none-eabi-gcc");
if (!gccBin || !existsSync(join(gccBin, "arm-none-eabi-gcc")))
	fail(`the arm-none-eabi toolchain is missing${process.env.PICO_GCC_ROOT ? ` from ${gccBin} (PICO_GCC_ROOT)` : " from PATH"}. On Debian or Ubuntu: sudo apt install gcc-arm-none-eabi libnewlib-arm-none-eabi cmake; on macOS see ${PICO_GUIDE}.`);
if (!onPath("cmake"))
	fail("cmake is missing. On Debian or Ubuntu: sudo apt install cmake.");
const bin = join(root, "node_modules", ".bin");
if (!existsSync(join(bin, "tsc")))
	fail("TypeScript's tsc is missing: run npm install in this folder first (mcconfig compiles our .ts modules with it).");

if (board === BOARDS.pico_w && !settings.some((setting) => setting.startsWith("ssid=")))
	console.warn("npm run build:pico: no ssid= given: the board will not join Wi-Fi (it logs \"No Wi-Fi SSID\"); add ssid=<network> password=<secret> broker=mqtt://<ip>:1883");

const env = {
	...process.env,
	// mcconfig runs tsc from PATH: our TypeScript first, then the SDK's tools.
	PATH: [bin, sdkTools, process.env.PATH].join(delimiter),
	PICO_ROOT: picoRoot,
	PICO_SDK_DIR: picoSdk,
	PICO_GCC_ROOT: dirname(gccBin),
	// The SDK's pico makefile needs bash (brace expansion, [[ ]]); /bin/sh is dash on Debian.
	MAKEFLAGS: [process.env.MAKEFLAGS, "SHELL=/bin/bash"].filter(Boolean).join(" "),
	// manifest.json picks the plain Pico's manifest by it: standalone, or joined over a serial link.
	NIGHTLIGHT_LINK: link ?? "standalone",
};

function run(command, args) {
	console.log(`> ${[command, ...args].join(" ")}`);
	const result = spawnSync(command, args, { cwd: root, env, stdio: "inherit" });
	if (result.status !== 0)
		process.exit(result.status ?? 1);
}

run(join(bin, "tsc"), ["-p", "tsconfig.pico.json"]);
if (out)
	mkdirSync(out, { recursive: true }); // mcconfig -o wants an existing folder
// -t build only: mcconfig's default target would also wait for the board's drive and open xsbug.
run(mcconfig, [...(debug ? ["-d"] : []), "-m", "-p", board.platform, "-t", "build", ...(out ? ["-o", out] : []), ...settings]);

const folder = join(out ?? join(moddable, "build"), "bin", board.folder, debug ? "debug" : "release", "nightlight");
const uf2 = join(folder, "xs_pico.uf2");
if (!existsSync(uf2))
	fail(`mcconfig finished but ${uf2} is missing`);
const elf = join(folder, "xs_pico.elf");
console.log(`\nnightlight for ${link ? "the Pico, joined over a serial link (UART0 GP0/GP1 to nightlight bridge)" : board.name}: ${uf2}`);
const size = spawnSync(join(gccBin, "arm-none-eabi-size"), ["-A", elf], { encoding: "utf8" });
if (size.status === 0) {
	const sections = Object.fromEntries([...size.stdout.matchAll(/^(\.\S+)\s+(\d+)\s+\d+$/gm)].map((match) => [match[1], Number(match[2])]));
	const bytes = (...names) => names.reduce((sum, name) => sum + (sections[name] ?? 0), 0);
	const flash = bytes(".boot2", ".text", ".rodata", ".ARM.extab", ".ARM.exidx", ".binary_info", ".data");
	const ram = bytes(".ram_vector_table", ".data", ".uninitialized_data", ".bss");
	const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
	console.log(`flash ${kb(flash)} of 2048 KB, static RAM ${kb(ram)} of 264 KB (text ${sections[".text"]}, rodata ${sections[".rodata"]}, data ${sections[".data"]}, bss ${sections[".bss"]} bytes; arm-none-eabi-size -A ${elf})`);
}
console.log("Flash it: hold BOOTSEL while plugging the board in, then copy the .uf2 to the RPI-RP2 drive.");
