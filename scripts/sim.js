// npm run sim [-- key=value ...]: type-checks the simulator host, builds the app for the desktop
// simulator with the Moddable SDK and opens it in mcsim with our simulated nightlight.
//
//   npm run sim                                    broker mqtt://127.0.0.1:1883, id nightlight-sim
//   npm run sim -- broker=mqtt://192.168.1.10 id=desk
//
// Needs the Moddable SDK built from its Getting Started guide ($MODDABLE set, its tools built)
// and `npm install` (for tsc). Exits with 2 and says what to install when something is missing.
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const GUIDE = "https://github.com/Moddable-OpenSource/moddable/blob/public/documentation/Moddable%20SDK%20-%20Getting%20Started.md";
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const platform = { linux: "lin", darwin: "mac", win32: "win" }[process.platform];

function fail(message) {
	console.error(`npm run sim: ${message}`);
	process.exit(2);
}

if (!platform)
	fail(`the Moddable simulator runs on Linux, macOS and Windows, not on ${process.platform}`);
const moddable = process.env.MODDABLE;
if (!moddable)
	fail(`MODDABLE is not set. Install the Moddable SDK and build its tools as its Getting Started guide says (${GUIDE}), then export MODDABLE=<the SDK's folder>.`);
const tools = join(moddable, "build", "bin", platform, "release");
const exe = platform === "win" ? ".exe" : "";
const mcconfig = join(tools, `mcconfig${exe}`);
const mcsim = platform === "mac" ? join(tools, "mcsim.app") : join(tools, `mcsim${exe}`);
if (!existsSync(mcconfig) || !existsSync(mcsim))
	fail(`the Moddable SDK tools are not built in ${tools} (mcconfig and mcsim are missing). Build them as the SDK's Getting Started guide says (${GUIDE}).`);
const bin = join(root, "node_modules", ".bin");
if (!existsSync(join(bin, platform === "win" ? "tsc.cmd" : "tsc")))
	fail("TypeScript's tsc is missing: run npm install in this folder first (mcconfig compiles our .ts modules with it).");

// mcconfig runs tsc from PATH: our TypeScript first, then the SDK's tools.
const env = { ...process.env, PATH: [bin, tools, process.env.PATH].join(delimiter) };
function run(command, args) {
	console.log(`> ${[command, ...args].join(" ")}`);
	const result = spawnSync(command, args, { cwd: root, env, stdio: "inherit", shell: platform === "win" });
	if (result.status !== 0)
		process.exit(result.status ?? 1);
}

run(join(bin, "tsc"), ["-p", "tsconfig.sim.json"]);
// -t build only: mcconfig's default target would also kill running simulators and open xsbug.
run(mcconfig, ["-d", "-m", "-p", platform, "-t", "build", ...process.argv.slice(2)]);

const library = join(moddable, "build", "bin", platform, "mc", "debug", "nightlight", platform === "win" ? "mc.dll" : "mc.so");
const simulators = join(root, "simulator");
console.log(`> mcsim ${simulators} ${library}`);
const child = platform === "mac"
	? spawn("open", ["-a", mcsim, simulators, library], { stdio: "inherit" }) // as the SDK's make.mac.mk does
	: spawn(mcsim, [simulators, library], { stdio: "inherit" });
child.on("exit", (code) => process.exit(code ?? 0));
