/*
 * A server-sent events client on a bare TCP socket, for tests that must see the wire: the HTTP
 * status, each chunk of the chunked body as the server wrote it, and the events, in order. It can
 * also stop reading (`pause`), as a stalled browser tab does.
 */
import { type Socket, connect } from "node:net";

export interface SseEvent {
	type: string;
	data: Record<string, unknown>;
}

export class SseClient {
	status = 0;
	/** The body's chunks as framed by the server (one per write). */
	chunks = 0;
	events: SseEvent[] = [];
	/** The body when the answer was not a stream (an error's JSON). */
	body = "";
	closed = false;
	readonly socket: Socket;
	#raw = Buffer.alloc(0);
	#headersDone = false;
	#chunked = true;
	#text = "";

	constructor(url: string) {
		const { hostname, port, pathname } = new URL(url);
		this.socket = connect({ host: hostname, port: Number(port) });
		this.socket.on("connect", () => this.socket.write(`GET ${pathname} HTTP/1.1\r\nhost: ${hostname}:${port}\r\naccept: text/event-stream\r\n\r\n`));
		this.socket.on("data", (data: Buffer) => this.#take(data));
		this.socket.on("close", () => (this.closed = true));
		this.socket.on("error", () => (this.closed = true));
	}

	pause(): void {
		this.socket.pause();
	}

	close(): void {
		this.socket.destroy();
	}

	#take(data: Buffer): void {
		this.#raw = Buffer.concat([this.#raw, data]);
		if (!this.#headersDone) {
			const end = this.#raw.indexOf("\r\n\r\n");
			if (end < 0)
				return;
			const head = this.#raw.subarray(0, end).toString("latin1");
			this.status = Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 0);
			this.#chunked = /^transfer-encoding: chunked/im.test(head);
			this.#headersDone = true;
			this.#raw = this.#raw.subarray(end + 4);
		}
		if (!this.#chunked) {
			this.body += this.#raw.toString("utf8");
			this.#raw = Buffer.alloc(0);
			return;
		}
		// Chunked framing: a hex size, CRLF, that many bytes, CRLF.
		for (;;) {
			const line = this.#raw.indexOf("\r\n");
			if (line < 0)
				return;
			const size = parseInt(this.#raw.subarray(0, line).toString("latin1"), 16);
			if (this.#raw.length < line + 2 + size + 2)
				return;
			const chunk = this.#raw.subarray(line + 2, line + 2 + size).toString("utf8");
			this.#raw = this.#raw.subarray(line + 2 + size + 2);
			if (size === 0)
				return;
			this.chunks++;
			if (this.status === 200)
				this.#events(chunk);
			else
				this.body += chunk;
		}
	}

	#events(text: string): void {
		this.#text += text;
		let end: number;
		while ((end = this.#text.indexOf("\n\n")) >= 0) {
			const block = this.#text.slice(0, end);
			this.#text = this.#text.slice(end + 2);
			const type = /^event: (.*)$/m.exec(block)?.[1];
			const data = /^data: (.*)$/m.exec(block)?.[1];
			if (type !== undefined && data !== undefined)
				this.events.push({ type, data: JSON.parse(data) as Record<string, unknown> });
		}
	}
}
