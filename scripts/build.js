// Bundles the Node command (cli/nightlight.ts and what it imports) into dist/nightlight.js, and
// the dashboard (dashboard/app.ts with uPlot from npm, no CDN) into dist/dashboard/.
// Type-checking is separate: `npm run typecheck`.
import { chmodSync, copyFileSync, mkdirSync } from "node:fs";
import { build } from "esbuild";
import { bundleForNode } from "./bundle.js";

const outfile = "dist/nightlight.js";
await bundleForNode("cli/nightlight.ts", outfile, { banner: { js: "#!/usr/bin/env node" } });
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
