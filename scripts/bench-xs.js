// npm run bench:xs: bundles test/xs/bench.ts for Node (it drives the XS worker) and runs it.
import { mkdirSync } from "node:fs";
import { build } from "esbuild";

const outfile = "node_modules/.cache/nightlight/bench-xs.mjs";
mkdirSync("node_modules/.cache/nightlight", { recursive: true });
await build({
	entryPoints: ["test/xs/bench.ts"],
	outfile,
	bundle: true,
	platform: "node",
	format: "esm",
	target: "node20",
	packages: "external",
	logLevel: "warning",
});
await import(new URL(`../${outfile}`, import.meta.url).href);
