// Bundles the Node command (cli/nightlight.ts and what it imports) into dist/nightlight.js, and
// the dashboard (dashboard/app.ts with uPlot from npm, no CDN) into dist/dashboard/.
// Type-checking is separate: `npm run typecheck`.
import { chmodSync, copyFileSync, mkdirSync } from "node:fs";
import { build } from "esbuild";

const outfile = "dist/nightlight.js";
await build({
	entryPoints: ["cli/nightlight.ts"],
	outfile,
	bundle: true,
	platform: "node",
	format: "esm",
	target: "node20",
	packages: "external",
	sourcemap: true,
	banner: { js: "#!/usr/bin/env node" },
	logLevel: "warning",
});
chmodSync(outfile, 0o755);

await build({
	entryPoints: { app: "dashboard/app.ts" },
	outdir: "dist/dashboard",
	bundle: true,
	platform: "browser",
	format: "iife",
	target: "es2020",
	minify: true,
	sourcemap: true,
	logLevel: "warning",
});
mkdirSync("dist/dashboard", { recursive: true });
copyFileSync("dashboard/index.html", "dist/dashboard/index.html");
