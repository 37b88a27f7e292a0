/*
 * The history on each database it runs on: SQLite (a file in a temporary folder) and a real
 * PostgreSQL server started for the suite. One contract, both stores: rows written in ticks,
 * read back in buckets with marks, old rows deleted, a failing database logged once while the
 * rest goes on. The clock is a fake one; the databases are real.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { DAY_MS, FLUSH_MS, History, type HistoryStore, historyCsv } from "../server/history.js";
import { openPostgresStore } from "../server/history-postgres.js";
import { openSqliteStore } from "../server/history-sqlite.js";
import type { LogLevel } from "../src/ports.js";
import { FakeClock } from "./support/fake-clock.js";
import { type TestPostgres, postgresAvailable, startPostgres } from "./support/postgres.js";

const T0 = 1_700_000_000_000;

/** Lets the store's promises settle after the fake clock fired a flush. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

function contract(name: string, open: () => Promise<HistoryStore>): void {
	describe(`history on ${name}`, () => {
		let store: HistoryStore;
		let clock: FakeClock;
		let history: History;
		let lines: Array<[LogLevel, string]>;

		beforeAll(async () => {
			store = await open();
		}, 60_000);

		afterAll(async () => {
			await history?.stop();
		});

		test("readings and marks come back at the server's time, averaged per step, with CSV", async () => {
			clock = new FakeClock(T0);
			lines = [];
			history = new History({ store, clock, log: (level, _tag, message) => lines.push([level, message]), retentionDays: 7 });
			history.start();
			for (let i = 0; i < 10; i++) {
				history.observe({ type: "telemetry", id: "a", light: 100 + i * 10, replayed: false });
				history.observe({ type: "telemetry", id: "b", light: 900, replayed: false });
				clock.advance(1_000);
			}
			history.observe({ type: "command", id: "a", led_on: true, reason: "changed" });
			clock.advance(1);
			history.observe({ type: "availability", id: "a", availability: "offline" });
			clock.advance(1);
			history.observe({ type: "state", id: "a", led_on: true, mode: "local" });
			clock.advance(1);
			history.observe({ type: "group", name: "hall", light: 412.5, fresh: 3, led_on: false });
			// The override of "a" removed (back to auto), one of "b" set.
			history.observe({ type: "overrides", overrides: [], change: { kind: "device", id: "a", override: null } });
			history.observe({ type: "overrides", overrides: [{ kind: "device", id: "b", mode: "on", threshold: 200 }], change: { kind: "device", id: "b", override: { kind: "device", id: "b", mode: "on", threshold: 200 } } });
			clock.advance(FLUSH_MS);
			await settle();
			await history.flush();
			expect(history.stats.rowsWritten).toBe(26);

			const answer = await history.query("a", T0, T0 + 11_000, 5_000);
			expect(answer.step).toBe(5_000);
			expect(answer.points).toEqual([
				{ at: T0, light: 120, min: 100, max: 140, count: 5 },
				{ at: T0 + 5_000, light: 170, min: 150, max: 190, count: 5 },
			]);
			expect(answer.marks).toEqual([
				{ at: T0 + 10_000, kind: "command", value: "on", detail: "changed" },
				{ at: T0 + 10_001, kind: "availability", value: "offline", detail: null },
				{ at: T0 + 10_002, kind: "state", value: "on", detail: "local" },
				{ at: T0 + 10_003, kind: "override", value: "auto", detail: null },
			]);
			const b = await history.query("b", T0, T0 + 20_000);
			expect(b.step).toBe(1_000);
			expect(b.points).toHaveLength(10);
			expect(b.marks).toEqual([{ at: T0 + 10_003, kind: "override", value: "on", detail: "200" }]);
			const group = await history.query("group:hall", T0, T0 + 20_000);
			expect(group.points.map((point) => point.light)).toEqual([413]);
			expect(historyCsv(answer).split("\r\n")).toEqual([
				"time_ms,time,light,light_min,light_max,readings",
				`${T0},${new Date(T0).toISOString()},120,100,140,5`,
				`${T0 + 5_000},${new Date(T0 + 5_000).toISOString()},170,150,190,5`,
				"",
			]);
			// A long range is downsampled to at most MAX_POINTS buckets.
			expect((await history.query("a", T0 - 7 * DAY_MS, T0 + DAY_MS)).step).toBeGreaterThanOrEqual(8 * DAY_MS / 2_000);
		}, 30_000);

		test("what is older than the retention is deleted, the rest kept", async () => {
			clock.advance(7 * DAY_MS - 5_003);
			history.observe({ type: "telemetry", id: "a", light: 5, replayed: false });
			await history.flush();
			await history.prune();
			const answer = await history.query("a", T0, clock.now() + 1);
			// Now is 7 days and 6 s after the first reading: readings of the first 6 s are gone; the 4 after them, the marks and the new one stay.
			expect(answer.points.reduce((sum, point) => sum + point.count, 0)).toBe(5);
			expect(answer.marks).toHaveLength(4);
		}, 30_000);
	});
}

const dir = mkdtempSync(join(tmpdir(), "nightlight-history-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
contract("SQLite", () => openSqliteStore(join(dir, "sub", "history.sqlite")));

const withPostgres = postgresAvailable();
let postgres: TestPostgres | undefined;
if (withPostgres) {
	afterAll(async () => {
		await postgres?.stop();
	});
	contract("PostgreSQL", async () => {
		postgres = await startPostgres();
		return openPostgresStore(postgres.url, () => undefined);
	});
}

describe("a database that fails", () => {
	test("is logged once, its rows counted as lost, and logged again when it works; observing never throws", async () => {
		let failing = true;
		const written: number[] = [];
		const store: HistoryStore = {
			description: "a test database",
			write: async (readings) => {
				if (failing)
					throw new Error("disk full");
				written.push(readings.length);
			},
			buckets: async () => [],
			marks: async () => [],
			prune: async () => 0,
			close: async () => undefined,
		};
		const clock = new FakeClock(T0);
		const lines: Array<[LogLevel, string]> = [];
		const history = new History({ store, clock, log: (level, _tag, message) => lines.push([level, message]) });
		history.start();
		for (let tick = 0; tick < 3; tick++) {
			history.observe({ type: "telemetry", id: "a", light: 1, replayed: false });
			clock.advance(FLUSH_MS);
			await settle();
		}
		expect(history.stats).toMatchObject({ writeErrors: 3, rowsDropped: 3, rowsWritten: 0 });
		expect(lines.filter(([level]) => level === "error")).toEqual([["error", "cannot write to a test database: disk full; history is not kept until it works again (the server goes on commanding devices)"]]);
		failing = false;
		history.observe({ type: "telemetry", id: "a", light: 2, replayed: false });
		clock.advance(FLUSH_MS);
		await settle();
		expect(written).toEqual([1]);
		expect(lines.at(-1)).toEqual(["info", "writing to a test database again, after 3 failed batches (their rows are lost)"]);
		await history.stop();
	});

	test("PostgreSQL that is not there: one line that says where and what to do", async () => {
		const { freePort } = await import("./support/brokers.js");
		const port = await freePort();
		await expect(openPostgresStore(`postgres://someone:secret@127.0.0.1:${port}/db`, () => undefined))
			.rejects.toThrow(new RegExp(`^cannot use PostgreSQL at postgres://someone:\\*\\*\\*@127\\.0\\.0\\.1:${port}/db: connection refused .*is PostgreSQL running and listening there\\?$`));
	});
});
