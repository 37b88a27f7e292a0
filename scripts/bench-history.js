// `npm run bench:history`: bundles bench/history.ts with esbuild and runs it (after `npm run build`: it starts dist/nightlight.js).
import { spawnSync } from "node:child_process";
import { bundleForNode } from "./bundle.js";

await bundleForNode("bench/history.ts", "dist/bench-history.js");
const result = spawnSync(process.execPath, ["--enable-source-maps", "dist/bench-history.js"], { stdio: "inherit" });
process.exit(result.status ?? 1);
