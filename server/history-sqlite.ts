/*
 * The history in an SQLite file (better-sqlite3): the default, nothing to install. The binding is
 * synchronous, so History hands it a whole tick's rows at once and it writes them in transactions
 * of CHUNK_ROWS rows, letting the event loop handle what came in between two: a large fleet's
 * tick never holds a command up for the whole batch. WAL mode, so reading a chart never waits for
 * a write.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type DatabaseType from "better-sqlite3";
import { type Bucket, type HistoryStore, type Mark, type Reading, SCHEMA } from "./history.js";

/** Rows per transaction: a few milliseconds of the event loop each. */
const CHUNK_ROWS = 500;
const yieldToEvents = () => new Promise<void>((resolve) => setImmediate(resolve));

export async function openSqliteStore(file: string): Promise<HistoryStore> {
	const { default: Database } = await import("better-sqlite3");
	mkdirSync(dirname(file), { recursive: true });
	let db: DatabaseType.Database;
	try {
		// Another process writing the same file (not a supported set-up) makes a write wait this long at most.
		db = new Database(file, { timeout: 250 });
		db.pragma("journal_mode = WAL");
		db.pragma("synchronous = NORMAL");
		for (const statement of SCHEMA)
			db.exec(statement);
	}
	catch (error) {
		throw new Error(`cannot open the SQLite file ${file}: ${(error as Error).message}`);
	}
	const insertReading = db.prepare("INSERT INTO nightlight_readings (device, at, light) VALUES (?, ?, ?)");
	const insertMark = db.prepare("INSERT INTO nightlight_marks (device, at, kind, value, detail) VALUES (?, ?, ?, ?, ?)");
	const write = db.transaction((readings: Reading[], marks: Mark[]) => {
		for (const row of readings)
			insertReading.run(row.device, row.at, row.light);
		for (const row of marks)
			insertMark.run(row.device, row.at, row.kind, row.value, row.detail);
	});
	// A JavaScript number is bound as REAL, so the bucket is `at - at % step` (% works on integers), not `at / step`.
	const buckets = db.prepare(`SELECT at - at % :step AS at, AVG(light) AS light, MIN(light) AS min, MAX(light) AS max, COUNT(*) AS count
		FROM nightlight_readings WHERE device = :device AND at >= :from AND at < :to GROUP BY at - at % :step ORDER BY 1`);
	const marks = db.prepare(`SELECT device, at, kind, value, detail FROM nightlight_marks
		WHERE device = :device AND at >= :from AND at < :to ORDER BY at DESC LIMIT :limit`);
	const pruneReadings = db.prepare("DELETE FROM nightlight_readings WHERE at < ?");
	const pruneMarks = db.prepare("DELETE FROM nightlight_marks WHERE at < ?");
	return {
		description: `the SQLite file ${file}`,
		async write(readings, rows) {
			for (let start = 0; start < readings.length || start < rows.length; start += CHUNK_ROWS) {
				if (start > 0)
					await yieldToEvents();
				write(readings.slice(start, start + CHUNK_ROWS), rows.slice(start, start + CHUNK_ROWS));
			}
		},
		async buckets(device, from, to, step) {
			return buckets.all({ device, from, to, step }) as Bucket[];
		},
		async marks(device, from, to, limit) {
			return (marks.all({ device, from, to, limit }) as Mark[]).reverse();
		},
		async prune(before) {
			return pruneReadings.run(before).changes + pruneMarks.run(before).changes;
		},
		async close() {
			db.close();
		},
	};
}
