// `npm run bench`: bundles bench/run.ts with esbuild and runs it.
import { spawnSync } from "node:child_process";
import { bundleForNode } from "./bundle.js";

await bundleForNode("bench/run.ts", "dist/bench.js");
const result = spawnSync(process.execPath, ["--enable-source-maps", "dist/bench.js"], { stdio: "inherit" });
process.exit(result.status ?? 1);
