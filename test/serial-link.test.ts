import { describe, expect, test } from "@jest/globals";
import { FRAME_CLOSE, FRAME_DATA, FRAME_OPEN, FRAME_PING, type Frame, FrameDecoder, FrameSequence, MAX_PAYLOAD, crc16, encodeFrame } from "../src/serial-link.js";

/** A small seeded generator, so a failing fuzz case can be replayed. */
function random(seed: number): () => number {
	let state = seed >>> 0 || 1;
	return () => {
		state ^= state << 13;
		state ^= state >>> 17;
		state ^= state << 5;
		return (state >>> 0) / 0x1_0000_0000;
	};
}

function bytes(next: () => number, length: number, zeros = true): Uint8Array {
	const out = new Uint8Array(length);
	for (let i = 0; i < length; i++)
		out[i] = zeros ? Math.floor(next() * 256) : 1 + Math.floor(next() * 255);
	return out;
}

function collect(): { decoder: FrameDecoder; frames: Frame[] } {
	const frames: Frame[] = [];
	return { decoder: new FrameDecoder((frame) => frames.push({ ...frame, payload: frame.payload.slice() })), frames };
}

describe("crc16", () => {
	test("is CRC-16/CCITT-FALSE", () => {
		expect(crc16(new TextEncoder().encode("123456789"))).toBe(0x29b1);
		expect(crc16(new Uint8Array(0))).toBe(0xffff);
	});
});

describe("frames", () => {
	test("round trip every type and payload size, with zeros and 0xff runs", () => {
		const next = random(1);
		const { decoder, frames } = collect();
		const sent: Frame[] = [];
		for (let size = 0; size <= MAX_PAYLOAD; size += 7) {
			for (const payload of [bytes(next, size), new Uint8Array(size), new Uint8Array(size).fill(0xff)]) {
				const frame = { type: 1 + (size % 4), conn: size & 0xff, seq: (size * 3) & 0xff, payload };
				sent.push(frame);
				const encoded = encodeFrame(frame.type, frame.conn, frame.seq, payload);
				expect(encoded[0]).toBe(0);
				expect(encoded.at(-1)).toBe(0);
				expect(encoded.subarray(1, -1).includes(0)).toBe(false);
				decoder.feed(encoded);
			}
		}
		expect(frames).toEqual(sent);
		expect(decoder.dropped).toBe(0);
	});

	test("a frame split anywhere across reads decodes the same", () => {
		const encoded = encodeFrame(FRAME_DATA, 7, 200, new TextEncoder().encode("hello\0world"));
		for (let cut = 0; cut <= encoded.length; cut++) {
			const { decoder, frames } = collect();
			decoder.feed(encoded.subarray(0, cut));
			decoder.feed(encoded.subarray(cut));
			expect(frames).toHaveLength(1);
			expect(new TextDecoder().decode(frames[0]!.payload)).toBe("hello\0world");
		}
	});

	test("refuses a payload over the maximum", () => {
		expect(() => encodeFrame(FRAME_DATA, 0, 0, new Uint8Array(MAX_PAYLOAD + 1))).toThrow(/at most/);
	});

	test("drops a frame with one byte changed, lost or added, and keeps the next", () => {
		const good = encodeFrame(FRAME_OPEN, 3, 0, Uint8Array.of(1, 2, 3, 0, 5));
		const after = encodeFrame(FRAME_PING, 3, 0, Uint8Array.of(0));
		for (let at = 1; at < good.length - 1; at++) {
			for (const damaged of [
				Uint8Array.from(good, (byte, i) => (i === at ? byte ^ 0x10 || 1 : byte)),
				Uint8Array.from([...good.subarray(0, at), ...good.subarray(at + 1)]),
				Uint8Array.from([...good.subarray(0, at), 0x55, ...good.subarray(at)]),
			]) {
				const { decoder, frames } = collect();
				decoder.feed(damaged);
				decoder.feed(after);
				expect(frames.map((frame) => frame.type)).toEqual([FRAME_PING]);
				expect(decoder.dropped).toBe(1);
			}
		}
	});

	test("garbage without a zero byte cannot grow the decoder: the next frame after a zero decodes", () => {
		const { decoder, frames } = collect();
		decoder.feed(bytes(random(2), 100_000, false));
		decoder.feed(encodeFrame(FRAME_CLOSE, 9, 0));
		expect(frames).toEqual([{ type: FRAME_CLOSE, conn: 9, seq: 0, payload: new Uint8Array(0) }]);
		expect(decoder.dropped).toBe(1);
	});

	test("fuzz: random garbage, dropped and flipped bytes between frames never yield a wrong frame", () => {
		for (let seed = 1; seed <= 40; seed++) {
			const next = random(seed);
			const { decoder, frames } = collect();
			const sent: string[] = [];
			let intact = 0;
			for (let n = 0; n < 60; n++) {
				const payload = bytes(next, Math.floor(next() * 80));
				const type = 1 + Math.floor(next() * 4);
				const encoded = encodeFrame(type, n, n, payload);
				const key = `${type}/${n}/${Buffer.from(payload).toString("hex")}`;
				sent.push(key);
				const roll = next();
				if (roll < 0.15) {
					decoder.feed(bytes(next, Math.floor(next() * 300))); // garbage, zeros included
					decoder.feed(encoded);
					intact++;
				}
				else if (roll < 0.3) {
					const lost = Math.floor(next() * encoded.length);
					decoder.feed(Uint8Array.from([...encoded.subarray(0, lost), ...encoded.subarray(lost + 1)]));
				}
				else if (roll < 0.4) {
					const at = Math.floor(next() * encoded.length);
					decoder.feed(Uint8Array.from(encoded, (byte, i) => (i === at ? (byte + 1 + Math.floor(next() * 255)) & 0xff : byte)));
				}
				else {
					decoder.feed(encoded);
					intact++;
				}
			}
			// Every frame that comes out is one that was sent, in order; the intact ones all come out,
			// except that garbage can take the frame right after it when it ends inside a frame.
			const got = frames.map((frame) => `${frame.type}/${frame.conn}/${Buffer.from(frame.payload).toString("hex")}`);
			let from = 0;
			for (const key of got) {
				const index = sent.indexOf(key, from);
				expect(index).toBeGreaterThanOrEqual(from);
				from = index + 1;
			}
			expect(got.length).toBeGreaterThanOrEqual(Math.floor(intact * 0.8));
		}
	});
});

describe("FrameSequence", () => {
	test("counts frames each way and tells a gap, wrapping at 256", () => {
		const sequence = new FrameSequence();
		for (let i = 0; i < 300; i++)
			expect(sequence.next()).toBe(i & 0xff);
		const received = new FrameSequence();
		expect(received.accept(0)).toBe(true);
		expect(received.accept(2)).toBe(false);
		expect(received.accept(1)).toBe(true);
	});

	test("a lost DATA frame is found by the receiver, so the byte stream is never passed on broken", () => {
		const next = random(7);
		const sender = new FrameSequence();
		const receiver = new FrameSequence();
		const { decoder, frames } = collect();
		let broken = false;
		decoder.onFrame = (frame) => {
			frames.push(frame);
			if (!receiver.accept(frame.seq))
				broken = true;
		};
		for (let n = 0; n < 50; n++) {
			const encoded = encodeFrame(FRAME_DATA, 1, sender.next(), bytes(next, 30));
			decoder.feed(n === 20 ? encoded.subarray(0, 10) : encoded); // one frame cut short
		}
		expect(frames).toHaveLength(49);
		expect(broken).toBe(true);
	});
});
