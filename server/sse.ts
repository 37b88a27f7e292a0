/*
 * Live updates for dashboards: server-sent events on `/api/events`, built so that many dashboards
 * cannot stall the server (whose event loop also carries MQTT).
 *
 * - A cap: at most `maxStreams` streams at once (default 100); one more is answered 503 with a
 *   JSON error saying what to do, and counted.
 * - Batches: events are collected and written every FLUSH_MS as one chunk per stream (one string
 *   encoded once, the same bytes for every stream), not one write per event and stream. Each
 *   event is still its own SSE event, in order.
 * - A batch holds at most `maxBatchBytes` (64 KB, several times a busy second's share); a burst
 *   beyond it (thousands of devices at once) is not streamed: the batch ends with one `overflow`
 *   event saying how many events were skipped, and a dashboard reloads from the API instead.
 *   So a burst costs each stream 64 KB, not megabytes.
 * - Slow readers are dropped: a stream with more than `maxBufferedBytes` written and not yet taken
 *   by its client is closed and counted, so one stalled browser cannot hold the server's memory.
 *   Its EventSource reconnects and reloads the whole picture, as after a restart.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { LogLimit } from "../src/log-limit.js";
import type { Log } from "../src/ports.js";
import { nodeClock } from "../runtime/node/clock.js";
import type { ServerEvent } from "./types.js";

export const DEFAULT_MAX_STREAMS = 100;
export const DEFAULT_MAX_BUFFERED_BYTES = 1 << 20;
export const DEFAULT_MAX_BATCH_BYTES = 64 * 1024;
export const FLUSH_MS = 100;
export const HEARTBEAT_MS = 15_000;
const TAG = "http";

export interface EventStreamsOptions {
	log: Log;
	/** At most this many streams at once; default DEFAULT_MAX_STREAMS. */
	maxStreams?: number;
	/** A stream with more than this written and not taken by its client is closed. */
	maxBufferedBytes?: number;
	/** Events past this many bytes in one batch are skipped and counted in an `overflow` event. */
	maxBatchBytes?: number;
}

/** What the streams did, for /api/health. */
export interface StreamStats {
	open: number;
	max: number;
	/** Refused at the cap, and closed for reading too slowly, since the server started. */
	refused: number;
	dropped: number;
}

export class EventStreams {
	#max: number;
	#maxBuffered: number;
	#streams = new Set<ServerResponse>();
	#pending: string[] = [];
	#pendingBytes = 0;
	#skipped = 0;
	#maxBatch: number;
	#flushTimer: ReturnType<typeof setTimeout> | undefined;
	#heartbeat: ReturnType<typeof setInterval> | undefined;
	#refused = 0;
	#dropped = 0;
	#drops: LogLimit;
	#refusals: LogLimit;

	constructor(options: EventStreamsOptions) {
		this.#max = options.maxStreams ?? DEFAULT_MAX_STREAMS;
		if (!Number.isSafeInteger(this.#max) || this.#max < 1)
			throw new RangeError(`max-streams must be a positive integer, got ${this.#max}`);
		this.#maxBuffered = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
		this.#maxBatch = options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
		this.#drops = new LogLimit({ clock: nodeClock, log: options.log, tag: TAG, what: "slow event streams closed" });
		this.#refusals = new LogLimit({ clock: nodeClock, log: options.log, tag: TAG, what: "event streams refused" });
		this.#heartbeat = setInterval(() => this.#queue(": keep-alive\n\n"), HEARTBEAT_MS);
		this.#heartbeat.unref();
	}

	get stats(): StreamStats {
		return { open: this.#streams.size, max: this.#max, refused: this.#refused, dropped: this.#dropped };
	}

	/** Answers GET /api/events: a stream, or 503 when `maxStreams` are open. */
	open(request: IncomingMessage, response: ServerResponse): void {
		if (this.#streams.size >= this.#max) {
			this.#refused++;
			this.#refusals.say("warn", `refused an event stream from ${request.socket.remoteAddress ?? "?"}: ${this.#max} open, the most allowed (--max-streams)`);
			response.writeHead(503, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", "retry-after": "30" });
			response.end(JSON.stringify({ error: `too many live event streams: this server allows ${this.#max} at once; close dashboards you do not use, or start the server with a higher --max-streams` }));
			return;
		}
		response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" });
		// Tell a reconnecting EventSource to come back soon after a server restart.
		response.write("retry: 1000\n\n");
		this.#streams.add(response);
		request.on("close", () => this.#streams.delete(response));
	}

	/** Queues a server event for every stream; it goes out with the next batch. */
	send(event: ServerEvent): void {
		if (this.#streams.size === 0)
			return;
		if (this.#pendingBytes >= this.#maxBatch) {
			this.#skipped++;
			return;
		}
		this.#queue(`event: ${event.type}\ndata: ${JSON.stringify(wireForm(event, Date.now()))}\n\n`);
	}

	close(): void {
		clearInterval(this.#heartbeat);
		clearTimeout(this.#flushTimer);
		this.#flushTimer = undefined;
		this.#pending = [];
		this.#pendingBytes = 0;
		for (const stream of this.#streams)
			stream.end();
		this.#streams.clear();
	}

	#queue(text: string): void {
		if (this.#streams.size === 0)
			return;
		this.#pending.push(text);
		this.#pendingBytes += text.length;
		this.#flushTimer ??= setTimeout(() => this.#flush(), FLUSH_MS);
	}

	#flush(): void {
		this.#flushTimer = undefined;
		if (this.#skipped > 0)
			this.#pending.push(`event: overflow\ndata: ${JSON.stringify({ type: "overflow", skipped: this.#skipped, at: Date.now() })}\n\n`);
		const chunk = Buffer.from(this.#pending.join(""), "utf8");
		this.#pending = [];
		this.#pendingBytes = 0;
		this.#skipped = 0;
		for (const stream of this.#streams) {
			if (stream.writableLength > this.#maxBuffered) {
				this.#dropped++;
				this.#streams.delete(stream);
				this.#drops.say("warn", `closed a slow event stream to ${stream.socket?.remoteAddress ?? "?"}: more than ${Math.round(this.#maxBuffered / 1024)} KB it had not read`);
				stream.destroy();
				continue;
			}
			stream.write(chunk);
		}
	}
}

/** An event as streams carry it: with `at`; an overrides event with its change, not the whole list. */
function wireForm(event: ServerEvent, at: number): object {
	if (event.type === "overrides")
		return { type: event.type, change: event.change, count: event.overrides.length, at };
	return { ...event, at };
}
