/*
 * `nightlight bridge --serial PORT --broker URL`: joins a board without a network to the broker
 * through the computer it is plugged into, as a Zigbee2MQTT coordinator or a MySensors serial
 * gateway does. The board speaks MQTT itself; the serial link (src/serial-link.ts) carries its
 * bytes; the bridge opens one broker connection each time the board asks (OPEN) and closes it
 * when the board, the broker or the line ends it. The board's MQTT session, keep-alive, outbox
 * and reconnection are its own: the bridge holds no MQTT state.
 *
 * The broker's credentials and TLS live here, not on the board: with --username/--password the
 * bridge puts them into the board's CONNECT packet; mqtts:// is opened with --ca.
 *
 * PORT is a device path (/dev/ttyACM0, /dev/ttyUSB0, a pseudo-terminal) opened with npm
 * `serialport`; tests also hand the bridge any Duplex stream. A port that goes away (the board
 * unplugged) is opened again every second until it is back.
 */
import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { type Socket, connect as tcpConnect } from "node:net";
import type { Duplex } from "node:stream";
import { connect as tlsConnect } from "node:tls";
import mqttPacket from "mqtt-packet";
import { messageOf } from "../src/errors.js";
import type { Log } from "../src/ports.js";
import { FRAME_CLOSE, FRAME_DATA, FRAME_OPEN, FRAME_PING, type Frame, FrameDecoder, FrameSequence, MAX_PAYLOAD, encodeFrame } from "../src/serial-link.js";
import type { OptionSpec, Values } from "./options.js";

const TAG = "bridge";
const REOPEN_MS = 1_000;
/** A CONNECT packet longer than this is not one a nightlight sends: the connection is refused. */
const CONNECT_MAX = 4_096;

export const BRIDGE_USAGE = "nightlight bridge --serial PORT [options]";
export const BRIDGE_SUMMARY = "Joins a nightlight board without a network (a plain Pico built with link=serial) to the broker\nthrough this computer: its MQTT goes over the serial PORT (/dev/ttyACM0, /dev/ttyUSB0 or a\npseudo-terminal) to --broker. The broker's user name, password and CA stay on this side.";

/** The bridge's own options; the connection ones are `nightlight device`'s. */
export function bridgeOptions(connection: OptionSpec[]): OptionSpec[] {
	return [
		{ name: "serial", kind: "string", value: "PORT", help: "the board's serial port: /dev/ttyACM0, /dev/ttyUSB0, COM3 or a pseudo-terminal" },
		{ name: "baud", kind: "integer", min: 1_200, max: 4_000_000, default: 115_200, help: "the line's speed, as the board was built (link_baud=)" },
		...connection.filter((spec) => ["broker", "username", "password", "ca", "servername"].includes(spec.name)),
	];
}

export class BridgeError extends Error {
	override name = "BridgeError";
}

export interface BridgeOptions {
	/** A port path, or a stream already open (tests, a TCP-serial adapter). */
	serial: string | Duplex;
	baud?: number;
	broker: string;
	username?: string | undefined;
	password?: string | undefined;
	/** PEM of the broker's CA, for mqtts://. */
	ca?: string | Buffer | undefined;
	servername?: string | undefined;
	log: Log;
	/** How long to wait before opening a port that went away again. */
	reopenMs?: number;
}

export interface BridgeStats {
	framesIn: number;
	framesOut: number;
	bytesIn: number;
	bytesOut: number;
	/** Frames the line garbled, and connections ended because a DATA frame was lost. */
	dropped: number;
	gaps: number;
	/** Broker connections opened for the board. */
	opened: number;
}

interface Session {
	conn: number;
	socket: Socket;
	sequence: FrameSequence;
	/** The board's CONNECT, while it is being collected to put the credentials in. */
	connect: Buffer | undefined;
}

export class Bridge {
	#options: BridgeOptions;
	#log: Log;
	#broker: URL;
	#line: Duplex | undefined;
	#decoder = new FrameDecoder((frame) => this.#frame(frame));
	#session: Session | undefined;
	#reopen: NodeJS.Timeout | undefined;
	#stopped = false;
	#unplugged = false;
	readonly stats: BridgeStats = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, dropped: 0, gaps: 0, opened: 0 };

	constructor(options: BridgeOptions) {
		this.#options = options;
		this.#log = options.log;
		this.#broker = new URL(options.broker);
		if (this.#broker.protocol !== "mqtt:" && this.#broker.protocol !== "mqtts:")
			throw new BridgeError(`--broker must be mqtt:// or mqtts:// (the board speaks MQTT over TCP), got ${this.#broker.protocol}//`);
		if (options.password !== undefined && options.username === undefined)
			throw new BridgeError("--password needs --username: MQTT sends no password without a user name");
	}

	/** Opens the line; a missing port or one this user may not open is a BridgeError, at once. */
	async start(): Promise<void> {
		const serial = this.#options.serial;
		if (typeof serial === "string")
			checkPort(serial);
		await this.#open();
		this.#log("info", TAG, `serial ${this.#name()} at ${this.#options.baud ?? 115_200} baud, broker ${this.#broker.protocol}//${this.#broker.host}${this.#options.username ? ` as ${this.#options.username}` : ""}`);
	}

	async stop(): Promise<void> {
		this.#stopped = true;
		clearTimeout(this.#reopen);
		this.#endSession(false);
		const line = this.#line;
		this.#line = undefined;
		if (line && !line.destroyed)
			await new Promise<void>((resolve) => {
				const port = line as Duplex & { isOpen?: boolean; close?(callback: () => void): void };
				// A serial port gives up its lock only once closed.
				if (typeof port.close === "function" && port.isOpen)
					port.close(() => resolve());
				else {
					line.once("close", () => resolve());
					line.destroy();
				}
				setTimeout(resolve, 1_000).unref();
			});
	}

	#name(): string {
		return typeof this.#options.serial === "string" ? this.#options.serial : "stream";
	}

	async #open(): Promise<void> {
		const serial = this.#options.serial;
		let line: Duplex;
		if (typeof serial === "string") {
			const { SerialPort } = await import("serialport");
			const port = new SerialPort({ path: serial, baudRate: this.#options.baud ?? 115_200, autoOpen: false });
			await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(new BridgeError(portProblem(serial, error))) : resolve())));
			line = port;
		}
		else {
			line = serial;
		}
		this.#line = line;
		line.on("data", (chunk: Buffer) => {
			this.stats.bytesIn += chunk.length;
			this.#decoder.feed(chunk);
		});
		line.on("error", (error: Error) => this.#log("warn", TAG, `serial ${this.#name()}: ${error.message}`));
		line.once("close", () => this.#lineClosed(line));
		// A clean start at the board's end: a connection it still holds (from before this bridge, or
		// before the port went away) is over, and it connects again at once.
		this.#send(FRAME_CLOSE, 0, 0);
		this.#send(FRAME_PING, 0, 0, Uint8Array.of(0));
	}

	#lineClosed(line: Duplex): void {
		if (this.#line !== line)
			return;
		this.#line = undefined;
		this.#endSession(false);
		if (this.#stopped)
			return;
		if (typeof this.#options.serial !== "string") {
			this.#log("warn", TAG, "the serial stream ended");
			return;
		}
		this.#log("warn", TAG, `serial ${this.#name()} went away (the board unplugged?); waiting for it to come back`);
		this.#unplugged = true;
		this.#scheduleReopen();
	}

	#scheduleReopen(): void {
		this.#reopen = setTimeout(() => {
			this.#open().then(() => {
				if (this.#unplugged)
					this.#log("info", TAG, `serial ${this.#name()} is back`);
				this.#unplugged = false;
			}, () => {
				if (!this.#stopped)
					this.#scheduleReopen();
			});
		}, this.#options.reopenMs ?? REOPEN_MS);
		this.#reopen.unref?.();
	}

	#send(type: number, conn: number, seq: number, payload?: Uint8Array): void {
		const line = this.#line;
		if (!line || line.destroyed)
			return;
		const bytes = encodeFrame(type, conn, seq, payload);
		this.stats.framesOut++;
		this.stats.bytesOut += bytes.length;
		line.write(bytes);
	}

	#frame(frame: Frame): void {
		this.stats.framesIn++;
		this.stats.dropped = this.#decoder.dropped;
		const session = this.#session;
		switch (frame.type) {
			case FRAME_OPEN:
				this.#openBroker(frame.conn);
				break;
			case FRAME_CLOSE:
				if (session?.conn === frame.conn)
					this.#endSession(false);
				break;
			case FRAME_PING:
				if (frame.payload[0] === 0)
					this.#send(FRAME_PING, frame.conn, 0, Uint8Array.of(1));
				break;
			case FRAME_DATA:
				if (session?.conn !== frame.conn) {
					// A connection from before a restart of either end: the board must open a new one.
					this.#send(FRAME_CLOSE, frame.conn, 0);
					return;
				}
				if (!session.sequence.accept(frame.seq)) {
					this.stats.gaps++;
					this.#log("warn", TAG, `a frame from the board was lost; closing its broker connection (it connects again)`);
					this.#endSession(true);
					return;
				}
				this.#toBroker(session, frame.payload);
				break;
		}
	}

	#openBroker(conn: number): void {
		this.#endSession(false);
		const url = this.#broker;
		const host = url.hostname;
		const tls = url.protocol === "mqtts:";
		const port = Number(url.port) || (tls ? 8883 : 1883);
		const ca = this.#options.ca;
		const socket = tls
			? tlsConnect({ host, port, ...(ca ? { ca } : {}), servername: this.#options.servername ?? host })
			: tcpConnect({ host, port });
		const session: Session = { conn, socket, sequence: new FrameSequence(), connect: this.#options.username === undefined ? undefined : Buffer.alloc(0) };
		this.#session = session;
		this.stats.opened++;
		socket.setNoDelay(true);
		socket.once(tls ? "secureConnect" : "connect", () => {
			if (this.#session === session)
				this.#send(FRAME_OPEN, conn, 0);
		});
		socket.on("data", (chunk: Buffer) => {
			if (this.#session !== session)
				return;
			for (let at = 0; at < chunk.length; at += MAX_PAYLOAD)
				this.#send(FRAME_DATA, conn, session.sequence.next(), chunk.subarray(at, at + MAX_PAYLOAD));
		});
		socket.on("error", (error) => this.#log("warn", TAG, `broker ${url.host}: ${messageOf(error)}`));
		socket.once("close", () => {
			if (this.#session !== session)
				return;
			this.#session = undefined;
			this.#send(FRAME_CLOSE, conn, 0);
		});
		this.#log("debug", TAG, `connection ${conn}: opening ${url.protocol}//${url.host} for the board`);
	}

	#endSession(tellBoard: boolean): void {
		const session = this.#session;
		if (!session)
			return;
		this.#session = undefined;
		session.socket.destroy();
		if (tellBoard)
			this.#send(FRAME_CLOSE, session.conn, 0);
	}

	#toBroker(session: Session, bytes: Uint8Array): void {
		if (session.connect === undefined) {
			session.socket.write(bytes);
			return;
		}
		// Collect the board's first packet, its CONNECT, and put the credentials in.
		const collected = Buffer.concat([session.connect, bytes]);
		const length = packetLength(collected);
		if (length === undefined) {
			if (collected.length > CONNECT_MAX) {
				this.#log("warn", TAG, "the board's first packet is not a CONNECT of a sane size; closing");
				this.#endSession(true);
				return;
			}
			session.connect = collected;
			return;
		}
		session.connect = undefined;
		let rewritten: Buffer;
		try {
			rewritten = withCredentials(collected.subarray(0, length), this.#options.username!, this.#options.password);
		}
		catch (error) {
			this.#log("warn", TAG, `the board's first packet is not a CONNECT (${messageOf(error)}); closing`);
			this.#endSession(true);
			return;
		}
		session.socket.write(rewritten);
		if (collected.length > length)
			session.socket.write(collected.subarray(length));
	}
}

/** The length of the MQTT packet at the start of `bytes`, once all of it is there. */
function packetLength(bytes: Buffer): number | undefined {
	let value = 0;
	for (let i = 1, shift = 0; i < 5 && i < bytes.length; i++, shift += 7) {
		value |= (bytes[i]! & 0x7f) << shift;
		if (!(bytes[i]! & 0x80)) {
			const total = i + 1 + value;
			return bytes.length >= total ? total : undefined;
		}
	}
	return undefined;
}

/** The board's CONNECT with the bridge's user name and password in place of its own. */
export function withCredentials(packet: Buffer, username: string, password: string | undefined): Buffer {
	let parsed: mqttPacket.IConnectPacket | undefined;
	const parser = mqttPacket.parser();
	parser.on("packet", (p: mqttPacket.Packet) => {
		if (p.cmd === "connect")
			parsed = p;
	});
	parser.on("error", (error: Error) => {
		throw error;
	});
	parser.parse(packet);
	if (!parsed)
		throw new Error("not a CONNECT");
	const { password: _old, ...rest } = parsed;
	return mqttPacket.generate({ ...rest, username, ...(password === undefined ? {} : { password: Buffer.from(password) }) });
}

/** Fails at once, in one line, for a port that is not there or not ours to open. */
function checkPort(path: string): void {
	if (!path.startsWith("/"))
		return; // COM3 and the like: serialport says what is wrong
	if (!existsSync(path))
		throw new BridgeError(`no serial port ${path}: is the board plugged in (with a data cable)? Boards show up as /dev/ttyACM* or /dev/ttyUSB*`);
	try {
		accessSync(path, constants.R_OK | constants.W_OK);
	}
	catch {
		throw new BridgeError(`no permission to open ${path}: add yourself to its group (sudo usermod -aG dialout $USER, then log in again)`);
	}
}

function portProblem(path: string, error: Error): string {
	if (/permission denied|EACCES/i.test(error.message))
		return `no permission to open ${path}: add yourself to its group (sudo usermod -aG dialout $USER, then log in again)`;
	if (/no such file|ENOENT/i.test(error.message))
		return `no serial port ${path}: is the board plugged in?`;
	if (/lock|busy/i.test(error.message))
		return `${path} is in use by another program (a terminal, another bridge): close it first`;
	return `cannot open ${path}: ${error.message}`;
}

/** `nightlight bridge`: runs until stopped. */
export async function runBridge(values: Values, log: Log): Promise<{ stop(): Promise<void> }> {
	if (typeof values.serial !== "string")
		throw new BridgeError("--serial PORT is required: the board's serial port, e.g. --serial /dev/ttyACM0");
	let ca: Buffer | undefined;
	if (typeof values.ca === "string")
		ca = readFileSync(values.ca);
	const bridge = new Bridge({
		serial: values.serial,
		baud: values.baud as number,
		broker: values.broker as string,
		username: values.username as string | undefined,
		password: values.password as string | undefined,
		ca,
		servername: values.servername as string | undefined,
		log,
	});
	await bridge.start();
	return bridge;
}
