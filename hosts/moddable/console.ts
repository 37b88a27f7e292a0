/*
 * The settings console on a board's serial port (ECMA-419 `embedded:io/serial`): a line in
 * (`set threshold 250`), the answer out, at 115200 baud 8N1. On the Pico it is UART0 on GP0 (TX)
 * and GP1 (RX), in debug and release builds alike: the USB line carries the debugger (xsbug) in a
 * debug build, so the console stays off it. Any terminal works: `picocom -b 115200 /dev/ttyUSB0`
 * on a USB-serial adapter, or `nightlight setup --serial`.
 *
 * Bytes are read as they come; a line ends at CR or LF; a line longer than LINE_MAX is refused in
 * one line. Answers wait in a small queue and go out as the port has room, never blocking.
 */
import Serial from "embedded:io/serial";
import { type ConsoleOptions, consoleCommand } from "nightlight/config";
import type { Log } from "nightlight/ports";

const TAG = "console";
const LINE_MAX = 160;
const QUEUE_MAX = 4_096;

export interface ConsolePins {
	port: number;
	transmit: number;
	receive: number;
	baud?: number;
}

export class SerialConsole {
	#serial: Serial;
	#line = "";
	#overflow = false;
	#out: number[] = [];
	#options: ConsoleOptions;
	#log: Log;
	/** Told after each command, e.g. to say the new settings over MQTT. */
	onCommand: (() => void) | undefined;

	constructor(pins: ConsolePins, options: ConsoleOptions, log: Log) {
		this.#options = options;
		this.#log = log;
		this.#serial = new Serial({
			port: pins.port,
			transmit: pins.transmit,
			receive: pins.receive,
			baud: pins.baud ?? 115_200,
			format: "number",
			onReadable: (count) => this.#readable(count),
			onWritable: () => this.#drain(),
		});
		this.say(["nightlight console: type help"]);
	}

	say(lines: string[]): void {
		for (const line of lines) {
			const text = line + "\r\n";
			for (let i = 0; i < text.length && this.#out.length < QUEUE_MAX; i++) {
				const code = text.charCodeAt(i);
				this.#out.push(code < 0x80 ? code : 0x3f);
			}
		}
		this.#drain();
	}

	close(): void {
		this.#serial.close();
	}

	#readable(count: number): void {
		for (let i = 0; i < count; i++) {
			const byte = this.#serial.read() as number | undefined;
			if (byte === undefined)
				break;
			if (byte === 0x0d || byte === 0x0a) {
				this.#endLine();
				continue;
			}
			if (this.#line.length >= LINE_MAX) {
				this.#overflow = true;
				continue;
			}
			this.#line += String.fromCharCode(byte);
		}
	}

	#endLine(): void {
		const line = this.#line;
		const overflow = this.#overflow;
		this.#line = "";
		this.#overflow = false;
		if (overflow) {
			this.say([`error: a line holds at most ${LINE_MAX} characters`]);
			return;
		}
		if (line.trim() === "")
			return;
		let answer: string[];
		try {
			answer = consoleCommand(this.#options, line);
		}
		catch (error) {
			answer = [`error: ${error instanceof Error ? error.message : String(error)}`];
			this.#log("error", TAG, answer[0]!);
		}
		this.say(answer);
		this.onCommand?.();
	}

	#drain(): void {
		while (this.#out.length) {
			try {
				this.#serial.write(this.#out[0]!);
			}
			catch {
				// No room now: onWritable calls again.
				return;
			}
			this.#out.shift();
		}
	}
}
