/*
 * History: what the server heard and did, kept in a database so a chart survives a restart.
 *
 * Recorded, each at the server's clock (a device's clock may be wrong): every reading (and each
 * group's aggregate, under `group:<name>`), and as marks the commands, the availability, the
 * state a device reports and the overrides. Rows are buffered and written once per tick
 * (FLUSH_MS) in one transaction, so the MQTT handling never waits for the disk or the network.
 * While a write is in flight the buffer grows, up to BUFFER_MAX_ROWS; beyond that the oldest rows
 * are dropped and counted. A failing database is logged once, then once when it works again;
 * the server keeps commanding devices meanwhile.
 *
 * Rows older than the retention are deleted at start and every hour. Long ranges are downsampled
 * when read: the readings are averaged into buckets of `step` ms (with their min and max).
 *
 * The schema is the same on every backend (server/history-sqlite.ts, server/history-postgres.ts).
 */
import { messageOf } from "../src/errors.js";
import type { Clock, Log, TimerHandle } from "../src/ports.js";
import type { ServerEvent } from "./types.js";

const TAG = "history";
export const FLUSH_MS = 1_000;
/** A flush starts at once when this many rows wait. */
const BATCH_ROWS = 5_000;
export const BUFFER_MAX_ROWS = 200_000;
const PRUNE_EVERY_MS = 60 * 60 * 1000;
export const DAY_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_RETENTION_DAYS = 7;
/** At most this many points in one answer: a longer range gets a larger step. */
export const MAX_POINTS = 2_000;
export const MIN_STEP_MS = 1_000;
const MAX_MARKS = 5_000;

/** The tables, in SQL that SQLite and PostgreSQL both take. */
export const SCHEMA = [
	"CREATE TABLE IF NOT EXISTS nightlight_readings (device TEXT NOT NULL, at BIGINT NOT NULL, light SMALLINT NOT NULL)",
	"CREATE INDEX IF NOT EXISTS nightlight_readings_device_at ON nightlight_readings (device, at)",
	"CREATE INDEX IF NOT EXISTS nightlight_readings_at ON nightlight_readings (at)",
	"CREATE TABLE IF NOT EXISTS nightlight_marks (device TEXT NOT NULL, at BIGINT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL, detail TEXT)",
	"CREATE INDEX IF NOT EXISTS nightlight_marks_device_at ON nightlight_marks (device, at)",
	"CREATE INDEX IF NOT EXISTS nightlight_marks_at ON nightlight_marks (at)",
];

export interface Reading {
	device: string;
	at: number;
	light: number;
}

export type MarkKind = "command" | "availability" | "state" | "override";

/** Something that happened to a device: a command ("on"/"off", why), its availability, its reported state (LED, mode), an override. */
export interface Mark {
	device: string;
	at: number;
	kind: MarkKind;
	value: string;
	detail: string | null;
}

/** Readings averaged over `step` ms from `at`. */
export interface Bucket {
	at: number;
	light: number;
	min: number;
	max: number;
	count: number;
}

/** A database that keeps the history: one per backend. */
export interface HistoryStore {
	/** What it is, for the log and errors (no password). */
	readonly description: string;
	write(readings: Reading[], marks: Mark[]): Promise<void>;
	buckets(device: string, from: number, to: number, step: number): Promise<Bucket[]>;
	marks(device: string, from: number, to: number, limit: number): Promise<Mark[]>;
	/** Deletes what is older than `before`; the number of rows deleted. */
	prune(before: number): Promise<number>;
	close(): Promise<void>;
}

export interface HistoryStats {
	rowsWritten: number;
	batches: number;
	writeErrors: number;
	/** Rows lost: a failed batch, or the buffer over BUFFER_MAX_ROWS. */
	rowsDropped: number;
}

export interface HistoryOptions {
	store: HistoryStore;
	clock: Clock;
	log: Log;
	retentionDays?: number;
	/** Told how long each batch took to write, in ms. */
	onBatch?: (rows: number, ms: number) => void;
}

export interface HistoryAnswer {
	id: string;
	from: number;
	to: number;
	step: number;
	points: Bucket[];
	marks: Array<Omit<Mark, "device">>;
}

export class History {
	#store: HistoryStore;
	#clock: Clock;
	#log: Log;
	#retentionMs: number;
	#readings: Reading[] = [];
	#marks: Mark[] = [];
	#writing: Promise<void> | undefined;
	#flushTimer: TimerHandle | undefined;
	#pruneTimer: TimerHandle | undefined;
	#failing = false;
	#failedBatches = 0;
	#stopped = false;
	#onBatch: ((rows: number, ms: number) => void) | undefined;
	readonly stats: HistoryStats = { rowsWritten: 0, batches: 0, writeErrors: 0, rowsDropped: 0 };

	constructor(options: HistoryOptions) {
		this.#store = options.store;
		this.#clock = options.clock;
		this.#log = options.log;
		const days = options.retentionDays ?? DEFAULT_RETENTION_DAYS;
		if (!(days > 0))
			throw new RangeError(`history retention must be more than 0 days, got ${days}`);
		this.#retentionMs = days * DAY_MS;
		this.#onBatch = options.onBatch;
	}

	get description(): string {
		return this.#store.description;
	}

	get retentionMs(): number {
		return this.#retentionMs;
	}

	start(): void {
		this.#flushTimer = this.#clock.setInterval(() => void this.flush(), FLUSH_MS);
		this.#pruneTimer = this.#clock.setInterval(() => void this.prune(), PRUNE_EVERY_MS);
		void this.prune();
	}

	/** Writes what is buffered, then closes the database. */
	async stop(): Promise<void> {
		if (this.#stopped)
			return;
		this.#stopped = true;
		this.#clock.clearInterval(this.#flushTimer);
		this.#clock.clearInterval(this.#pruneTimer);
		await this.flush();
		await this.#store.close();
	}

	/** Takes a server event into the buffer. */
	observe(event: ServerEvent): void {
		if (this.#stopped)
			return;
		const at = this.#clock.now();
		switch (event.type) {
		case "telemetry":
			this.#readings.push({ device: event.id, at, light: event.light });
			break;
		case "group":
			if (event.light !== undefined)
				this.#readings.push({ device: `group:${event.name}`, at, light: Math.round(event.light) });
			break;
		case "command":
			this.#mark(event.id, at, "command", event.led_on ? "on" : "off", event.reason);
			break;
		case "availability":
			this.#mark(event.id, at, "availability", event.availability, null);
			break;
		case "state":
			this.#mark(event.id, at, "state", event.led_on ? "on" : "off", event.mode);
			break;
		case "overrides": {
			// One override set or removed (auto); a group's is marked on its aggregate's row.
			const { kind, id, override } = event.change;
			this.#mark(kind === "group" ? `group:${id}` : id, at, "override", override?.mode ?? "auto", override?.threshold === undefined ? null : String(override.threshold));
			break;
		}
		default:
			return;
		}
		const waiting = this.#readings.length + this.#marks.length;
		if (waiting > BUFFER_MAX_ROWS)
			this.#dropOldest(waiting - BUFFER_MAX_ROWS);
		else if (waiting >= BATCH_ROWS && this.#writing === undefined)
			void this.flush();
	}

	/** Writes the buffer in one batch; one batch at a time. Never throws. */
	async flush(): Promise<void> {
		while (this.#writing)
			await this.#writing;
		if (this.#readings.length === 0 && this.#marks.length === 0)
			return;
		const readings = this.#readings;
		const marks = this.#marks;
		this.#readings = [];
		this.#marks = [];
		const rows = readings.length + marks.length;
		const started = performance.now();
		const writing = this.#store.write(readings, marks).then(() => {
			this.stats.rowsWritten += rows;
			this.stats.batches++;
			this.#onBatch?.(rows, performance.now() - started);
			if (this.#failing) {
				this.#failing = false;
				this.#log("info", TAG, `writing to ${this.#store.description} again, after ${this.#failedBatches} failed batches (their rows are lost)`);
				this.#failedBatches = 0;
			}
		}, (error: unknown) => {
			this.stats.writeErrors++;
			this.stats.rowsDropped += rows;
			this.#failedBatches++;
			if (!this.#failing) {
				this.#failing = true;
				this.#log("error", TAG, `cannot write to ${this.#store.description}: ${messageOf(error)}; history is not kept until it works again (the server goes on commanding devices)`);
			}
		});
		this.#writing = writing;
		await writing;
		this.#writing = undefined;
	}

	/** Deletes rows older than the retention. Never throws. */
	async prune(): Promise<void> {
		try {
			const deleted = await this.#store.prune(this.#clock.now() - this.#retentionMs);
			if (deleted > 0)
				this.#log("debug", TAG, `deleted ${deleted} rows older than ${this.#retentionMs / DAY_MS} days`);
		}
		catch (error) {
			this.#log("warn", TAG, `cannot delete old rows from ${this.#store.description}: ${messageOf(error)}`);
		}
	}

	/**
	 * The readings of a device (or `group:<name>`) from `from` to `to` (ms), averaged over `step` ms
	 * (default: what keeps the answer within MAX_POINTS), and its marks. What is still buffered is
	 * written first, so an answer includes the last second.
	 */
	async query(id: string, from: number, to: number, step?: number): Promise<HistoryAnswer> {
		const range = to - from;
		const bucket = step ?? Math.max(MIN_STEP_MS, Math.ceil(range / MAX_POINTS / MIN_STEP_MS) * MIN_STEP_MS);
		await this.flush();
		const [points, marks] = await Promise.all([
			this.#store.buckets(id, from, to, bucket),
			this.#store.marks(id, from, to, MAX_MARKS),
		]);
		return { id, from, to, step: bucket, points, marks: marks.map(({ device: _device, ...mark }) => mark) };
	}

	#mark(device: string, at: number, kind: MarkKind, value: string, detail: string | null): void {
		this.#marks.push({ device, at, kind, value, detail });
	}

	#dropOldest(count: number): void {
		const fromReadings = Math.min(count, this.#readings.length);
		this.#readings.splice(0, fromReadings);
		this.#marks.splice(0, count - fromReadings);
		if (this.stats.rowsDropped === 0)
			this.#log("warn", TAG, `${this.#store.description} cannot keep up: more than ${BUFFER_MAX_ROWS} rows wait; dropping the oldest`);
		this.stats.rowsDropped += count;
	}
}

/** CSV of the buckets: one line per step, time in ms and ISO 8601. */
export function historyCsv(answer: HistoryAnswer): string {
	const lines = ["time_ms,time,light,light_min,light_max,readings"];
	for (const point of answer.points)
		lines.push(`${point.at},${new Date(point.at).toISOString()},${round(point.light)},${point.min},${point.max},${point.count}`);
	return lines.join("\r\n") + "\r\n";
}

function round(value: number): string {
	return String(Math.round(value * 10) / 10);
}
