// npm run bench:pico: bundles bench/pico.ts for Node and runs it (the firmware's figures in the RP2040 emulator).
import { mkdirSync } from "node:fs";
import { bundleForNode } from "./bundle.js";

const outfile = "node_modules/.cache/nightlight/bench-pico.mjs";
mkdirSync("node_modules/.cache/nightlight", { recursive: true });
await bundleForNode("bench/pico.ts", outfile);
await import(new URL(`../${outfile}`, import.meta.url).href);
