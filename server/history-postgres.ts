/*
 * The history on a PostgreSQL server (`--db postgres://...`): the same tables as in SQLite, for a
 * fleet whose servers share one database. Writes are asynchronous; each tick's rows go in one
 * statement (arrays unnested), readings and marks together, so a batch is all or nothing.
 * Creating the tables takes an advisory lock, so servers that start together do not collide.
 */
import pg from "pg";
import { redactUrl } from "../runtime/node/mqtt.js";
import { type Bucket, type HistoryStore, type Mark, SCHEMA } from "./history.js";

/** Any number, picked once: the advisory lock that guards creating the tables. */
const SCHEMA_LOCK = 0x6e6c6874;
const CONNECT_TIMEOUT_MS = 5_000;

const WRITE = `WITH readings AS (
	INSERT INTO nightlight_readings (device, at, light) SELECT * FROM unnest($1::text[], $2::int8[], $3::int2[])
) INSERT INTO nightlight_marks (device, at, kind, value, detail) SELECT * FROM unnest($4::text[], $5::int8[], $6::text[], $7::text[], $8::text[])`;

export async function openPostgresStore(url: string, onError: (error: Error) => void): Promise<HistoryStore> {
	const shown = redactUrl(url);
	const pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, application_name: "nightlight" });
	// An idle connection that breaks (server restart) is reported here rather than thrown.
	pool.on("error", onError);
	try {
		const client = await pool.connect();
		try {
			await client.query("BEGIN");
			await client.query("SELECT pg_advisory_xact_lock($1)", [SCHEMA_LOCK]);
			for (const statement of SCHEMA)
				await client.query(statement);
			await client.query("COMMIT");
		}
		catch (error) {
			await client.query("ROLLBACK").catch(() => undefined);
			throw error;
		}
		finally {
			client.release();
		}
	}
	catch (error) {
		await pool.end().catch(() => undefined);
		throw new Error(`cannot use PostgreSQL at ${shown}: ${describe(error)}`);
	}
	return {
		description: `PostgreSQL at ${shown}`,
		async write(readings, marks) {
			await pool.query(WRITE, [
				readings.map((row) => row.device), readings.map((row) => row.at), readings.map((row) => row.light),
				marks.map((row) => row.device), marks.map((row) => row.at), marks.map((row) => row.kind), marks.map((row) => row.value), marks.map((row) => row.detail),
			]);
		},
		async buckets(device, from, to, step) {
			const result = await pool.query(`SELECT (at / $4::int8) * $4::int8 AS at, AVG(light)::float8 AS light, MIN(light) AS min, MAX(light) AS max, COUNT(*)::int AS count
				FROM nightlight_readings WHERE device = $1 AND at >= $2 AND at < $3 GROUP BY at / $4::int8 ORDER BY 1`, [device, from, to, step]);
			return result.rows.map((row: Record<string, unknown>): Bucket => ({ at: Number(row.at), light: Number(row.light), min: Number(row.min), max: Number(row.max), count: Number(row.count) }));
		},
		async marks(device, from, to, limit) {
			const result = await pool.query(`SELECT device, at, kind, value, detail FROM nightlight_marks
				WHERE device = $1 AND at >= $2 AND at < $3 ORDER BY at DESC LIMIT $4`, [device, from, to, limit]);
			return result.rows.map((row: Record<string, unknown>): Mark => ({ ...(row as unknown as Mark), at: Number(row.at) })).reverse();
		},
		async prune(before) {
			const readings = await pool.query("DELETE FROM nightlight_readings WHERE at < $1", [before]);
			const marks = await pool.query("DELETE FROM nightlight_marks WHERE at < $1", [before]);
			return (readings.rowCount ?? 0) + (marks.rowCount ?? 0);
		},
		close: () => pool.end(),
	};
}

/** One line for a connection failure: node's AggregateError (IPv4 and IPv6 refused) has no message of its own. */
function describe(error: unknown): string {
	if (error instanceof AggregateError && error.errors.length > 0)
		return describe(error.errors[0]);
	const code = (error as NodeJS.ErrnoException | undefined)?.code;
	const message = error instanceof Error ? error.message : String(error);
	if (code === "ECONNREFUSED")
		return `connection refused (${message}): is PostgreSQL running and listening there?`;
	return message || code || "unknown error";
}
