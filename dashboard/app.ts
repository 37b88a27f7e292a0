/*
 * The dashboard, in the browser: one card per device and per group, each with its lamp, its
 * availability, a chart of the light over the last minutes with the threshold line, override
 * buttons, and for devices simulated by `nightlight up` a light slider. Live updates come as
 * server-sent events from /api/events; an EventSource reconnects by itself after a restart, and
 * on every (re)connection the page reloads the whole picture from the JSON API, following the
 * pages of /api/devices. Events that ask for a reload while one runs get one more after it, not
 * one each. A stream the server refuses (too many dashboards open) is tried again later.
 * Each chart opens with the server's history of the chosen window (the last 3 hours unless the
 * header says otherwise), so it shows the past after a reload or a server restart; a link
 * downloads it as CSV.
 * When the server has an API token, a change it refuses (401, 403) asks for the token, keeps it
 * in localStorage and tries once more; `#token=…` in the address gives it once, then leaves the
 * address bar. Reading needs no token.
 */
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { deviceSettings, fleetSettings } from "./settings.js";

const TOKEN_KEY = "nightlight.apiToken";
const REFUSED_RETRY_MS = 30_000;
const WINDOW_KEY = "nightlight.window";
/** The chart windows offered, in seconds; the default is the last 3 hours. */
const WINDOWS_S: Record<string, number> = { "15 min": 15 * 60, "3 h": 3 * 3600, "24 h": 24 * 3600, "7 days": 7 * 24 * 3600 };
const DEFAULT_WINDOW = "3 h";

interface DeviceView {
	id: string;
	availability: "online" | "offline" | "unknown";
	light: number | null;
	lightAgeMs: number | null;
	ledOn: boolean | null;
	deviceMode: "remote" | "local" | null;
	/** The device does other than the server decided, and the server is commanding it again. */
	drifting: boolean;
	corrections: number;
	mode: "on" | "off" | "auto";
	threshold: number;
	group: string | null;
	simulated: boolean;
}

interface GroupView {
	name: string;
	sensors: string[];
	leds: string[];
	aggregate: string;
	threshold: number;
	light: number | null;
	fresh: number;
	ledOn: boolean | null;
	/** With servers sharing the fleet: the one that commands the group. */
	owner?: string;
}

interface Override {
	kind: "device" | "group";
	id: string;
	mode: "on" | "off" | "auto";
	threshold?: number;
}

interface Card {
	kind: "device" | "group";
	id: string;
	root: HTMLElement;
	csv: HTMLAnchorElement;
	lamp: HTMLElement;
	avail: HTMLElement;
	drift: HTMLElement;
	facts: HTMLElement;
	buttons: Map<string, HTMLButtonElement>;
	slider: HTMLInputElement | undefined;
	chart: uPlot;
	times: number[];
	lights: Array<number | null>;
	threshold: number;
	/** When a live LED state last came for it: a reply to an older request must not undo it. */
	stateAt: number;
}

const cards = new Map<string, Card>();
const container = document.getElementById("cards")!;
container.before(fleetSettings((method, path, body) => api(method, path, body), () => requestRefresh()));
const link = document.getElementById("link")!;
const lock = document.getElementById("lock")!;
const notice = document.getElementById("notice")!;
const windowChoice = document.getElementById("window") as HTMLSelectElement;
let overrides: Override[] = [];
/** The token when localStorage refuses it (some private windows): kept for this page only. */
let tokenInMemory: string | undefined;

/** A change the server refused for want of the right token; the page says so already. */
class TokenError extends Error {}

function element<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: Array<Node | string>): HTMLElementTagNameMap[K] {
	const node = Object.assign(document.createElement(tag), props);
	node.append(...children);
	return node;
}

function storedToken(): string | undefined {
	try {
		return localStorage.getItem(TOKEN_KEY) ?? tokenInMemory;
	}
	catch {
		return tokenInMemory;
	}
}

function storeToken(token: string | undefined): void {
	tokenInMemory = token;
	try {
		if (token === undefined)
			localStorage.removeItem(TOKEN_KEY);
		else
			localStorage.setItem(TOKEN_KEY, token);
	}
	catch {
		// Kept in memory: good for this page.
	}
}

/** `#token=…` once: kept, then out of the address bar and the history, where others could read it. */
function tokenFromAddress(): void {
	const match = /(?:^#|&)token=([^&]*)/.exec(location.hash);
	if (!match)
		return;
	try {
		storeToken(decodeURIComponent(match[1]!) || undefined);
	}
	catch {
		say("The token in the address is not valid percent-encoding: press a button to enter it instead.");
	}
	history.replaceState(null, "", location.pathname + location.search);
}

function say(text: string): void {
	notice.textContent = text;
	notice.hidden = text === "";
}

async function api(method: string, path: string, body?: unknown): Promise<unknown> {
	for (let asked = false; ; asked = true) {
		const headers: Record<string, string> = {};
		if (body !== undefined)
			headers["content-type"] = "application/json";
		const token = method === "GET" ? undefined : storedToken();
		if (token !== undefined)
			headers.authorization = `Bearer ${token}`;
		const response = await fetch(path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
		const json = await response.json() as { error?: string };
		if (response.status === 401 || response.status === 403) {
			const refused = response.status === 403;
			if (refused)
				storeToken(undefined);
			// One question per change: a wrong answer is said on the page, not asked again and again.
			const entered = asked ? null : window.prompt(refused
				? "The saved API token was refused. Enter this nightlight's current API token:"
				: "Changes on this nightlight need its API token (the server's --api-token). Enter it:")?.trim();
			if (entered) {
				storeToken(entered);
				continue;
			}
			say(refused
				? "Not changed: the API token was refused (wrong token). Press the button again to enter the right one."
				: "Not changed: changes on this nightlight need its API token. Press the button again to enter it, or open the dashboard with #token=YOUR-TOKEN after its address.");
			showLock(true);
			throw new TokenError(json.error ?? response.statusText);
		}
		if (!response.ok)
			throw new Error(json.error ?? response.statusText);
		if (method !== "GET") {
			say("");
			showLock(lock.dataset.auth === "true");
		}
		return json;
	}
}

/** The header's word on changes: whether they need a token and whether this page has one. */
function showLock(auth: boolean): void {
	lock.dataset.auth = String(auth);
	lock.textContent = !auth ? "" : storedToken() === undefined ? "changes need the API token" : "API token saved";
}

async function checkAuth(): Promise<void> {
	const health = await (await fetch("/api/health")).json() as { auth?: boolean };
	showLock(health.auth === true);
}

function card(key: string, kind: "device" | "group", id: string, simulated: boolean): Card {
	let existing = cards.get(key);
	if (existing)
		return existing;
	const lamp = element("div", { className: "lamp" });
	lamp.dataset.testid = `lamp-${key}`;
	const avail = element("span", { className: "avail" });
	const drift = element("span", { className: "drift", textContent: "drift", hidden: true });
	drift.dataset.testid = `drift-${key}`;
	const facts = element("div", { className: "facts" });
	const buttons = new Map<string, HTMLButtonElement>();
	const row = element("div", { className: "row" }, "override:");
	for (const mode of ["auto", "on", "off"] as const) {
		const button = element("button", { textContent: mode });
		button.dataset.testid = `mode-${key}-${mode}`;
		button.addEventListener("click", () => {
			const request = mode === "auto" ? api("DELETE", `/api/overrides/${kind}/${encodeURIComponent(id)}`).catch(() => undefined) : api("PUT", `/api/overrides/${kind}/${encodeURIComponent(id)}`, { mode });
			request.then(requestRefresh, (error: Error) => error instanceof TokenError || alert(error.message));
		});
		buttons.set(mode, button);
		row.append(button);
	}
	let slider: HTMLInputElement | undefined;
	const sliderRow = element("div", { className: "row" });
	if (simulated) {
		slider = element("input", { type: "range", min: "0", max: "1023", step: "1" });
		slider.dataset.testid = `slider-${key}`;
		const shown = element("span", { textContent: "" });
		let timer: ReturnType<typeof setTimeout> | undefined;
		let untouch: ReturnType<typeof setTimeout> | undefined;
		const send = () => {
			shown.textContent = slider!.value;
			// While the user moves it, the slider shows what they chose, not the last reading.
			slider!.dataset.touched = "true";
			clearTimeout(untouch);
			untouch = setTimeout(() => delete slider!.dataset.touched, 3_000);
			clearTimeout(timer);
			timer = setTimeout(() => api("POST", `/api/devices/${encodeURIComponent(id)}/light`, { light: Number(slider!.value) }).catch(() => undefined), 50);
		};
		slider.addEventListener("input", send);
		sliderRow.append("light:", slider, shown);
	}
	const csv = element("a", { className: "csv", textContent: "CSV", title: "download this chart's history as CSV" });
	csv.dataset.testid = `csv-${key}`;
	const title = element("h2", {}, lamp, `${kind === "group" ? "group " : ""}${id}`, avail, drift, csv);
	const plot = element("div");
	const root = element("section", { className: "card" }, title, facts, plot, row, sliderRow);
	if (kind === "device")
		root.append(deviceSettings(id, api, requestRefresh));
	root.dataset.testid = `card-${key}`;
	container.append(root);
	const chart = new uPlot({
		width: 420,
		height: 160,
		scales: { x: { time: true, range: () => [Date.now() / 1000 - windowS(), Date.now() / 1000] }, y: { range: [0, 1023] } },
		axes: [{ stroke: "#9aa0aa", grid: { stroke: "#2b3040" } }, { stroke: "#9aa0aa", grid: { stroke: "#2b3040" } }],
		legend: { show: false },
		series: [
			{},
			{ label: "light", stroke: "#7fb3ff", width: 2, spanGaps: true, paths: uPlot.paths.stepped!({ align: 1 }) },
			{ label: "threshold", stroke: "#ffb454", dash: [6, 4], width: 1 },
		],
	}, [[], [], []], plot);
	existing = { kind, id, root, csv, lamp, avail, drift, facts, buttons, slider, chart, times: [], lights: [], threshold: 300, stateAt: 0 };
	cards.set(key, existing);
	loadHistory(existing).catch(() => undefined);
	return existing;
}

function windowS(): number {
	return WINDOWS_S[windowChoice.value] ?? WINDOWS_S[DEFAULT_WINDOW]!;
}

function historyPath(item: Card, from: number, to: number, format = ""): string {
	return `/api/${item.kind === "group" ? "groups" : "devices"}/${encodeURIComponent(item.id)}/history?from=${Math.floor(from)}&to=${Math.ceil(to)}${format}`;
}

/** Fills the chart with the server's history of the window; readings that came live meanwhile stay. */
async function loadHistory(item: Card): Promise<void> {
	const to = Date.now();
	const from = to - windowS() * 1000;
	item.csv.href = historyPath(item, from, to, "&format=csv");
	const response = await fetch(historyPath(item, from, to));
	// 404: a server that keeps no history (--db none); the chart fills from live readings alone.
	if (!response.ok)
		return;
	const answer = await response.json() as { points: Array<{ at: number; light: number }> };
	const live: Array<[number, number | null]> = [];
	item.times.forEach((time, index) => {
		if (time * 1000 >= to)
			live.push([time, item.lights[index] ?? null]);
	});
	item.times = [...answer.points.map((point) => point.at / 1000), ...live.map(([time]) => time)];
	item.lights = [...answer.points.map((point) => Math.round(point.light)), ...live.map(([, light]) => light)];
	item.root.dataset.history = String(answer.points.length);
	redraw(item);
}

function redraw(item: Card): void {
	const now = Date.now() / 1000;
	while (item.times.length > 0 && item.times[0]! < now - windowS()) {
		item.times.shift();
		item.lights.shift();
	}
	// The window's start and now as points of their own: the threshold line spans the whole chart.
	const times = [now - windowS(), ...item.times, now];
	const lights = [null, ...item.lights, item.lights[item.lights.length - 1] ?? null];
	item.chart.setData([times, lights, times.map(() => item.threshold)]);
}

function point(key: string, light: number | null, at: number): void {
	const item = cards.get(key);
	if (!item || light === null)
		return;
	item.times.push(at / 1000);
	item.lights.push(light);
	redraw(item);
}

function setLamp(item: Card, on: boolean | null): void {
	item.lamp.dataset.on = String(on === true);
	item.lamp.title = on === null ? "LED state not known yet" : on ? "LED on" : "LED off";
}

function setMode(item: Card, mode: string): void {
	for (const [name, button] of item.buttons)
		button.classList.toggle("active", name === mode);
}

/** Every device, page by page. */
async function allDevices(): Promise<DeviceView[]> {
	const devices: DeviceView[] = [];
	for (let after: string | null = null; ;) {
		const page = await api("GET", `/api/devices${after === null ? "" : `?after=${encodeURIComponent(after)}`}`) as { devices: DeviceView[]; next: string | null };
		devices.push(...page.devices);
		if (page.next === null)
			return devices;
		after = page.next;
	}
}

let refreshing: Promise<void> | undefined;
let refreshAgain = false;

/** Reloads the picture: at once, or after the reload under way when one is. */
function requestRefresh(): void {
	if (refreshing) {
		refreshAgain = true;
		return;
	}
	refreshing = refresh().catch(() => undefined).finally(() => {
		refreshing = undefined;
		if (refreshAgain) {
			refreshAgain = false;
			requestRefresh();
		}
	});
}

function forget(key: string): void {
	const item = cards.get(key);
	if (!item)
		return;
	item.chart.destroy();
	item.root.remove();
	cards.delete(key);
}

async function refresh(): Promise<void> {
	const asked = performance.now();
	const [devices, { groups }, listed] = await Promise.all([
		allDevices(),
		api("GET", "/api/groups") as Promise<{ groups: GroupView[] }>,
		api("GET", "/api/overrides") as Promise<{ overrides: Override[] }>,
	]);
	overrides = listed.overrides;
	for (const group of groups) {
		const item = card(`group-${group.name}`, "group", group.name, false);
		item.threshold = group.threshold;
		setLamp(item, group.ledOn);
		item.avail.textContent = `${group.fresh} fresh`;
		item.facts.textContent = `${group.aggregate} of ${group.sensors.join(", ")} → LEDs ${group.leds.join(", ") || "none"}; threshold ${group.threshold}${group.light === null ? "" : `; now ${Math.round(group.light)}`}${group.owner ? `; commanded by ${group.owner}` : ""}`;
		setMode(item, overrides.find((o) => o.kind === "group" && o.id === group.name)?.mode ?? "auto");
		if (item.times.length === 0 && group.light !== null)
			point(`group-${group.name}`, group.light, Date.now());
		redraw(item);
	}
	// A device the server forgot while this page was not listening.
	const listedKeys = new Set(devices.map((device) => `device-${device.id}`));
	for (const key of [...cards.keys()]) {
		if (key.startsWith("device-") && !listedKeys.has(key))
			forget(key);
	}
	for (const device of devices) {
		const item = card(`device-${device.id}`, "device", device.id, device.simulated);
		item.threshold = device.threshold;
		if (item.stateAt < asked)
			setLamp(item, device.ledOn);
		item.avail.textContent = device.availability;
		item.avail.className = `avail ${device.availability}`;
		const age = device.lightAgeMs === null ? "" : ` (${Math.round(device.lightAgeMs / 1000)} s ago)`;
		item.drift.hidden = !device.drifting;
		item.drift.title = `the LED does not do what the server decided; commanding it again (${device.corrections} corrections so far)`;
		item.facts.textContent = `light ${device.light ?? "–"}${age}; threshold ${device.threshold}; ${device.deviceMode ?? "?"} mode${device.group ? `; group ${device.group}` : ""}${device.corrections > 0 ? `; corrected ${device.corrections}×` : ""}`;
		setMode(item, device.mode);
		if (item.slider && device.light !== null && document.activeElement !== item.slider && item.slider.dataset.touched !== "true")
			item.slider.value = String(device.light);
		if (item.times.length === 0 && device.light !== null)
			point(`device-${device.id}`, device.light, Date.now() - (device.lightAgeMs ?? 0));
		redraw(item);
	}
}

function live(): void {
	const source = new EventSource("/api/events");
	source.addEventListener("open", () => {
		link.textContent = "live";
		link.className = "";
		requestRefresh();
		// Back after a restart: what happened meanwhile is in the history.
		for (const item of cards.values())
			loadHistory(item).catch(() => undefined);
		checkAuth().catch(() => undefined);
	});
	source.addEventListener("error", () => {
		link.className = "down";
		if (source.readyState !== EventSource.CLOSED) {
			link.textContent = "reconnecting…";
			return;
		}
		// Refused, not lost: the EventSource gives up, so the page tries again later.
		link.textContent = `live updates refused (too many dashboards open?); trying again in ${REFUSED_RETRY_MS / 1000} s`;
		source.close();
		setTimeout(live, REFUSED_RETRY_MS);
	});
	const on = (type: string, handle: (data: Record<string, unknown>) => void) => source.addEventListener(type, (event) => {
		try {
			handle(JSON.parse((event as MessageEvent<string>).data) as Record<string, unknown>);
		}
		catch {
			// A malformed event is not worth breaking the page for.
		}
	});
	on("telemetry", (data) => {
		const key = `device-${String(data.id)}`;
		if (!cards.has(key)) {
			requestRefresh();
			return;
		}
		point(key, data.light as number, data.at as number);
	});
	on("group", (data) => point(`group-${String(data.name)}`, (data.light as number | undefined) ?? null, data.at as number));
	on("state", (data) => {
		const item = cards.get(`device-${String(data.id)}`);
		if (item) {
			item.stateAt = performance.now();
			setLamp(item, data.led_on as boolean);
		}
		// The device may have come back to the decision (or left it): the drift mark follows.
		requestRefresh();
	});
	on("forgotten", (data) => forget(`device-${String(data.id)}`));
	// A burst the server did not stream ("overflow"): the API has the picture.
	for (const type of ["command", "availability", "overrides", "overflow"])
		on(type, requestRefresh);
}

// The chart's "now" moves even when no reading comes.
setInterval(() => {
	for (const item of cards.values())
		redraw(item);
}, 2_000);
for (const name of Object.keys(WINDOWS_S))
	windowChoice.append(element("option", { value: name, textContent: name }));
windowChoice.value = (() => {
	try {
		return localStorage.getItem(WINDOW_KEY) ?? DEFAULT_WINDOW;
	}
	catch {
		return DEFAULT_WINDOW;
	}
})();
if (!(windowChoice.value in WINDOWS_S))
	windowChoice.value = DEFAULT_WINDOW;
windowChoice.addEventListener("change", () => {
	try {
		localStorage.setItem(WINDOW_KEY, windowChoice.value);
	}
	catch {
		// Kept for this page only.
	}
	for (const item of cards.values())
		loadHistory(item).catch(() => undefined);
});
tokenFromAddress();
requestRefresh();
live();
