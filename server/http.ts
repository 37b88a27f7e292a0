/*
 * The server's HTTP side on Node (node:http, no framework): a JSON API, server-sent events for
 * live updates, and the dashboard's static files.
 *
 *   GET    /api/health                      {ok, broker, devices, groups, uptimeMs, auth, server, servers, streams}
 *   GET    /api/devices?limit=N&after=ID    a page of the devices the server knows, by id, and the `next` cursor
 *   GET    /api/groups                      every configured group and its last decision
 *   GET    /api/overrides                   the overrides in force
 *   PUT    /api/overrides/{device|group}/ID {"mode": "on"|"off"|"auto", "threshold"?: N}
 *   DELETE /api/overrides/{device|group}/ID
 *   POST   /api/devices/ID/light            {"light": 0..1023}, for devices simulated in this process
 *   GET    /api/events                      text/event-stream: telemetry, command, availability, state, group, overrides, forgotten
 *
 * More routes come as `handlers` (the history, /metrics: server/integrations.ts); each answers its own.
 *
 * A bad request gets a 4xx and {"error": "..."}; a handler that fails gets a 500 and a log line,
 * never a crash. Live events are capped and batched, and slow readers dropped (server/sse.ts).
 * Each request costs O(its answer): a device's override and group are looked up, not searched.
 * With an API token, every request but GET and HEAD must carry
 * `Authorization: Bearer <token>`: without it 401, with a wrong one 403. Reading stays open.
 */
import { createReadStream, statSync } from "node:fs";
import { type IncomingMessage, type Server as HttpServer, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize, sep } from "node:path";
import { LIGHT_MAX, isDeviceId } from "../src/contract.js";
import { messageOf } from "../src/errors.js";
import type { Log } from "../src/ports.js";
import { BearerCheck } from "./auth.js";
import { parseOverride } from "./overrides.js";
import type { Server, ServerEvent } from "./server.js";
import { EventStreams, type StreamStats } from "./sse.js";

const TAG = "http";
export const BODY_MAX_BYTES = 4096;
/** Devices per page of /api/devices: by default, and at most. */
export const DEVICES_PAGE = 500;
export const DEVICES_PAGE_MAX = 5_000;
const MIME: Record<string, string> = {
	".html": "text/html; charset=utf-8",
	".js": "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	".png": "image/png",
	".map": "application/json",
	".svg": "image/svg+xml",
};

/** Takes the requests of its own paths: true when it took this one (it answers it, errors included). */
export type HttpHandler = (request: IncomingMessage, url: URL, response: ServerResponse) => boolean;

/** A sensor this process simulates: the dashboard's slider sets it. */
export interface SimulatedSensor {
	set(level: number): void;
	readonly level?: number;
}

export interface HttpApiOptions {
	server: Server;
	log: Log;
	host?: string;
	port?: number;
	/** Devices simulated in this process, by id (only `nightlight up` has them). */
	simulated?: Map<string, SimulatedSensor>;
	/** Whether the server's broker connection is up, for /api/health. */
	brokerUp?: () => boolean;
	/** Directories of static files served under `/` (the first that has the file wins). */
	staticDirs?: string[];
	/** When given, changes (any method but GET and HEAD) need it as `Authorization: Bearer <token>`. */
	apiToken?: string;
	/** Routes of other modules, asked in turn after the token check and before the API's own. */
	handlers?: HttpHandler[];
	/** Live event streams open at once, at most (server/sse.ts); default 100. */
	maxStreams?: number;
	/** A live event stream with more unread bytes than this is closed (server/sse.ts). */
	maxBufferedBytes?: number;
	/** Live events past this many bytes in one batch are skipped and counted (server/sse.ts). */
	maxBatchBytes?: number;
}

export interface HttpApi {
	url: string;
	port: number;
	/** Whether changes need the API token. */
	auth: boolean;
	/** Sends a server event to every live-update client. */
	send(event: ServerEvent): void;
	/** The live event streams: open, the cap, refused and dropped. */
	streamStats(): StreamStats;
	close(): Promise<void>;
}

class HttpError extends Error {
	status: number;
	constructor(status: number, message: string) {
		super(message);
		this.status = status;
	}
}

export async function startHttpApi(options: HttpApiOptions): Promise<HttpApi> {
	const { server, log } = options;
	const started = Date.now();
	const { maxStreams, maxBufferedBytes, maxBatchBytes } = options;
	const streams = new EventStreams({ log, ...(maxStreams === undefined ? {} : { maxStreams }), ...(maxBufferedBytes === undefined ? {} : { maxBufferedBytes }), ...(maxBatchBytes === undefined ? {} : { maxBatchBytes }) });
	const simulated = options.simulated ?? new Map<string, SimulatedSensor>();
	const bearer = options.apiToken === undefined ? undefined : new BearerCheck(options.apiToken);

	const deviceView = (id: string, now: number) => {
		const record = server.device(id)!;
		return {
			id: record.id,
			availability: record.availability ?? "unknown",
			light: record.light ?? null,
			lightAgeMs: record.lightAt === undefined ? null : Math.max(0, now - record.lightAt),
			ledOn: record.ledState ?? record.ledOn ?? null,
			commanded: record.ledOn ?? null,
			drifting: record.drift.drifting,
			corrections: record.drift.corrections,
			deviceMode: record.mode ?? null,
			mode: server.override("device", id)?.mode ?? "auto",
			threshold: server.thresholdOf(id),
			group: server.groupOf(id) ?? null,
			lastSeen: record.lastSeen ?? null,
			simulated: simulated.has(id),
		};
	};

	/** A page of devices after the cursor, and the cursor of the next page (null after the last). */
	const devicePage = (url: URL) => {
		const limitText = url.searchParams.get("limit");
		const limit = limitText === null ? DEVICES_PAGE : Number(limitText);
		if (!Number.isInteger(limit) || limit < 1 || limit > DEVICES_PAGE_MAX)
			throw new HttpError(400, `"limit" must be an integer 1..${DEVICES_PAGE_MAX}, got ${JSON.stringify(limitText)}`);
		const after = url.searchParams.get("after") ?? undefined;
		if (after !== undefined && !isDeviceId(after))
			throw new HttpError(400, `"after" must be a device id: the "next" of the previous page, got ${JSON.stringify(after)}`);
		const ids = server.deviceIds(after, limit + 1);
		const now = Date.now();
		const devices = ids.slice(0, limit).map((id) => deviceView(id, now));
		return { devices, next: ids.length > limit ? ids[limit - 1]! : null };
	};

	const routes = async (request: IncomingMessage, url: URL): Promise<[number, unknown]> => {
		let parts: string[];
		try {
			parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
		}
		catch {
			throw new HttpError(400, `bad escape in ${url.pathname}`);
		}
		const method = request.method ?? "GET";
		const only = (allowed: string) => {
			if (method !== allowed)
				throw new HttpError(405, `${method} is not allowed on ${url.pathname}; use ${allowed}`);
		};
		const [, resource, a, b, c] = parts;
		if (resource === "health" && parts.length === 2) {
			only("GET");
			const up = options.brokerUp?.() ?? true;
			return [up ? 200 : 503, { ok: up, broker: up ? "up" : "down", devices: server.deviceCount, groups: server.groups().length, uptimeMs: Date.now() - started, auth: bearer !== undefined, server: server.instance, servers: server.servers(), streams: streams.stats }];
		}
		if (resource === "devices" && parts.length === 2) {
			only("GET");
			return [200, devicePage(url)];
		}
		if (resource === "groups" && parts.length === 2) {
			only("GET");
			return [200, { groups: server.groups() }];
		}
		if (resource === "overrides" && parts.length === 2) {
			only("GET");
			return [200, { overrides: server.overrides() }];
		}
		if (resource === "overrides" && parts.length === 4 && a !== undefined && b !== undefined) {
			if (method === "DELETE") {
				if (a !== "device" && a !== "group")
					throw new HttpError(400, `kind must be "device" or "group", got ${JSON.stringify(a)}`);
				if (!server.clearOverride(a, b))
					throw new HttpError(404, `no override of ${a} ${JSON.stringify(b)}`);
				return [200, { removed: { kind: a, id: b } }];
			}
			only("PUT");
			const parsed = parseOverride(a, b, await readJson(request));
			if (!parsed.ok)
				throw new HttpError(400, parsed.error);
			const result = server.setOverride(parsed.value);
			if (!result.ok)
				throw new HttpError(404, result.error);
			return [200, { override: server.override(parsed.value.kind, parsed.value.id) }];
		}
		if (resource === "devices" && parts.length === 4 && b === "config" && a !== undefined) {
			if (!isDeviceId(a))
				throw new HttpError(400, `not a device id: ${JSON.stringify(a)}`);
			if (method === "GET") {
				const config = server.configs.get(a);
				if (!config)
					throw new HttpError(404, `${a} has not said its settings (a device that keeps settings says them at every connect)`);
				return [200, { id: a, config }];
			}
			only("PUT");
			const outcome = await server.configs.change(a, await readJson(request));
			if (!outcome.ok)
				return [outcome.status, { error: outcome.error, ...(outcome.refused ? { refused: outcome.refused } : {}), ...(outcome.report ? { config: outcome.report } : {}) }];
			return [200, { id: a, config: outcome.report }];
		}
		if (resource === "config" && parts.length === 2) {
			// The fleet: the same change to every device that has said its settings, at once.
			only("PUT");
			const body = await readJson(request);
			const ids = server.configs.ids();
			const outcomes = await Promise.all(ids.map(async (id) => [id, await server.configs.change(id, body)] as const));
			const devices: Record<string, unknown> = {};
			for (const [id, outcome] of outcomes)
				devices[id] = outcome.ok ? { ok: true, revision: outcome.report.revision } : { ok: false, error: outcome.error, ...(outcome.refused ? { refused: outcome.refused } : {}) };
			const failed = outcomes.filter(([, outcome]) => !outcome.ok).length;
			return [failed === 0 ? 200 : 207, { changed: ids.length - failed, failed, devices }];
		}
		if (resource === "devices" && parts.length === 4 && b === "light" && a !== undefined && c === undefined) {
			only("POST");
			if (!isDeviceId(a))
				throw new HttpError(400, `not a device id: ${JSON.stringify(a)}`);
			const sensor = simulated.get(a);
			if (!sensor)
				throw new HttpError(404, `device ${JSON.stringify(a)} is not simulated by this process`);
			const body = await readJson(request);
			const light = (body as { light?: unknown } | null)?.light;
			if (typeof light !== "number" || !Number.isInteger(light) || light < 0 || light > LIGHT_MAX)
				throw new HttpError(400, `"light" must be an integer 0..${LIGHT_MAX}, got ${JSON.stringify(light)}`);
			sensor.set(light);
			return [200, { id: a, light }];
		}
		throw new HttpError(404, `no such API: ${method} ${url.pathname}`);
	};

	const serveStatic = (pathname: string, response: ServerResponse): boolean => {
		const relative = normalize(pathname === "/" ? "index.html" : pathname.slice(1));
		if (relative.startsWith("..") || relative.includes(`${sep}..`) || !(extname(relative) in MIME))
			return false;
		for (const dir of options.staticDirs ?? []) {
			const file = join(dir, relative);
			try {
				if (!statSync(file).isFile())
					continue;
			}
			catch {
				continue;
			}
			response.writeHead(200, { "content-type": MIME[extname(relative)]!, "cache-control": "no-cache" });
			createReadStream(file).on("error", () => response.destroy()).pipe(response);
			return true;
		}
		return false;
	};

	const refuse = (verdict: "missing" | "wrong", request: IncomingMessage, url: URL, response: ServerResponse) => {
		const who = `${request.method} ${url.pathname} from ${request.socket.remoteAddress ?? "?"}`;
		let status: number;
		let error: string;
		if (verdict === "missing") {
			log("debug", TAG, `refused ${who}: no API token`);
			status = 401;
			error = "this nightlight needs its API token for changes: send the header \"Authorization: Bearer <token>\" with the token the server was started with (--api-token); reading (GET) needs none";
		}
		else {
			log("warn", TAG, `refused ${who}: wrong API token`);
			status = 403;
			error = "wrong API token: send the token the server was started with (--api-token) as \"Authorization: Bearer <token>\"";
		}
		response.writeHead(status, {
			"content-type": "application/json; charset=utf-8",
			"cache-control": "no-store",
			"www-authenticate": verdict === "missing" ? `Bearer realm="nightlight"` : `Bearer realm="nightlight", error="invalid_token"`,
		});
		response.end(JSON.stringify({ error }));
	};

	const http: HttpServer = createServer((request, response) => {
		const reply = (status: number, body: unknown) => {
			if (response.headersSent)
				return;
			const text = JSON.stringify(body);
			response.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
			response.end(text);
		};
		let url: URL;
		try {
			url = new URL(request.url ?? "/", "http://localhost");
		}
		catch {
			reply(400, { error: "bad request URL" });
			return;
		}
		const changes = request.method !== "GET" && request.method !== "HEAD";
		// A page on another site must not drive the API through the visitor's browser (a simple
		// POST needs no preflight): browsers name the page's origin, scripts and curl send none.
		if (changes && crossSite(request)) {
			request.resume();
			log("warn", TAG, `refused ${request.method} ${url.pathname}: sent by a page of ${request.headers.origin}`);
			reply(403, { error: `changes are taken from the dashboard's own page or from clients that send no Origin header (curl, scripts); this request came from a page of ${request.headers.origin}` });
			return;
		}
		if (bearer && changes) {
			const verdict = bearer.verdict(request.headers.authorization);
			if (verdict !== "ok") {
				request.resume();
				refuse(verdict, request, url, response);
				return;
			}
		}
		try {
			if (options.handlers?.some((handle) => handle(request, url, response)))
				return;
		}
		catch (error) {
			log("error", TAG, `${request.method} ${url.pathname} failed: ${messageOf(error)}`);
			reply(500, { error: "internal error" });
			return;
		}
		if (url.pathname === "/api/events") {
			if (request.method !== "GET") {
				reply(405, { error: `${request.method} is not allowed on /api/events; use GET` });
				return;
			}
			streams.open(request, response);
			return;
		}
		if (url.pathname.startsWith("/api/") || url.pathname === "/api") {
			routes(request, url).then(([status, body]) => reply(status, body), (error) => {
				if (error instanceof HttpError) {
					reply(error.status, { error: error.message });
					return;
				}
				log("error", TAG, `${request.method} ${url.pathname} failed: ${messageOf(error)}`);
				reply(500, { error: "internal error" });
			});
			return;
		}
		if ((request.method === "GET" || request.method === "HEAD") && serveStatic(url.pathname, response))
			return;
		reply(404, { error: `not found: ${url.pathname}` });
	});
	http.on("clientError", (_error, socket) => socket.destroy());

	await new Promise<void>((resolve, reject) => {
		http.once("error", reject);
		http.listen(options.port ?? 8080, options.host ?? "127.0.0.1", () => {
			http.off("error", reject);
			resolve();
		});
	});
	const address = http.address() as AddressInfo;
	const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
	const shown = host === "0.0.0.0" || host === "[::]" ? "127.0.0.1" : host;
	log("info", TAG, `listening on http://${host}:${address.port}`);
	return {
		url: `http://${shown}:${address.port}/`,
		port: address.port,
		auth: bearer !== undefined,
		send: (event) => streams.send(event),
		streamStats: () => streams.stats,
		close: () => new Promise<void>((resolve) => {
			streams.close();
			http.close(() => resolve());
			http.closeAllConnections();
		}),
	};
}

/** The request's JSON body, at most BODY_MAX_BYTES. */
function readJson(request: IncomingMessage): Promise<unknown> {
	return new Promise((resolve, reject) => {
		const declared = Number(request.headers["content-length"] ?? 0);
		if (declared > BODY_MAX_BYTES) {
			request.resume();
			reject(new HttpError(413, `body too large: at most ${BODY_MAX_BYTES} bytes`));
			return;
		}
		const chunks: Buffer[] = [];
		let size = 0;
		let failed = false;
		request.on("data", (chunk: Buffer) => {
			size += chunk.length;
			if (size > BODY_MAX_BYTES && !failed) {
				failed = true;
				reject(new HttpError(413, `body too large: at most ${BODY_MAX_BYTES} bytes`));
			}
			if (!failed)
				chunks.push(chunk);
		});
		request.on("end", () => {
			if (failed)
				return;
			const text = Buffer.concat(chunks).toString("utf8");
			if (text.trim() === "") {
				reject(new HttpError(400, "expected a JSON body"));
				return;
			}
			try {
				resolve(JSON.parse(text));
			}
			catch (error) {
				reject(new HttpError(400, `bad JSON: ${messageOf(error)}`));
			}
		});
		request.on("error", (error) => reject(new HttpError(400, messageOf(error))));
	});
}

/** True when a browser says the request comes from a page of another origin than this server. */
function crossSite(request: IncomingMessage): boolean {
	const origin = request.headers.origin;
	if (origin === undefined)
		return false;
	try {
		return new URL(origin).host !== request.headers.host;
	}
	catch {
		return true;
	}
}
