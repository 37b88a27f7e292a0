/* Bundles the XS entry (scenarios, fakes and the core) into one ES2022 script, as XS runs it. */
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

/** `entry` defaults to test/xs/entry.ts next to this file (pass it when this file is itself bundled). */
export async function bundleForXs(entry = fileURLToPath(new URL("./entry.ts", import.meta.url))): Promise<string> {
	const result = await build({
		entryPoints: [entry],
		bundle: true,
		format: "iife",
		target: "es2022",
		platform: "neutral",
		write: false,
		logLevel: "warning",
	});
	return result.outputFiles[0]!.text;
}
