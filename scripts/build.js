// Bundles the Node command (cli/nightlight.ts and what it imports) into dist/nightlight.js.
// Type-checking is separate: `npm run typecheck`.
import { chmodSync } from "node:fs";
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
