/* The `nightlight` command as a child process, for tests: run it to the end, or start it and read its output. */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process";

export const CLI = "dist/nightlight.js";

/** The user's NIGHTLIGHT_* settings must not leak into these tests. */
export function cleanEnv(): NodeJS.ProcessEnv {
	const env = { ...process.env };
	for (const key of Object.keys(env)) {
		if (key.startsWith("NIGHTLIGHT_"))
			delete env[key];
	}
	return env;
}

export function runCli(args: string[], env: Record<string, string> = {}) {
	return spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", env: { ...cleanEnv(), ...env }, timeout: 15_000 });
}

/** Starts the command; `children` collects it so that the test can stop it afterwards. */
export function startCli(args: string[], children: ChildProcessWithoutNullStreams[], env: Record<string, string> = {}) {
	const child = spawn(process.execPath, [CLI, ...args], { env: { ...cleanEnv(), ...env } });
	children.push(child);
	const output = { text: "" };
	child.stdout.on("data", (chunk) => (output.text += chunk));
	child.stderr.on("data", (chunk) => (output.text += chunk));
	return { child, output };
}

/** SIGINT, as Ctrl-C; SIGKILL 5 s later if it is still there. Resolves with the exit code. */
export function stopCli(child: ChildProcessWithoutNullStreams): Promise<number | null> {
	return new Promise((resolve) => {
		if (child.exitCode !== null)
			return resolve(child.exitCode);
		child.once("exit", (code) => resolve(code));
		child.kill("SIGINT");
		setTimeout(() => child.kill("SIGKILL"), 5_000).unref();
	});
}
