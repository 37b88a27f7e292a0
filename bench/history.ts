/*
 * `npm run bench:history`: what keeping the history costs. Three figures, written into
 * docs/BENCHMARKS.md between their own markers:
 *   1. the insert rate each database sustains through the server's own path (History: one batch
 *      per tick, the batch as large as a fleet's readings in one second);
 *   2. the database size per device per day, at the lesson's rate (a reading every 2 s) and at
 *      ours in a steady room (the 60 s heartbeat), from rows as the server writes them;
 *   3. the capacity benchmark's stages with the history kept (SQLite) and with `--db none`.
 * PostgreSQL figures need Debian's postgresql (started here like the tests do). HISTORY_FLEETS
 * (comma-separated) sets the capacity stages.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { History, type HistoryStore, type Reading } from "../server/history.js";
import { openPostgresStore } from "../server/history-postgres.js";
import { openSqliteStore } from "../server/history-sqlite.js";
import type { Clock } from "../src/ports.js";
import { mosquittoPath, mosquittoVersion, startMosquitto } from "../test/support/brokers.js";
import { postgresBin, startPostgres } from "../test/support/postgres.js";
import { type CapacityStage, capacity } from "./capacity.js";

const FILE = "docs/BENCHMARKS.md";
const BEGIN = "<!-- npm run bench:history: begin -->";
const END = "<!-- npm run bench:history: end -->";
const FLEET = 20_000;
const TICKS = 30;
const SIZE_DEVICES = 20;
const fleets = (process.env.HISTORY_FLEETS ?? "5000,10000,20000").split(",").map(Number);

/** A clock whose timers never fire: the benchmark flushes itself, tick by tick. */
const manualClock: Clock = { now: () => Date.now(), setTimeout: () => 0, clearTimeout: () => undefined, setInterval: () => 0, clearInterval: () => undefined };

interface Rate {
	rows: number;
	seconds: number;
	p50Ms: number;
	maxMs: number;
}

/** TICKS ticks of a FLEET-device fleet at one reading per second each, through History, one flush per tick. */
async function insertRate(store: HistoryStore): Promise<Rate> {
	const batches: number[] = [];
	const history = new History({ store, clock: manualClock, log: () => undefined, onBatch: (_rows, ms) => batches.push(ms) });
	for (let tick = 0; tick < TICKS; tick++) {
		for (let i = 0; i < FLEET; i++)
			history.observe({ type: "telemetry", id: `nightlight-${(0x100000 + i).toString(16)}`, light: (i * 7 + tick * 13) % 1024, replayed: false });
		await history.flush();
	}
	await history.stop();
	const sorted = [...batches].sort((a, b) => a - b);
	const seconds = batches.reduce((sum, ms) => sum + ms, 0) / 1000;
	return { rows: FLEET * TICKS, seconds, p50Ms: sorted[Math.floor(sorted.length / 2)]!, maxMs: sorted.at(-1)! };
}

/** One day of SIZE_DEVICES devices at one reading every `periodS` s, as the server writes them. */
async function fillDay(store: HistoryStore, periodS: number): Promise<number> {
	const day = 24 * 3600;
	const start = Date.now() - day * 1000;
	let rows = 0;
	for (let second = 0; second < day; second += Math.max(periodS, 60)) {
		const readings: Reading[] = [];
		for (let at = second; at < second + Math.max(periodS, 60); at += periodS) {
			for (let i = 0; i < SIZE_DEVICES; i++)
				readings.push({ device: `nightlight-${(0xa00000 + i).toString(16)}`, at: start + at * 1000 + i * 37, light: Math.round(500 + 300 * Math.sin((at + i * 600) / 7000)) });
		}
		await store.write(readings, []);
		rows += readings.length;
	}
	return rows;
}

async function sqliteSize(periodS: number): Promise<number> {
	const dir = mkdtempSync(join(tmpdir(), "nightlight-bench-size-"));
	try {
		const file = join(dir, "history.sqlite");
		const store = await openSqliteStore(file);
		await fillDay(store, periodS);
		await store.close();
		// Closing checkpoints the WAL into the file: its size is the database's.
		return statSync(file).size / SIZE_DEVICES;
	}
	finally {
		rmSync(dir, { recursive: true, force: true });
	}
}

async function postgresSize(url: string, periodS: number): Promise<number> {
	const client = new pg.Client({ connectionString: url });
	await client.connect();
	try {
		await client.query("DROP TABLE IF EXISTS nightlight_readings, nightlight_marks");
		const store = await openPostgresStore(url, () => undefined);
		await fillDay(store, periodS);
		await store.close();
		await client.query("VACUUM ANALYZE nightlight_readings");
		const result = await client.query("SELECT pg_total_relation_size('nightlight_readings')::float8 AS bytes");
		return Number(result.rows[0].bytes) / SIZE_DEVICES;
	}
	finally {
		await client.end();
	}
}

const lines: string[] = [];
const say = (line = "") => {
	lines.push(line);
	console.log(line);
};
const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`;

say("## History: insert rate and database size");
say();
say(`Machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, load average ${loadavg()[0]!.toFixed(1)} at the start (other work shares the cores). Date: ${new Date().toISOString().slice(0, 10)}. Command: \`npm run bench:history\`. Each figure below was measured in this one run.`);
say();

const rates: Array<[string, Rate]> = [];
const sizes: Array<[string, number, number]> = [];
const dir = mkdtempSync(join(tmpdir(), "nightlight-bench-history-"));
try {
	rates.push(["SQLite (better-sqlite3, WAL, synchronous=NORMAL)", await insertRate(await openSqliteStore(join(dir, "rate.sqlite")))]);
	sizes.push(["SQLite", await sqliteSize(2), await sqliteSize(60)]);
	if (postgresBin()) {
		const postgres = await startPostgres();
		try {
			const version = (await (async () => {
				const client = new pg.Client({ connectionString: postgres.url });
				await client.connect();
				const result = await client.query("SHOW server_version");
				await client.end();
				return String(result.rows[0].server_version);
			})());
			rates.push([`PostgreSQL ${version.split(" ")[0]} on 127.0.0.1 (fsync off, as in the tests)`, await insertRate(await openPostgresStore(postgres.url, () => undefined))]);
			sizes.push([`PostgreSQL ${version.split(" ")[0]}`, await postgresSize(postgres.url, 2), await postgresSize(postgres.url, 60)]);
		}
		finally {
			await postgres.stop();
		}
	}
	else {
		console.error("PostgreSQL not installed: its figures are left out (apt-get install postgresql)");
	}
}
finally {
	rmSync(dir, { recursive: true, force: true });
}

say("### 1. Insert rate");
say();
say(`${FLEET.toLocaleString("en")} devices at one reading per second each, ${TICKS} ticks: each tick's ${FLEET.toLocaleString("en")} readings go through the server's History in one batch (one transaction), on an empty database. Write time is what the database took; for SQLite it is time the server's event loop is busy (the binding is synchronous), for PostgreSQL it is waited for asynchronously.`);
say();
say("| database | rows | rows/s sustained | batch p50 ms | batch max ms |");
say("|---|---:|---:|---:|---:|");
for (const [name, rate] of rates)
	say(`| ${name} | ${rate.rows.toLocaleString("en")} | ${Math.round(rate.rows / rate.seconds).toLocaleString("en")} | ${rate.p50Ms.toFixed(1)} | ${rate.maxMs.toFixed(1)} |`);
say();

say("### 2. Database size per device per day");
say();
say(`${SIZE_DEVICES} devices, one simulated day each, readings only (commands and availability add a row per change), measured on disk (SQLite: the file after its WAL is checkpointed; PostgreSQL: \`pg_total_relation_size\` of the readings table, indexes included, after VACUUM). The lesson's device sends every 2 s; ours, in a steady room, sends its 60 s heartbeat (more when the light moves by more than the deadband).`);
say();
say("| database | a reading every 2 s (43,200/day) | every 60 s (1,440/day) | per reading |");
say("|---|---:|---:|---:|");
for (const [name, lesson, ours] of sizes)
	say(`| ${name} | ${mb(lesson)} | ${kb(ours)} | ${(lesson / 43_200).toFixed(0)} bytes |`);
say();
const [, sqliteLesson, sqliteOurs] = sizes[0]!;
say(`With the default 7 days kept, a device at the lesson's rate takes about ${mb(sqliteLesson * 7)} of SQLite, one of ours in a steady room about ${kb(sqliteOurs * 7)}; 1,000 of ours about ${mb(sqliteOurs * 7 * 1000)}.`);
say();

// 3. Beside the capacity benchmark: the same stages with the history kept and without.
let withHistory: CapacityStage[] = [];
let without: CapacityStage[] = [];
if (mosquittoPath()) {
	const stateDir = mkdtempSync(join(tmpdir(), "nightlight-bench-capacity-"));
	try {
		for (const [args, into] of [[["--state-dir", stateDir], "with"], [["--db", "none"], "without"]] as const) {
			const broker = await startMosquitto({ config: ["max_queued_messages 100000"] });
			try {
				const stages = await capacity(broker, fleets, 10_000, 1, [...args]);
				if (into === "with")
					withHistory = stages;
				else
					without = stages;
			}
			finally {
				await broker.stop();
			}
		}
		const file = join(stateDir, "history.sqlite");
		say("### 3. Server capacity with the history kept");
		say();
		say(`The capacity benchmark's load (one reading per device per second, one in ten crossing the threshold; ${mosquittoVersion()} on 127.0.0.1, 10 s stages) against one \`nightlight server\` keeping its history in SQLite (the default), then with \`--db none\`. A stage passes when p99 < 250 ms and at least 99 % of the commands arrive.`);
		say();
		say("| history | devices | readings/s | commands | p50 ms | p99 ms | server CPU (cores) | server RSS MB | passes |");
		say("|---|---:|---:|---:|---:|---:|---:|---:|---|");
		for (const [label, list] of [["SQLite", withHistory], ["none", without]] as const) {
			for (const stage of list)
				say(`| ${label} | ${stage.devices} | ${stage.rate} | ${stage.commandsReceived}/${stage.commandsExpected} | ${stage.p50.toFixed(1)} | ${stage.p99.toFixed(1)} | ${stage.serverCpu.toFixed(2)} | ${stage.serverRssMb.toFixed(0)} | ${stage.ok ? "yes" : "no"} |`);
		}
		say();
		const largest = (list: CapacityStage[]) => [...list].reverse().find((stage) => stage.ok)?.devices ?? 0;
		if (largest(without) === 0)
			say(`Without the history the first stage failed as well: the machine was saturated by other work (load average ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores at the end), so these stages compare nothing; run \`npm run bench:history\` again on a quiet machine.`);
		else
			say(`Largest fleet that passed: ${largest(withHistory).toLocaleString("en")} devices with the history in SQLite, ${largest(without).toLocaleString("en")} without.`);
		if (existsSync(file))
			say(`The SQLite file after the run: ${mb(statSync(file).size + (existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0))} (WAL included).`);
		say();
	}
	finally {
		rmSync(stateDir, { recursive: true, force: true });
	}
}
else {
	console.error("Mosquitto not installed: the capacity figures are left out (apt-get install mosquitto)");
}

const block = `${BEGIN}\n${lines.join("\n").trimEnd()}\n${END}`;
let text = existsSync(FILE) ? readFileSync(FILE, "utf8") : "# Benchmarks\n";
if (text.includes(BEGIN) && text.includes(END))
	text = text.slice(0, text.indexOf(BEGIN)) + block + text.slice(text.indexOf(END) + END.length);
else
	text = `${text.trimEnd()}\n\n${block}\n`;
writeFileSync(FILE, text);
console.log(`\nwritten to ${FILE}`);
