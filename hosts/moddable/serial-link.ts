/*
 * The network objects `mqtt/js` takes from `device.network.mqtt`, over a serial line instead of
 * TCP: a board without Wi-Fi (a plain Pico built with link=serial) speaks MQTT itself, and
 * `nightlight bridge` on the computer it is plugged into carries the bytes to the broker.
 *
 * - SerialSocket has the shape of the ECMA-419 TCP socket the SDK's MQTT client uses (options
 *   with onReadable/onWritable/onError, `format`, `read()`, `write()`, `close()`). Creating one
 *   asks the bridge to open a broker connection (an OPEN frame); onWritable first comes once the
 *   bridge says it is open. A CLOSE from the bridge, a lost frame, or a bridge that knows nothing
 *   of the connection (it restarted) ends the socket with onError: mqtt/js reports `offline` and
 *   the core reconnects with its backoff, exactly as after a TCP reset.
 * - SerialResolver answers every host name at once: the bridge, not the board, knows the broker.
 *
 * The line is UART0 on GP0 (TX) and GP1 (RX) at `link_baud` (115200 by default), 8N1, shared by
 * every socket (one at a time). Framing: src/serial-link.ts. Importing this module installs the
 * objects, in place of hosts/moddable/network.ts (the manifest picks one).
 */
import "system";
import config from "mc/config";
import Serial from "embedded:io/serial";
import MQTTClient from "embedded:network/mqtt/client";
import Timer from "timer";
import { traceLog } from "nightlight/moddable/log";
import { FRAME_CLOSE, FRAME_DATA, FRAME_OPEN, FRAME_PING, type Frame, FrameDecoder, FrameSequence, MAX_PAYLOAD, encodeFrame } from "nightlight/serial-link";

const TAG = "link";
/** UART0 on GP0 (TX) and GP1 (RX). */
const LINE_PINS = { port: 0, transmit: 0, receive: 1 } as const;
const DEFAULT_BAUD = 115_200;
/** Bytes waiting for the line, at most, before a socket says it has no room. */
const OUT_MAX = 2_048;
/** Bytes handed to the UART in one write when it has not said how many it takes. */
const WRITE_STEP = 16;

const log = traceLog((config as { log?: string }).log === "debug" ? "debug" : "info");

interface SocketOptions {
	onReadable?: (count: number) => void;
	onWritable?: (count: number) => void;
	onError?: (error?: Error) => void;
}

type Bytes = ArrayBuffer | ArrayBufferView;

function bytesOf(data: Bytes | number): Uint8Array {
	if (typeof data === "number")
		return Uint8Array.of(data);
	if (ArrayBuffer.isView(data))
		return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
	return new Uint8Array(data);
}

/** The serial line and the one connection on it. */
class Line {
	#serial: Serial;
	#decoder = new FrameDecoder((frame) => this.#frame(frame));
	#out: Uint8Array[] = [];
	#offset = 0;
	#queued = 0;
	#writable = 0;
	#conn = 0;
	#heard = false;
	socket: SerialSocket | undefined;

	constructor(baud: number) {
		this.#serial = new Serial({
			...LINE_PINS,
			baud,
			format: "buffer",
			onReadable: (count) => this.#readable(count),
			onWritable: (count) => {
				this.#writable = count;
				this.#drain();
			},
		});
		log("info", TAG, `serial link on UART0 (GP0 TX, GP1 RX) at ${baud} baud: MQTT goes through nightlight bridge`);
	}

	get room(): number {
		return Math.max(0, OUT_MAX - this.#queued);
	}

	nextConn(): number {
		this.#conn = (this.#conn + 1) & 0xff || 1;
		return this.#conn;
	}

	send(type: number, conn: number, seq: number, payload?: Uint8Array): void {
		const bytes = encodeFrame(type, conn, seq, payload);
		this.#out.push(bytes);
		this.#queued += bytes.length;
		this.#drain();
	}

	#readable(count: number): void {
		const buffer = this.#serial.read(count);
		if (buffer)
			this.#decoder.feed(new Uint8Array(buffer));
	}

	#drain(): void {
		const before = this.#queued;
		while (this.#out.length) {
			const chunk = this.#out[0]!;
			const size = Math.min(chunk.length - this.#offset, this.#writable > 0 ? this.#writable : WRITE_STEP);
			try {
				this.#serial.write(chunk.subarray(this.#offset, this.#offset + size));
			}
			catch {
				this.#writable = 0; // full: onWritable calls again
				break;
			}
			this.#writable = Math.max(0, this.#writable - size);
			this.#queued -= size;
			this.#offset += size;
			if (this.#offset === chunk.length) {
				this.#out.shift();
				this.#offset = 0;
			}
		}
		if (this.#queued < before)
			this.socket?.roomChanged();
	}

	#frame(frame: Frame): void {
		if (!this.#heard) {
			this.#heard = true;
			log("info", TAG, "the bridge answers");
		}
		if (frame.type === FRAME_PING) {
			if (frame.payload[0] === 0)
				this.send(FRAME_PING, frame.conn, 0, Uint8Array.of(1));
			return;
		}
		const socket = this.socket;
		if (frame.type === FRAME_CLOSE && frame.conn === 0) {
			socket?.ended("the bridge started again");
			return;
		}
		if (!socket || socket.conn !== frame.conn) {
			// Data of a connection this board no longer has (it restarted, or gave up on it).
			if (frame.type === FRAME_DATA)
				this.send(FRAME_CLOSE, frame.conn, 0);
			return;
		}
		if (frame.type === FRAME_OPEN)
			socket.opened();
		else if (frame.type === FRAME_CLOSE)
			socket.ended("the bridge closed the connection");
		else
			socket.received(frame);
	}
}

let line: Line | undefined;

/** The line, opened by the first socket (not at preload, when no hardware can be opened). */
function theLine(): Line {
	line ??= new Line(Number((config as { link_baud?: number | string }).link_baud) || DEFAULT_BAUD);
	return line;
}

/** A broker connection through the bridge, shaped as the ECMA-419 TCP socket. */
export class SerialSocket {
	readonly conn: number;
	#line: Line;
	#options: SocketOptions;
	#sequence = new FrameSequence();
	#open = false;
	#closed = false;
	#in: Uint8Array[] = [];
	#offset = 0;
	#available = 0;
	#pending: Uint8Array[] = [];
	#notify: Timer | undefined;
	#readable: Timer | undefined;
	format: "buffer" | "number" = "buffer";

	constructor(options: SocketOptions) {
		this.#options = options;
		this.#line = theLine();
		this.#line.socket?.ended("replaced by a new connection");
		this.conn = this.#line.nextConn();
		this.#line.socket = this;
		this.#line.send(FRAME_OPEN, this.conn, 0);
	}

	read(what?: number | ArrayBuffer | ArrayBufferView): number | ArrayBuffer | undefined {
		if (this.format === "number" && what === undefined) {
			if (this.#available === 0)
				return undefined;
			const chunk = this.#in[0]!;
			const byte = chunk[this.#offset++]!;
			if (this.#offset === chunk.length) {
				this.#in.shift();
				this.#offset = 0;
			}
			this.#available--;
			return byte;
		}
		if (what !== undefined && typeof what !== "number") {
			const target = bytesOf(what);
			const count = Math.min(target.length, this.#available);
			target.set(this.#take(count));
			return count;
		}
		const count = Math.min(what ?? this.#available, this.#available);
		if (count === 0)
			return undefined;
		return this.#take(count).slice().buffer as ArrayBuffer;
	}

	/** `{more: true}` holds the bytes until the write that ends the packet, so a packet goes in as few frames as it can. */
	write(data: Bytes | number, options?: { more?: boolean }): number {
		// Over: the bridge or the line ended it and onError is on its way (a write in between, from
		// the client's own timers, must not throw where nothing catches it).
		if (this.#closed)
			return 0;
		this.#pending.push(bytesOf(data).slice());
		if (!options?.more)
			this.#flush();
		return this.#room();
	}

	close(): void {
		if (this.#closed)
			return;
		this.#closed = true;
		Timer.clear(this.#notify);
		Timer.clear(this.#readable);
		if (this.#line.socket === this) {
			this.#line.socket = undefined;
			this.#line.send(FRAME_CLOSE, this.conn, 0);
		}
	}

	/** The bridge opened the broker connection. */
	opened(): void {
		if (this.#open || this.#closed)
			return;
		this.#open = true;
		this.roomChanged();
	}

	received(frame: Frame): void {
		if (this.#closed)
			return;
		if (!this.#sequence.accept(frame.seq)) {
			log("warn", TAG, "a frame from the bridge was lost; the connection starts over");
			this.#line.send(FRAME_CLOSE, this.conn, 0);
			this.ended("lost bytes on the serial line");
			return;
		}
		this.#in.push(frame.payload);
		this.#available += frame.payload.length;
		// On a later turn, once for all the frames of a burst: the MQTT client's handling of a
		// message (the core's, its publishes, their frames) then starts on a short stack.
		this.#readable ??= Timer.set(() => {
			this.#readable = undefined;
			if (this.#closed || this.#available === 0)
				return;
			this.#options.onReadable?.(this.#available);
			// The MQTT client writes what it queued once it hears there is room, as after a TCP ack.
			this.roomChanged();
		}, 0);
	}

	/** The connection is over, not by this side's close(). */
	ended(why: string): void {
		if (this.#closed)
			return;
		this.#closed = true;
		Timer.clear(this.#notify);
		Timer.clear(this.#readable);
		if (this.#line.socket === this)
			this.#line.socket = undefined;
		Timer.set(() => this.#options.onError?.(new Error(why)), 0);
	}

	/** Tells the client on a later turn that it may write, once the bridge has opened the connection. */
	roomChanged(): void {
		if (!this.#open || this.#closed || this.#notify !== undefined)
			return;
		this.#notify = Timer.set(() => {
			this.#notify = undefined;
			const room = this.#room();
			if (!this.#closed && room > 0)
				this.#options.onWritable?.(room);
		}, 0);
	}

	#room(): number {
		return this.#line.room;
	}

	#flush(): void {
		const pending = this.#pending;
		this.#pending = [];
		let size = 0;
		for (const chunk of pending)
			size += chunk.length;
		const all = new Uint8Array(size);
		let at = 0;
		for (const chunk of pending) {
			all.set(chunk, at);
			at += chunk.length;
		}
		for (let from = 0; from < size; from += MAX_PAYLOAD)
			this.#line.send(FRAME_DATA, this.conn, this.#sequence.next(), all.subarray(from, from + MAX_PAYLOAD));
	}

	#take(count: number): Uint8Array {
		const out = new Uint8Array(count);
		let at = 0;
		while (at < count) {
			const chunk = this.#in[0]!;
			const size = Math.min(count - at, chunk.length - this.#offset);
			out.set(chunk.subarray(this.#offset, this.#offset + size), at);
			at += size;
			this.#offset += size;
			if (this.#offset === chunk.length) {
				this.#in.shift();
				this.#offset = 0;
			}
		}
		this.#available -= count;
		return out;
	}
}

interface ResolveRequest {
	host: string;
	onResolved?: (host: string, address: string) => void;
}

/** Every name resolves: the bridge knows the broker. Answers on a later turn, as a resolver must. */
export class SerialResolver {
	constructor(_options?: object) {}

	resolve(request: ResolveRequest): void {
		Timer.set(() => request.onResolved?.(request.host, "serial"), 0);
	}

	close(): void {}
}

/* `device.network.mqtt` for mqtt/js, keeping whatever `device` the board's provider put in place. */
const holder = globalThis as unknown as { device?: { network?: object } };
holder.device = Object.freeze({
	...holder.device,
	network: {
		...holder.device?.network,
		mqtt: {
			io: MQTTClient,
			dns: { io: SerialResolver },
			socket: { io: SerialSocket },
		},
	},
});
