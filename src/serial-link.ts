/*
 * The serial link's framing: how a board without a network carries one MQTT connection to a
 * bridge on the computer it is plugged into, over a plain byte line (a UART, a USB serial port).
 *
 * A frame is  type(1) conn(1) seq(1) payload(0..MAX_PAYLOAD) crc(2), COBS-encoded and ended by a
 * 0x00 byte (a 0x00 is also sent before each frame, so garbage before it cannot glue onto it).
 * The CRC is CRC-16/CCITT-FALSE over everything before it, high byte first.
 *
 * - OPEN  device → bridge: open a broker connection numbered `conn` (closing any older one);
 *         bridge → device: it is open.
 * - DATA  the connection's bytes; `seq` counts DATA frames per direction from 0 (mod 256).
 * - CLOSE either way: the connection is over (the broker closed it, it could not be opened, or a
 *         frame was lost). From the bridge with `conn` 0 (no board connection has that number):
 *         the bridge (re)started and holds no connection.
 * - PING  payload [0] asks, payload [1] answers: is anyone at the other end?
 *
 * A frame with a bad CRC, a bad COBS code, a bad size or an unknown type is dropped and counted;
 * decoding picks up at the next 0x00, so garbage costs at most the frames it touches. A lost DATA
 * frame shows as a gap in `seq`: the receiver closes the connection rather than pass on a broken
 * byte stream, and MQTT connects again (the device's outbox sends what was not acknowledged). A
 * restart of either end shows as an OPEN for a new `conn`, or as DATA for a connection the other
 * end does not know, which it answers with CLOSE.
 *
 * Platform-free and small: it runs on XS in the board and on Node in the bridge.
 */

export const FRAME_DATA = 1;
export const FRAME_OPEN = 2;
export const FRAME_CLOSE = 3;
export const FRAME_PING = 4;

/** The largest payload of one frame: an MQTT packet longer than this goes in several DATA frames. */
export const MAX_PAYLOAD = 240;
const HEADER = 3;
const CRC_BYTES = 2;
/** The largest encoded frame body (COBS adds one byte per 254). */
const MAX_ENCODED = HEADER + MAX_PAYLOAD + CRC_BYTES + 2;

export interface Frame {
	type: number;
	conn: number;
	seq: number;
	payload: Uint8Array;
}

/** CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF) of `bytes[0..end)`. */
export function crc16(bytes: Uint8Array, end = bytes.length): number {
	let crc = 0xffff;
	for (let i = 0; i < end; i++) {
		crc ^= bytes[i]! << 8;
		for (let bit = 0; bit < 8; bit++)
			crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
	}
	return crc;
}

/** One frame as it goes on the line: 0x00, the COBS-encoded frame, 0x00. */
export function encodeFrame(type: number, conn: number, seq: number, payload?: Uint8Array): Uint8Array {
	const length = payload?.length ?? 0;
	if (length > MAX_PAYLOAD)
		throw new RangeError(`a frame carries at most ${MAX_PAYLOAD} bytes, not ${length}`);
	const raw = new Uint8Array(HEADER + length + CRC_BYTES);
	raw[0] = type;
	raw[1] = conn & 0xff;
	raw[2] = seq & 0xff;
	if (payload)
		raw.set(payload, HEADER);
	const crc = crc16(raw, HEADER + length);
	raw[HEADER + length] = crc >> 8;
	raw[HEADER + length + 1] = crc & 0xff;
	// COBS: each run of non-zero bytes is preceded by its length + 1, the zero after it dropped.
	const out = new Uint8Array(raw.length + Math.ceil(raw.length / 254) + 3);
	let at = 1;
	let code = at++;
	let run = 1;
	for (let i = 0; i < raw.length; i++) {
		const byte = raw[i]!;
		if (byte !== 0)
			out[at++] = byte;
		if (byte === 0 || ++run === 0xff) {
			out[code] = byte === 0 ? run : 0xff;
			code = at++;
			run = 1;
		}
	}
	out[code] = run;
	out[at++] = 0;
	return out.subarray(0, at);
}

/**
 * Turns the bytes of the line into frames. `push()` takes one byte, `feed()` many; each good frame
 * goes to `onFrame`, each bad one is counted in `dropped`.
 */
export class FrameDecoder {
	#buffer = new Uint8Array(MAX_ENCODED);
	#length = 0;
	#overflow = false;
	/** Frames dropped: bad CRC, bad COBS code, too long, too short or an unknown type. */
	dropped = 0;
	onFrame: (frame: Frame) => void;

	constructor(onFrame: (frame: Frame) => void) {
		this.onFrame = onFrame;
	}

	feed(bytes: Uint8Array): void {
		for (let i = 0; i < bytes.length; i++)
			this.push(bytes[i]!);
	}

	push(byte: number): void {
		if (byte !== 0) {
			if (this.#length < MAX_ENCODED)
				this.#buffer[this.#length++] = byte;
			else
				this.#overflow = true;
			return;
		}
		const length = this.#length;
		const overflow = this.#overflow;
		this.#length = 0;
		this.#overflow = false;
		if (length === 0)
			return; // the 0x00 before a frame, or two in a row
		const frame = overflow ? undefined : this.#decode(length);
		if (frame)
			this.onFrame(frame);
		else
			this.dropped++;
	}

	#decode(length: number): Frame | undefined {
		const buffer = this.#buffer;
		const raw = new Uint8Array(length);
		let size = 0;
		for (let at = 0; at < length;) {
			const code = buffer[at++]!;
			if (at + code - 1 > length)
				return undefined;
			for (let i = 1; i < code; i++)
				raw[size++] = buffer[at++]!;
			if (code < 0xff && at < length)
				raw[size++] = 0;
		}
		if (size < HEADER + CRC_BYTES)
			return undefined;
		const end = size - CRC_BYTES;
		if (crc16(raw, end) !== ((raw[end]! << 8) | raw[end + 1]!))
			return undefined;
		const type = raw[0]!;
		if (type < FRAME_DATA || type > FRAME_PING)
			return undefined;
		return { type, conn: raw[1]!, seq: raw[2]!, payload: raw.subarray(HEADER, end) };
	}
}

/** Counts DATA frames of one connection, both ways, and tells a gap. */
export class FrameSequence {
	#sent = 0;
	#expected = 0;

	/** The `seq` of the next DATA frame to send. */
	next(): number {
		const seq = this.#sent;
		this.#sent = (seq + 1) & 0xff;
		return seq;
	}

	/** Whether a received DATA frame is the one expected (and if so, expects the next). */
	accept(seq: number): boolean {
		if (seq !== this.#expected)
			return false;
		this.#expected = (seq + 1) & 0xff;
		return true;
	}
}
