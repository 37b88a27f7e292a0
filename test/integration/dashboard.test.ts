/*
 * The dashboard in a real browser: `nightlight up` (broker, server, one simulated device) and
 * Debian's chromium driven headless by playwright-core. Moving the device's slider below the
 * threshold lights its lamp within 2 s; moving it back darkens it. Screenshots go to test-results/.
 * Without /usr/bin/chromium the test is skipped with a hint, except under CI where it must run.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { type Browser, type Page, chromium } from "playwright-core";
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
		args = ["up", "--mqtt-port", String(await freePort()), "--ws-port", String(await freePort()), "--http-port", String(await freePort()), "--state-dir", stateDir, "--id", ID, "--light", "600"];
		url = await startUp();
		browser = await chromium.launch({
			executablePath: CHROMIUM,
			headless: true,
			args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
		});
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

	test("the override buttons force the lamp on and hand it back", async () => {
		await page.locator(`[data-testid="mode-device-${ID}-on"]`).click();
		await page.waitForSelector(`[data-testid="lamp-device-${ID}"][data-on="true"]`, { timeout: 2_000 });
		await page.locator(`[data-testid="mode-device-${ID}-auto"]`).click();
		await page.waitForSelector(`[data-testid="lamp-device-${ID}"][data-on="false"]`, { timeout: 2_000 });
	}, 30_000);

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
});
