// `npm run bench`: bundles bench/run.ts with esbuild and runs it.
import { spawnSync } from "node:child_process";
import { build } from "esbuild";

await build({
	entryPoints: ["bench/run.ts"],
	outfile: "dist/bench.js",
	bundle: true,
	platform: "node",
	format: "esm",
	target: "node20",
	packages: "external",
	sourcemap: true,
	logLevel: "warning",
});
const result = spawnSync(process.execPath, ["--enable-source-maps", "dist/bench.js"], { stdio: "inherit" });
process.exit(result.status ?? 1);
