// npm run emulate:pico: bundles tools/emulate-pico.ts for Node and runs it (see that file for its options).
import { mkdirSync } from "node:fs";
import { bundleForNode } from "./bundle.js";

const outfile = "node_modules/.cache/nightlight/emulate-pico.mjs";
mkdirSync("node_modules/.cache/nightlight", { recursive: true });
await bundleForNode("tools/emulate-pico.ts", outfile);
await import(new URL(`../${outfile}`, import.meta.url).href);
