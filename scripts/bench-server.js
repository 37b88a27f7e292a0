// `npm run bench:server`: bundles bench/server-http.ts and runs it (the server's HTTP side under load).
import { spawnSync } from "node:child_process";
import { bundleForNode } from "./bundle.js";

await bundleForNode("bench/server-http.ts", "dist/bench-server.js");
const result = spawnSync(process.execPath, ["--enable-source-maps", "dist/bench-server.js"], { stdio: "inherit" });
process.exit(result.status ?? 1);
