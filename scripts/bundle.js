// One way to bundle a TypeScript entry for Node (the command, the benchmarks): ESM, node20,
// npm packages left external, source maps. Type-checking is separate: `npm run typecheck`.
import { build } from "esbuild";

export function bundleForNode(entry, outfile, extra = {}) {
	return build({
		entryPoints: [entry],
		outfile,
		bundle: true,
		platform: "node",
		format: "esm",
		target: "node20",
		packages: "external",
		sourcemap: true,
		logLevel: "warning",
		...extra,
	});
}
