// npm run bench:xs: bundles test/xs/bench.ts for Node (it drives the XS worker) and runs it.
import { mkdirSync } from "node:fs";
import { bundleForNode } from "./bundle.js";

const outfile = "node_modules/.cache/nightlight/bench-xs.mjs";
mkdirSync("node_modules/.cache/nightlight", { recursive: true });
await bundleForNode("test/xs/bench.ts", outfile);
await import(new URL(`../${outfile}`, import.meta.url).href);
