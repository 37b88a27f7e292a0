/*
 * A real PostgreSQL server for a test suite: Debian's `postgresql` binaries, a fresh cluster in a
 * temporary folder (initdb), listening on 127.0.0.1 and a free port, trusted local logins. Root
 * cannot run PostgreSQL, so as root the cluster belongs to the `postgres` user (runuser).
 * Without the binaries a suite is skipped with a message, except in CI, where that is an error.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./brokers.js";
import { until } from "./wait.js";

/** The folder of Debian's PostgreSQL programs (the newest version installed), or undefined. */
export function postgresBin(): string | undefined {
	const root = "/usr/lib/postgresql";
	if (!existsSync(root))
		return undefined;
	const versions = readdirSync(root).filter((name) => existsSync(join(root, name, "bin", "postgres"))).sort((a, b) => Number(b) - Number(a));
	return versions[0] === undefined ? undefined : join(root, versions[0], "bin");
}

export function postgresAvailable(): boolean {
	if (postgresBin())
		return true;
	if (process.env.CI)
		throw new Error("PostgreSQL is not installed, and CI must test the history on it: apt-get install postgresql (.ci/run does)");
	console.log("skipped: PostgreSQL not installed (apt-get install postgresql)");
	return false;
}

export interface TestPostgres {
	/** postgres://nightlight@127.0.0.1:PORT/nightlight */
	url: string;
	port: number;
	stop(): Promise<void>;
}

export async function startPostgres(): Promise<TestPostgres> {
	const bin = postgresBin();
	if (!bin)
		throw new Error("PostgreSQL is not installed: apt-get install postgresql");
	const root = process.getuid?.() === 0;
	const dir = mkdtempSync(join(tmpdir(), "nightlight-postgres-"));
	const asOwner = (command: string, args: string[]): [string, string[]] => (root ? ["runuser", ["-u", "postgres", "--", command, ...args]] : [command, args]);
	if (root) {
		const ids = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
		const groups = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
		chownSync(dir, Number(ids.stdout), Number(groups.stdout));
	}
	const data = join(dir, "data");
	const [initdb, initArgs] = asOwner(join(bin, "initdb"), ["-D", data, "-U", "nightlight", "--auth=trust", "-E", "UTF8", "--no-sync"]);
	const made = spawnSync(initdb, initArgs, { encoding: "utf8" });
	if (made.status !== 0)
		throw new Error(`initdb failed: ${made.stderr || made.stdout}`);
	const port = await freePort();
	const [postgres, args] = asOwner(join(bin, "postgres"), ["-D", data, "-k", dir, "-p", String(port), "-h", "127.0.0.1", "-c", "fsync=off"]);
	let output = "";
	const child: ChildProcess = spawn(postgres, args, { stdio: ["ignore", "pipe", "pipe"] });
	child.stdout!.on("data", (chunk) => (output += chunk));
	child.stderr!.on("data", (chunk) => (output += chunk));
	await until(() => /ready to accept connections/.test(output) || child.exitCode !== null, "PostgreSQL to start", 20_000);
	if (child.exitCode !== null)
		throw new Error(`PostgreSQL did not start: ${output}`);
	const [createdb, createArgs] = asOwner(join(bin, "createdb"), ["-h", "127.0.0.1", "-p", String(port), "-U", "nightlight", "nightlight"]);
	const created = spawnSync(createdb, createArgs, { encoding: "utf8" });
	if (created.status !== 0)
		throw new Error(`createdb failed: ${created.stderr}`);
	return {
		url: `postgres://nightlight@127.0.0.1:${port}/nightlight`,
		port,
		stop: async () => {
			// The server itself, not runuser: SIGINT is PostgreSQL's fast shutdown.
			const pidFile = join(data, "postmaster.pid");
			const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8").split("\n")[0]) : undefined;
			if (child.exitCode === null) {
				const exited = new Promise((resolve) => child.once("exit", resolve));
				if (pid)
					process.kill(pid, "SIGINT");
				else
					child.kill("SIGINT");
				await exited;
			}
			rmSync(dir, { recursive: true, force: true });
		},
	};
}
