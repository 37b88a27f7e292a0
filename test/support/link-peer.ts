/*
 * The board's end of the serial link, on Node, for tests and benchmarks: speaks the framing of
 * src/serial-link.ts over any byte stream (a pseudo-terminal, an emulated UART) and gives MQTT.js
 * one Duplex per connection, as the board's serial socket gives mqtt/js one per connection.
 */
import { Duplex } from "node:stream";
import { FRAME_CLOSE, FRAME_DATA, FRAME_OPEN, FRAME_PING, type Frame, FrameDecoder, FrameSequence, MAX_PAYLOAD, encodeFrame } from "../../src/serial-link.js";

class LinkConnection extends Duplex {
	readonly conn: number;
	readonly sequence = new FrameSequence();
	open = false;
	#queue: Buffer[] = [];
	#peer: LinkPeer;
	closedByPeer = false;

	constructor(peer: LinkPeer, conn: number) {
		super();
		this.#peer = peer;
		this.conn = conn;
	}

	opened(): void {
		this.open = true;
		for (const chunk of this.#queue.splice(0))
			this.#peer.sendData(this, chunk);
	}

	override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
		if (this.open)
			this.#peer.sendData(this, chunk);
		else
			this.#queue.push(chunk);
		callback();
	}

	override _read(): void {}

	override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
		if (!this.closedByPeer)
			this.#peer.send(FRAME_CLOSE, this.conn, 0);
		this.#peer.forget(this);
		callback(error);
	}
}

export class LinkPeer {
	#write: (bytes: Uint8Array) => void;
	#decoder = new FrameDecoder((frame) => this.#frame(frame));
	#conn = 0;
	#current: LinkConnection | undefined;
	/** Frames the line garbled, and lost DATA frames seen. */
	gaps = 0;
	pongs = 0;

	constructor(write: (bytes: Uint8Array) => void) {
		this.#write = write;
	}

	get dropped(): number {
		return this.#decoder.dropped;
	}

	/** Bytes from the line. */
	feed(bytes: Uint8Array): void {
		this.#decoder.feed(bytes);
	}

	/** A new connection through the bridge to its broker (for MQTT.js's stream builder). */
	connect(): Duplex {
		this.#current?.destroy();
		this.#conn = (this.#conn + 1) & 0xff;
		const connection = new LinkConnection(this, this.#conn);
		this.#current = connection;
		this.send(FRAME_OPEN, connection.conn, 0);
		return connection;
	}

	ping(): void {
		this.send(FRAME_PING, 0, 0, Uint8Array.of(0));
	}

	send(type: number, conn: number, seq: number, payload?: Uint8Array): void {
		this.#write(encodeFrame(type, conn, seq, payload));
	}

	sendData(connection: LinkConnection, chunk: Uint8Array): void {
		for (let at = 0; at < chunk.length; at += MAX_PAYLOAD)
			this.send(FRAME_DATA, connection.conn, connection.sequence.next(), chunk.subarray(at, at + MAX_PAYLOAD));
	}

	forget(connection: LinkConnection): void {
		if (this.#current === connection)
			this.#current = undefined;
	}

	#frame(frame: Frame): void {
		const current = this.#current;
		if (frame.type === FRAME_PING) {
			if (frame.payload[0] === 0)
				this.send(FRAME_PING, frame.conn, 0, Uint8Array.of(1));
			else
				this.pongs++;
			return;
		}
		if (frame.type === FRAME_CLOSE && frame.conn === 0 && current) {
			current.closedByPeer = true;
			current.destroy();
			return;
		}
		if (!current || current.conn !== frame.conn) {
			if (frame.type === FRAME_DATA)
				this.send(FRAME_CLOSE, frame.conn, 0);
			return;
		}
		if (frame.type === FRAME_OPEN)
			current.opened();
		else if (frame.type === FRAME_CLOSE) {
			current.closedByPeer = true;
			current.destroy();
		}
		else if (!current.sequence.accept(frame.seq)) {
			this.gaps++;
			current.destroy();
		}
		else {
			current.push(Buffer.from(frame.payload));
		}
	}
}
