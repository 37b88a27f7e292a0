// npm run bench:link: bundles bench/link.ts for Node and runs it (the Pico joined over a serial link, through the whole system).
import { mkdirSync } from "node:fs";
import { bundleForNode } from "./bundle.js";

const outfile = "node_modules/.cache/nightlight/bench-link.mjs";
mkdirSync("node_modules/.cache/nightlight", { recursive: true });
await bundleForNode("bench/link.ts", outfile);
await import(new URL(`../${outfile}`, import.meta.url).href);
