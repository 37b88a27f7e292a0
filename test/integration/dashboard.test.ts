/*
 * The dashboard in a real browser: `nightlight up` (broker, server, one simulated device) and
 * Debian's chromium driven headless by playwright-core. Moving the device's slider below the
 * threshold lights its lamp within 2 s; moving it back darkens it. Screenshots go to test-results/.
 * After a restart a freshly opened page charts the hours before it from the server's history.
 * With an API token, the page given `#token=…` keeps it and its buttons work; without it a button
 * asks for the token, and a wrong one is said on the page.
 * Without /usr/bin/chromium the test is skipped with a hint, except under CI where it must run.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import mqtt from "mqtt";
import { type Browser, type Page, chromium } from "playwright-core";
import { openSqliteStore } from "../../server/history-sqlite.js";
import { freePort } from "../support/brokers.js";
import { until } from "../support/wait.js";

const CHROMIUM = "/usr/bin/chromium";
const available = existsSync(CHROMIUM);
if (!available) {
	if (process.env.CI)
		throw new Error(`${CHROMIUM} is missing under CI: .ci/run installs it (apt-get install chromium)`);
	console.log("skipped: chromium not installed (apt-get install chromium)");
}
const run = available ? describe : describe.skip;
const ID = "dash-1";
const LAUNCH = {
	executablePath: CHROMIUM,
	headless: true,
	args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
};

/**
 * What an earlier run of the server left in its history file: three hours of ID's readings, one
 * every 30 s, as dusk falls (bright, then dark), with the commands that followed.
 */
async function seedHistory(stateDir: string): Promise<void> {
	const store = await openSqliteStore(join(stateDir, "history.sqlite"));
	const now = Date.now();
	const readings = [];
	for (let at = now - 3 * 3600_000; at < now - 60_000; at += 30_000) {
		const progress = (at - (now - 3 * 3600_000)) / (3 * 3600_000);
		readings.push({ device: ID, at, light: Math.round(Math.max(40, 850 - 900 * progress + 40 * Math.sin(at / 600_000))) });
	}
	const dark = readings.find((reading) => reading.light < 300)!;
	await store.write(readings, [{ device: ID, at: dark.at, kind: "command", value: "on", detail: "changed" }]);
	await store.close();
}

run("the dashboard in a browser", () => {
	let child: ChildProcessWithoutNullStreams;
	let browser: Browser;
	let page: Page;
	let url: string;
	const output = { text: "" };
	const stateDir = mkdtempSync(join(tmpdir(), "nightlight-dashboard-"));

	let args: string[];

	/** Starts `nightlight up` and waits for its banner; the same ports each time. */
	async function startUp(): Promise<string> {
		output.text = "";
		child = spawn(process.execPath, ["dist/nightlight.js", ...args], { env: { ...process.env, NIGHTLIGHT_LOG_LEVEL: "warn" } });
		child.stdout.on("data", (chunk) => (output.text += chunk));
		child.stderr.on("data", (chunk) => (output.text += chunk));
		return until(() => /dashboard\s+(http:\/\/\S+)/.exec(output.text)?.[1], "the dashboard's address in the banner", 10_000);
	}

	async function stopUp(): Promise<void> {
		if (!child || child.exitCode !== null)
			return;
		const exited = new Promise((resolve) => child.once("exit", resolve));
		child.kill("SIGINT");
		await exited;
	}

	beforeAll(async () => {
		await seedHistory(stateDir);
		args = ["up", "--mqtt-port", String(await freePort()), "--ws-port", String(await freePort()), "--http-port", String(await freePort()), "--state-dir", stateDir, "--id", ID, "--light", "600"];
		url = await startUp();
		browser = await chromium.launch(LAUNCH);
		page = await browser.newPage({ viewport: { width: 1000, height: 420 } });
		mkdirSync("test-results", { recursive: true });
	}, 30_000);

	afterAll(async () => {
		await browser?.close();
		await stopUp();
		rmSync(stateDir, { recursive: true, force: true });
	});

	async function slide(light: number): Promise<void> {
		await page.locator(`[data-testid="slider-device-${ID}"]`).evaluate((input, value) => {
			// Runs in the page; this project's types are Node's, so the input is described here.
			const slider = input as unknown as { value: string; dispatchEvent(event: Event): boolean };
			slider.value = String(value);
			slider.dispatchEvent(new Event("input", { bubbles: true }));
		}, light);
	}

	test("moving the simulated device's slider below the threshold lights its lamp within 2 s, and back darkens it", async () => {
		await page.goto(url);
		const lamp = page.locator(`[data-testid="lamp-device-${ID}"]`);
		await lamp.waitFor({ timeout: 10_000 });
		await page.waitForSelector(`[data-testid="lamp-device-${ID}"][data-on="false"]`, { timeout: 10_000 });
		await page.waitForSelector(`[data-testid="slider-device-${ID}"]`, { timeout: 10_000 });
		// Let the chart gather a few seconds of light before the change.
		await page.waitForTimeout(1_500);

		let started = Date.now();
		await slide(100);
		await page.waitForSelector(`[data-testid="lamp-device-${ID}"][data-on="true"]`, { timeout: 2_000 });
		const onMs = Date.now() - started;
		await page.waitForTimeout(1_000);
		await page.screenshot({ path: "test-results/dashboard-dark.png" });

		started = Date.now();
		await slide(700);
		await page.waitForSelector(`[data-testid="lamp-device-${ID}"][data-on="false"]`, { timeout: 2_000 });
		const offMs = Date.now() - started;
		await page.waitForTimeout(1_000);
		await page.screenshot({ path: "test-results/dashboard-bright.png" });
		console.log(`figure: dashboard slider → lamp on in ${onMs} ms, off in ${offMs} ms`);
		expect(await lamp.getAttribute("data-on")).toBe("false");
	}, 30_000);

	test("a device whose LED does not do what the server decided is marked drift", async () => {
		const id = "dash-stuck";
		const port = args[args.indexOf("--mqtt-port") + 1];
		// A device that says its LED is on and never obeys: bright light, so the server decides off.
		const stuck = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
		try {
			await stuck.publishAsync(`${id}/status`, "online", { qos: 1, retain: true });
			await stuck.publishAsync(`${id}/state`, `{"led_on":true,"mode":"remote","rejected":0}`, { qos: 1, retain: true });
			await stuck.publishAsync(`${id}/telemetry`, `{"light":900}`, { qos: 1 });
			const mark = page.locator(`[data-testid="drift-device-${id}"]`);
			await page.waitForSelector(`[data-testid="drift-device-${id}"]:not([hidden])`, { timeout: 10_000 });
			expect(await mark.getAttribute("title")).toContain("commanding it again");
			expect(await page.locator(`[data-testid="drift-device-${ID}"]`).isHidden()).toBe(true);
			// Obeyed at last: the mark goes.
			await stuck.publishAsync(`${id}/state`, `{"led_on":false,"mode":"remote","rejected":0}`, { qos: 1, retain: true });
			await page.waitForSelector(`[data-testid="drift-device-${id}"][hidden]`, { state: "attached", timeout: 10_000 });
			for (const topic of ["status", "state"])
				await stuck.publishAsync(`${id}/${topic}`, "", { qos: 1, retain: true });
		}
		finally {
			await stuck.endAsync();
		}
	}, 30_000);

	test("the override buttons force the lamp on and hand it back", async () => {
		await page.locator(`[data-testid="mode-device-${ID}-on"]`).click();
		await page.waitForSelector(`[data-testid="lamp-device-${ID}"][data-on="true"]`, { timeout: 2_000 });
		await page.locator(`[data-testid="mode-device-${ID}-auto"]`).click();
		await page.waitForSelector(`[data-testid="lamp-device-${ID}"][data-on="false"]`, { timeout: 2_000 });
	}, 30_000);

	test("the settings panel shows what the device runs and changes it; the fleet panel changes every device", async () => {
		// Light 700 under the server's threshold 300 is bright: a device threshold of 800 makes it dark.
		await page.locator(`[data-testid="settings-${ID}"] summary`).click();
		const threshold = page.locator(`[data-testid="settings-${ID}"] [data-testid="setting-threshold"]`);
		await threshold.waitFor({ timeout: 5_000 });
		expect(await threshold.inputValue()).toBe("300");
		expect(await page.locator(`[data-testid="settings-${ID}"] [data-testid="setting-mqtt_password"]`).inputValue()).toBe("");
		await threshold.fill("800");
		await page.locator(`[data-testid="settings-${ID}"] [data-testid="settings-save"]`).click();
		await page.waitForSelector(`[data-testid="settings-${ID}"] [data-testid="settings-result"]:has-text("saved: revision 1")`, { timeout: 8_000 });
		await page.waitForSelector(`[data-testid="lamp-device-${ID}"][data-on="true"]`, { timeout: 5_000 });
		await page.screenshot({ path: "test-results/dashboard-settings.png", fullPage: true });
		await page.locator(`[data-testid="settings-fleet"] summary`).click();
		const fleet = page.locator(`[data-testid="settings-fleet"] [data-testid="setting-threshold"]`);
		await fleet.fill("300");
		await page.locator(`[data-testid="settings-fleet"] [data-testid="settings-save"]`).click();
		await page.waitForSelector(`[data-testid="settings-fleet"] [data-testid="settings-result"]:has-text("1 devices changed")`, { timeout: 8_000 });
		await page.waitForSelector(`[data-testid="lamp-device-${ID}"][data-on="false"]`, { timeout: 5_000 });
		await page.locator(`[data-testid="settings-fleet"] summary`).click();
	}, 40_000);

	test("after a restart the page reconnects by itself, and an override survives the restart", async () => {
		await page.locator(`[data-testid="mode-device-${ID}-off"]`).click();
		await page.waitForSelector(`[data-testid="mode-device-${ID}-off"].active`, { timeout: 2_000 });
		await stopUp();
		await page.waitForSelector("#link.down", { timeout: 5_000 });
		expect(await startUp()).toBe(url);
		await page.waitForFunction(`document.getElementById("link").textContent === "live"`, undefined, { timeout: 10_000 });
		// The override was saved in the state directory and loaded again: dark in spite of the slider.
		await page.waitForSelector(`[data-testid="mode-device-${ID}-off"].active`, { timeout: 5_000 });
		await slide(100);
		await page.waitForTimeout(1_000);
		expect(await page.locator(`[data-testid="lamp-device-${ID}"]`).getAttribute("data-on")).toBe("false");
		await page.locator(`[data-testid="mode-device-${ID}-auto"]`).click();
		await page.waitForSelector(`[data-testid="lamp-device-${ID}"][data-on="true"]`, { timeout: 2_000 });
		await page.screenshot({ path: "test-results/dashboard-after-restart.png" });
	}, 40_000);

	test("a page opened after a restart charts the light from before it, from the server's history, and offers it as CSV", async () => {
		const card = `[data-testid="card-device-${ID}"]`;
		const restartedAt = Date.now();
		await stopUp();
		expect(await startUp()).toBe(url);
		const fresh = await browser.newPage({ viewport: { width: 1000, height: 420 } });
		try {
			await fresh.goto(url);
			// The three hours an earlier run recorded (a reading every 30 s), and this run's before the restart.
			await fresh.waitForFunction(`Number(document.querySelector('${card}')?.dataset.history ?? 0) >= 300`, undefined, { timeout: 10_000 });
			await fresh.screenshot({ path: "test-results/dashboard-history-after-restart.png" });
			const href = await fresh.locator(`[data-testid="csv-device-${ID}"]`).getAttribute("href");
			const csv = await (await fetch(new URL(href!, url))).text();
			const rows = csv.trim().split("\r\n").slice(1).map((line) => line.split(","));
			expect(rows.length).toBeGreaterThanOrEqual(2);
			expect(rows.some(([time]) => Number(time) < restartedAt)).toBe(true);
			expect(rows.map((row) => Number(row[3]))).toContain(100);
			// Another window asks the server again: 15 minutes in buckets of a second show each step of the light.
			const before = await fresh.locator(`[data-testid="csv-device-${ID}"]`).getAttribute("href");
			await fresh.selectOption(`[data-testid="window"]`, "15 min");
			await fresh.waitForFunction(`document.querySelector('[data-testid="csv-device-${ID}"]').getAttribute("href") !== ${JSON.stringify(before)}`, undefined, { timeout: 5_000 });
			await fresh.waitForFunction(`Number(document.querySelector('${card}')?.dataset.history ?? 0) >= 4`, undefined, { timeout: 10_000 });
		}
		finally {
			await fresh.close();
		}
	}, 40_000);
});

run("the dashboard with an API token", () => {
	const TOKEN = "dashboard-test-token-0123";
	const DEVICE = "dash-token";
	const lamp = `[data-testid="lamp-device-${DEVICE}"]`;
	const output = { text: "" };
	const stateDir = mkdtempSync(join(tmpdir(), "nightlight-dashboard-token-"));
	let child: ChildProcessWithoutNullStreams;
	let browser: Browser;
	let url: string;

	beforeAll(async () => {
		const args = ["up", "--mqtt-port", String(await freePort()), "--ws-port", String(await freePort()), "--http-port", String(await freePort()), "--state-dir", stateDir, "--id", DEVICE, "--light", "600"];
		child = spawn(process.execPath, ["dist/nightlight.js", ...args], { env: { ...process.env, NIGHTLIGHT_LOG_LEVEL: "warn", NIGHTLIGHT_API_TOKEN: TOKEN } });
		child.stdout.on("data", (chunk) => (output.text += chunk));
		child.stderr.on("data", (chunk) => (output.text += chunk));
		url = await until(() => /dashboard\s+(http:\/\/\S+)/.exec(output.text)?.[1], "the dashboard's address in the banner", 10_000);
		browser = await chromium.launch(LAUNCH);
		mkdirSync("test-results", { recursive: true });
	}, 30_000);

	afterAll(async () => {
		await browser?.close();
		if (child && child.exitCode === null) {
			const exited = new Promise((resolve) => child.once("exit", resolve));
			child.kill("SIGINT");
			await exited;
		}
		rmSync(stateDir, { recursive: true, force: true });
	});

	/** A page with storage of its own, and every question it asks answered by `answers` in turn (none: dismissed). */
	async function open(address: string, answers: string[] = []): Promise<{ page: Page; asked: string[] }> {
		const page = await (await browser.newContext({ viewport: { width: 1000, height: 420 } })).newPage();
		const asked: string[] = [];
		page.on("dialog", (dialog) => {
			asked.push(dialog.message());
			const answer = answers.shift();
			(answer === undefined ? dialog.dismiss() : dialog.accept(answer)).catch(() => undefined);
		});
		await page.goto(address);
		await page.waitForSelector(`${lamp}[data-on="false"]`, { timeout: 10_000 });
		return { page, asked };
	}

	async function overrides(): Promise<unknown> {
		return ((await (await fetch(new URL("/api/overrides", url))).json()) as { overrides: unknown }).overrides;
	}

	test("the banner says changes need the token and never shows it", () => {
		expect(output.text).toContain("changes need the API token");
		expect(output.text).not.toContain(TOKEN);
	});

	test("given #token=… once, the page keeps it, takes it out of the address bar, and its buttons work", async () => {
		const { page, asked } = await open(`${url}#token=${TOKEN}`);
		expect(page.url()).toBe(url);
		expect(await page.evaluate(`localStorage.getItem("nightlight.apiToken")`)).toBe(TOKEN);
		await page.waitForFunction(`document.getElementById("lock").textContent === "API token saved"`, undefined, { timeout: 5_000 });
		await page.locator(`[data-testid="mode-device-${DEVICE}-on"]`).click();
		await page.waitForSelector(`${lamp}[data-on="true"]`, { timeout: 2_000 });
		await page.screenshot({ path: "test-results/dashboard-token.png" });
		await page.locator(`[data-testid="mode-device-${DEVICE}-auto"]`).click();
		await page.waitForSelector(`${lamp}[data-on="false"]`, { timeout: 2_000 });
		// Kept: a reload without the fragment still changes things, and nothing was asked.
		await page.reload();
		await page.locator(`[data-testid="mode-device-${DEVICE}-off"]`).click();
		await page.waitForSelector(`[data-testid="mode-device-${DEVICE}-off"].active`, { timeout: 2_000 });
		expect(await overrides()).toMatchObject([{ kind: "device", id: DEVICE, mode: "off" }]);
		await page.locator(`[data-testid="mode-device-${DEVICE}-auto"]`).click();
		await page.waitForSelector(`[data-testid="mode-device-${DEVICE}-auto"].active`, { timeout: 2_000 });
		expect(await overrides()).toEqual([]);
		expect(asked).toEqual([]);
		await page.context().close();
	}, 30_000);

	test("without a token a button asks for it; a wrong one is said on the page and changes nothing; the right one works", async () => {
		const { page, asked } = await open(url, []);
		await page.waitForFunction(`document.getElementById("lock").textContent === "changes need the API token"`, undefined, { timeout: 5_000 });
		const on = page.locator(`[data-testid="mode-device-${DEVICE}-on"]`);

		// Asked and dismissed: the page says what is needed.
		await on.click();
		await page.waitForSelector("#notice:not([hidden])", { timeout: 2_000 });
		expect(await page.locator("#notice").textContent()).toContain("changes on this nightlight need its API token");

		// A wrong token: refused, said on the page, forgotten.
		page.removeAllListeners("dialog");
		page.once("dialog", (dialog) => {
			asked.push(dialog.message());
			dialog.accept("wrong-token-0123456789").catch(() => undefined);
		});
		await on.click();
		await page.waitForFunction(`document.getElementById("notice").textContent.includes("was refused")`, undefined, { timeout: 2_000 });
		await page.screenshot({ path: "test-results/dashboard-token-refused.png" });
		expect(await overrides()).toEqual([]);
		expect(await page.locator(lamp).getAttribute("data-on")).toBe("false");
		expect(await page.evaluate(`localStorage.getItem("nightlight.apiToken")`)).toBeNull();
		expect(output.text).toContain("wrong API token");

		// The right one: the change goes through and the message goes away.
		page.once("dialog", (dialog) => {
			asked.push(dialog.message());
			dialog.accept(TOKEN).catch(() => undefined);
		});
		await on.click();
		await page.waitForSelector(`${lamp}[data-on="true"]`, { timeout: 2_000 });
		expect(await page.locator("#notice").isHidden()).toBe(true);
		expect(asked).toHaveLength(3);
		expect(asked.every((message) => message.includes("API token"))).toBe(true);
		await page.locator(`[data-testid="mode-device-${DEVICE}-auto"]`).click();
		await page.waitForSelector(`${lamp}[data-on="false"]`, { timeout: 2_000 });
		await page.context().close();
	}, 30_000);
});
