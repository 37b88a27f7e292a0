/*
 * An emulated Raspberry Pi Pico running a real Moddable image, for tests and benchmarks.
 *
 * The .uf2 that mcconfig builds runs unchanged in npm rp2040js (the RP2040's Cortex-M0+, GPIO, ADC,
 * timers, USB) with the chip's boot ROM (built from raspberrypi/pico-bootrom-rp2040, a prerequisite
 * outside this repository, found through $RP2040_BOOTROM). What this module adds:
 * - loading: UF2 blocks into flash, execution from flash's start (boot2, then the image);
 * - a small xsbug peer on the emulated USB serial line: a debug build's XS machine logs in and
 *   waits for a debugger; the peer answers each `<login>` and `<break>` with `<go/>` addressed to
 *   the machine, so XS keeps the link and its `trace()` lines and instrument samples arrive;
 * - observation: trace lines as they come, with the emulated time; exceptions, aborts and watchdog
 *   resets as faults; the XS instruments (heap, slots, stack) of the latest sample; a log of the
 *   edges of GPIO outputs with exact emulated timestamps; ADC channel setters;
 * - limits: every run is bounded in emulated and in wall time (the Moddable main loop busy-polls,
 *   so emulation never skips idle time: 0.2-0.4 emulated s per wall s on our machines).
 *
 * Release builds speak no xsbug: observe them through pins.
 */
import { readFileSync } from "node:fs";
import { GPIOPinState, type Logger, RP2040, USBCDC } from "rp2040js";
import { attachFlash } from "./rp2040-flash.js";

const FLASH_START = 0x1000_0000;
const UF2_MAGIC_START0 = 0x0a32_4655;
const UF2_MAGIC_START1 = 0x9e5d_5157;
const UF2_MAGIC_END = 0x0ab1_6f30;
const UF2_FLAG_NOT_MAIN_FLASH = 0x0000_0001;
const UF2_FLAG_FAMILY_ID = 0x0000_2000;
/** The RP2040's UF2 family; picotool also adds an "absolute" block for the RP2350's erratum E10, which is not ours. */
const UF2_FAMILY_RP2040 = 0xe48b_ff56;
/** Instructions between two checks of the limits and two turns of Node's event loop. */
const CHUNK_INSTRUCTIONS = 200_000;
/** The ADC's full scale: 12 bits. */
export const ADC_MAX = 4095;

/** The boot ROM named by $RP2040_BOOTROM, or why it cannot be used. */
export function bootromPath(): { path?: string; missing?: string } {
	const path = process.env.RP2040_BOOTROM;
	if (!path)
		return { missing: "RP2040_BOOTROM not set (the RP2040 boot ROM, built from raspberrypi/pico-bootrom-rp2040)" };
	try {
		const size = readFileSync(path).byteLength;
		if (size < 1024 || size > 16 * 1024)
			return { missing: `RP2040_BOOTROM ${path} is ${size} bytes; a boot ROM image is at most 16 KB` };
	}
	catch (error) {
		return { missing: `RP2040_BOOTROM ${path} cannot be read: ${(error as Error).message}` };
	}
	return { path };
}

/** The payload blocks of a UF2 file: where each goes in flash and its bytes. */
export function uf2Blocks(uf2: Uint8Array): Array<{ address: number; data: Uint8Array }> {
	if (uf2.byteLength === 0 || uf2.byteLength % 512 !== 0)
		throw new Error(`not a UF2 file: ${uf2.byteLength} bytes is not a whole number of 512-byte blocks`);
	const view = new DataView(uf2.buffer, uf2.byteOffset, uf2.byteLength);
	const blocks: Array<{ address: number; data: Uint8Array }> = [];
	for (let offset = 0; offset < uf2.byteLength; offset += 512) {
		if (view.getUint32(offset, true) !== UF2_MAGIC_START0 || view.getUint32(offset + 4, true) !== UF2_MAGIC_START1 || view.getUint32(offset + 508, true) !== UF2_MAGIC_END)
			throw new Error(`not a UF2 file: block ${offset / 512} has no UF2 magic numbers`);
		const flags = view.getUint32(offset + 8, true);
		if (flags & UF2_FLAG_NOT_MAIN_FLASH)
			continue;
		if (flags & UF2_FLAG_FAMILY_ID && view.getUint32(offset + 28, true) !== UF2_FAMILY_RP2040)
			continue;
		const address = view.getUint32(offset + 12, true);
		const size = view.getUint32(offset + 16, true);
		if (size > 476)
			throw new Error(`bad UF2 block ${offset / 512}: payload of ${size} bytes`);
		blocks.push({ address, data: uf2.subarray(offset + 32, offset + 32 + size) });
	}
	return blocks;
}

/** One line of `trace()` output, with the emulated time it arrived at. */
export interface TraceLine {
	atMs: number;
	text: string;
}

/** A GPIO output level change. */
export interface Edge {
	pin: number;
	high: boolean;
	atMs: number;
}

export interface PicoOptions {
	/** The .uf2 image (a path or its bytes). */
	uf2: string | Uint8Array;
	/** The whole flash of an earlier run (EmulatedPico.flashImage()): a reset with the flash kept. The UF2 is then not loaded. */
	flash?: Uint8Array;
	/** The boot ROM image (a path or its bytes); by default $RP2040_BOOTROM. */
	bootrom?: string | Uint8Array;
	/** Upper bounds for the whole life of this emulator. */
	limits: { emulatedMs: number; wallMs: number };
	/** GPIOs whose output edges are logged. */
	watchPins?: readonly number[];
	/** Each trace line as it arrives (tests print them on failure, `--verbose` tools live). */
	onTrace?: (line: TraceLine) => void;
}

/** The XS instruments of a debug build, by name ("Chunk used", "Slot used", "Stack peak"...). */
export type Instruments = Record<string, number>;

const ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: "\"", apos: "'" };

function unescapeXml(text: string): string {
	return text.replace(/&(#x?[0-9A-Fa-f]+|[a-z]+);/g, (whole, name: string) => {
		if (name.startsWith("#x"))
			return String.fromCodePoint(Number.parseInt(name.slice(2), 16));
		if (name.startsWith("#"))
			return String.fromCodePoint(Number.parseInt(name.slice(1), 10));
		return ENTITIES[name] ?? whole;
	});
}

/** What the xsbug peer reports. */
export interface XsbugEvents {
	/** A complete line of `trace()` output. */
	line(text: string): void;
	/** The machine stopped (an exception with exceptions breaking, `debugger`, an abort); it is told to go on. */
	breakpoint(message: string): void;
	samples(values: Instruments): void;
}

/**
 * The debugger's side of the xsbug protocol on a serial line, just enough to keep a machine
 * running: frames are `<?xs.MACHINE?>` then `<xsbug>...</xsbug>`; commands go back as
 * `<?xs.MACHINE?>` then the command.
 */
export class XsbugPeer {
	#text = "";
	#machine: string | undefined;
	#log = "";
	#names: string[] = [];
	#send: (text: string) => void;
	#on: XsbugEvents;

	constructor(send: (text: string) => void, on: XsbugEvents) {
		this.#send = send;
		this.#on = on;
	}

	get machine(): string | undefined {
		return this.#machine;
	}

	feed(bytes: Uint8Array): void {
		this.#text += Buffer.from(bytes).toString("latin1");
		for (;;) {
			const pi = /<\?xs[.#]([0-9A-Fa-f]{8})\?>/.exec(this.#text);
			const open = this.#text.indexOf("<xsbug>");
			if (pi && (open < 0 || pi.index < open)) {
				this.#machine = pi[1];
				this.#text = this.#text.slice(pi.index + pi[0].length);
				continue;
			}
			if (open < 0)
				break;
			const close = this.#text.indexOf("</xsbug>", open);
			if (close < 0)
				break;
			const body = this.#text.slice(open + "<xsbug>".length, close);
			this.#text = this.#text.slice(close + "</xsbug>".length);
			this.#frame(body);
		}
		// Nothing but frames is expected; keep only a possible partial frame.
		if (this.#text.length > 1 << 20)
			this.#text = this.#text.slice(-4096);
	}

	/** Sends a command to the machine that spoke last, e.g. `<go/>`. */
	command(xml: string): void {
		if (this.#machine)
			this.#send(`\r\n<?xs.${this.#machine}?>\r\n${xml}\r\n`);
	}

	#frame(body: string): void {
		if (body.includes("<login "))
			this.command("<go/>");
		for (const match of body.matchAll(/<log>([\s\S]*?)<\/log>/g))
			this.#logText(unescapeXml(match[1]!));
		const instruments = /<instruments>([\s\S]*?)<\/instruments>/.exec(body);
		if (instruments)
			this.#names = [...instruments[1]!.matchAll(/<instrument name="([^"]*)"/g)].map((match) => unescapeXml(match[1]!));
		const samples = /<samples>([^<]*)<\/samples>/.exec(body);
		if (samples) {
			const values = samples[1]!.split(",").map(Number);
			this.#on.samples(Object.fromEntries(values.map((value, i) => [this.#names[i] ?? `#${i}`, value])));
		}
		const stop = /<break[^>]*>([\s\S]*?)<\/break>/.exec(body);
		if (stop) {
			this.#on.breakpoint(unescapeXml(stop[1]!).trim());
			this.command("<go/>");
		}
	}

	#logText(text: string): void {
		this.#log += text;
		let newline: number;
		while ((newline = this.#log.indexOf("\n")) >= 0) {
			const line = this.#log.slice(0, newline).replace(/\r$/, "");
			this.#log = this.#log.slice(newline + 1);
			if (line)
				this.#on.line(line);
		}
	}
}

/** Thrown when a run reaches its emulated or wall-time limit, or the chip resets. */
export class EmulatorStop extends Error {}

export class EmulatedPico {
	readonly mcu: RP2040;
	readonly traces: TraceLine[] = [];
	/** Exceptions, aborts, breaks and resets: a healthy run has none. */
	readonly faults: string[] = [];
	/** Every sample of the XS instruments (debug builds, one a second), with the emulated time. */
	readonly samples: Array<{ atMs: number; values: Instruments }> = [];
	/** Warnings of the emulator about peripherals the image used that it does not model. */
	readonly emulatorLog: string[] = [];
	#edges: Edge[] = [];
	#peer: XsbugPeer;
	#cdc: USBCDC;
	#limits: { emulatedMs: number; wallMs: number };
	#wallStart = Date.now();
	#reset = false;
	#cycles = 0;
	#listeners: Array<(line: TraceLine) => void> = [];
	#adcReads = [0, 0, 0, 0, 0];
	#firstAdcReadMs: number | undefined;
	#profile: Uint8Array | undefined;
	#profiledCycles = 0;

	constructor(options: PicoOptions) {
		const bootrom = options.bootrom ?? bootromPath().path;
		if (bootrom === undefined)
			throw new Error(`no RP2040 boot ROM: ${bootromPath().missing}`);
		this.#limits = options.limits;
		const mcu = new RP2040();
		this.mcu = mcu;
		mcu.logger = this.#logger();
		const rom = typeof bootrom === "string" ? readFileSync(bootrom) : bootrom;
		const words = new Uint32Array(rom.byteLength >> 2);
		new Uint8Array(words.buffer).set(rom.subarray(0, words.byteLength));
		mcu.loadBootrom(words); // resets the chip and erases flash: load the image after it
		if (options.flash) {
			mcu.flash.set(options.flash);
		}
		else {
			const image = typeof options.uf2 === "string" ? readFileSync(options.uf2) : options.uf2;
			for (const block of uf2Blocks(image)) {
				if (block.address < FLASH_START || block.address + block.data.byteLength > FLASH_START + mcu.flash.byteLength)
					throw new Error(`UF2 block at 0x${block.address.toString(16)} is outside the 2 MB of flash`);
				mcu.flash.set(block.data, block.address - FLASH_START);
			}
		}
		attachFlash(mcu);
		mcu.core.PC = FLASH_START;
		mcu.uart[0]!.onByte = (byte) => {
			for (const listener of this.#uartListeners)
				listener(byte);
			if (this.#uartListeners.length)
				return; // a binary link, not console lines
			if (byte === 0x0a) {
				this.consoleLines.push(this.#consoleLine.replace(/\r$/, ""));
				this.#consoleLine = "";
			}
			else {
				this.#consoleLine += String.fromCharCode(byte);
			}
		};

		const watchdog = mcu.findPeripheral(0x4005_8000) as unknown as { onWatchdogTrigger: () => void };
		watchdog.onWatchdogTrigger = () => {
			this.#fault("the watchdog reset the chip (an XS abort, or a hang)");
			this.#reset = true;
		};
		if (options.onTrace)
			this.#listeners.push(options.onTrace);
		const read = mcu.adc.onADCRead;
		mcu.adc.onADCRead = (channel) => {
			this.#adcReads[channel] = (this.#adcReads[channel] ?? 0) + 1;
			this.#firstAdcReadMs ??= this.nowMs;
			read(channel);
		};

		this.#cdc = new USBCDC(mcu.usbCtrl);
		this.#peer = new XsbugPeer((text) => {
			for (const byte of Buffer.from(text, "latin1"))
				this.#cdc.sendSerialByte(byte);
		}, {
			line: (text) => this.#trace(text),
			breakpoint: (message) => this.#fault(`break: ${message}`),
			samples: (values) => this.samples.push({ atMs: this.nowMs, values }),
		});
		this.#cdc.onSerialData = (bytes) => this.#peer.feed(bytes);

		for (const pin of options.watchPins ?? []) {
			const gpio = mcu.gpio[pin];
			if (!gpio)
				throw new RangeError(`no GPIO ${pin} on the RP2040`);
			gpio.addListener((state, old) => {
				const high = state === GPIOPinState.High;
				if ((state === GPIOPinState.High || state === GPIOPinState.Low) && (high !== (old === GPIOPinState.High) || (old !== GPIOPinState.Low && old !== GPIOPinState.High)))
					this.#edges.push({ pin, high, atMs: this.nowMs });
			});
		}
	}

	/** Lines the firmware wrote on UART0 (GP0), the settings console. */
	readonly consoleLines: string[] = [];
	#consoleLine = "";
	/** Bytes waiting to be typed on UART0 (GP1), a few at a time as the firmware reads them. */
	#typing: number[] = [];

	#uartListeners: Array<(byte: number) => void> = [];

	/** Every byte the firmware sends on UART0 TX (GP0), raw: for a binary link instead of console lines. */
	onUartBytes(listener: (bytes: Uint8Array) => void): () => void {
		const each = (byte: number) => listener(Uint8Array.of(byte));
		this.#uartListeners.push(each);
		return () => {
			this.#uartListeners = this.#uartListeners.filter((other) => other !== each);
		};
	}

	/** Bytes for UART0 RX (GP1), fed at about the line's pace as the emulation runs. */
	writeUart(bytes: Uint8Array): void {
		for (const byte of bytes)
			this.#typing.push(byte);
	}

	/** Types a line on the console (UART0 RX), ended by CR. */
	type(line: string): void {
		for (const byte of Buffer.from(line + "\r", "latin1"))
			this.#typing.push(byte);
	}

	/** A copy of the whole flash, to start another emulator with it (a reset that keeps the flash). */
	flashImage(): Uint8Array {
		return this.mcu.flash.slice();
	}

	/** Emulated milliseconds since power-on. */
	get nowMs(): number {
		return this.mcu.clock.nanos / 1e6;
	}

	/** Processor cycles executed (not counting time asleep in WFI/WFE). */
	get cycles(): number {
		return this.#cycles;
	}

	/** ADC conversions the firmware started on a channel (0..3: GP26..GP29): one per light sample. */
	adcReads(channel = 0): number {
		return this.#adcReads[channel] ?? 0;
	}

	/** When the firmware first read the ADC: its first light sample. */
	get firstAdcReadMs(): number | undefined {
		return this.#firstAdcReadMs;
	}

	/**
	 * Counts from now on the cycles spent with the program counter in the given flash address
	 * ranges (for example the XS engine's functions, from the .elf's symbols).
	 */
	profile(ranges: ReadonlyArray<readonly [start: number, end: number]>): void {
		const mask = new Uint8Array(this.mcu.flash.byteLength >> 1);
		for (const [start, end] of ranges) {
			for (let address = Math.max(start, FLASH_START); address < end && address < FLASH_START + this.mcu.flash.byteLength; address += 2)
				mask[(address - FLASH_START) >> 1] = 1;
		}
		this.#profile = mask;
		this.#profiledCycles = 0;
	}

	/** Cycles spent in the profiled ranges since `profile()`. */
	get profiledCycles(): number {
		return this.#profiledCycles;
	}

	/** The xsbug machine id of the image's XS machine, once it spoke. */
	get machine(): string | undefined {
		return this.#peer.machine;
	}

	/** The XS instruments of the latest sample. */
	get instruments(): Instruments | undefined {
		return this.samples.at(-1)?.values;
	}

	/** Sets an ADC input: channel 0..3 is GP26..GP29, value 0..4095. */
	setAdc(channel: number, value: number): void {
		if (!(channel >= 0 && channel <= 3))
			throw new RangeError(`ADC channel must be 0..3 (GP26..GP29), got ${channel}`);
		this.mcu.adc.channelValues[channel] = Math.max(0, Math.min(ADC_MAX, Math.round(value)));
	}

	/** Whether a GPIO drives its output high. */
	pin(pin: number): boolean {
		return this.mcu.gpio[pin]!.value === GPIOPinState.High;
	}

	/** The output edges of a watched pin (or all of them), oldest first. */
	edges(pin?: number): Edge[] {
		return pin === undefined ? [...this.#edges] : this.#edges.filter((edge) => edge.pin === pin);
	}

	/** Called with every trace line from now on; returns a function that stops it. */
	onTrace(listener: (line: TraceLine) => void): () => void {
		this.#listeners.push(listener);
		return () => {
			this.#listeners = this.#listeners.filter((other) => other !== listener);
		};
	}

	/**
	 * Stops the emulator for good: its PIO blocks run on Node's timers once the firmware starts
	 * them (the Pico W's Wi-Fi driver does), which would keep the process alive.
	 */
	close(): void {
		this.#reset = true;
		for (const pio of this.mcu.pio)
			pio.stop();
	}

	/** Runs for `ms` emulated milliseconds. */
	async runFor(ms: number): Promise<void> {
		const until = this.nowMs + ms;
		await this.#run(() => this.nowMs >= until, `${ms} ms`);
	}

	/** Runs until `done()` holds, for at most `withinMs` emulated ms; false when it never held. */
	async runUntil(done: () => boolean, withinMs: number): Promise<boolean> {
		const until = this.nowMs + withinMs;
		let held = done();
		if (!held)
			await this.#run(() => (held = done()) || this.nowMs >= until, `${withinMs} ms`);
		return held;
	}

	/** Runs until a trace line matches; throws with the lines seen when none does within `withinMs`. */
	async waitForTrace(pattern: RegExp, withinMs: number): Promise<TraceLine> {
		let found = this.traces.find((line) => pattern.test(line.text));
		if (!found) {
			const from = this.traces.length;
			await this.runUntil(() => (found = this.traces.slice(from).find((line) => pattern.test(line.text))) !== undefined, withinMs);
		}
		if (!found)
			throw new Error(`no trace line matching ${pattern} within ${withinMs} emulated ms; the last lines:\n${this.tail()}`);
		return found;
	}

	/** The last trace lines, for error messages. */
	tail(count = 20): string {
		return this.traces.slice(-count).map((line) => `  ${line.atMs.toFixed(1)} ms  ${line.text}`).join("\n") || "  (none)";
	}

	async #run(stop: () => boolean, what: string): Promise<void> {
		const { core } = this.mcu;
		const clock = this.mcu.clock as unknown as { nanos: number; tick(nanos: number): void; readonly nanosToNextAlarm: number };
		while (!stop()) {
			if (this.#reset)
				throw new EmulatorStop(`the chip reset or the emulator was closed; ${this.faults.join("; ") || "no fault"}`);
			if (this.nowMs >= this.#limits.emulatedMs)
				throw new EmulatorStop(`the emulated-time limit of ${this.#limits.emulatedMs} ms was reached while running for ${what}`);
			if (Date.now() - this.#wallStart >= this.#limits.wallMs)
				throw new EmulatorStop(`the wall-time limit of ${this.#limits.wallMs} ms was reached at ${this.nowMs.toFixed(0)} emulated ms while running for ${what}`);
			const cycleNanos = 1e9 / this.mcu.clkSys;
			const profile = this.#profile;
			// A few typed bytes per chunk (about a millisecond): the pace of a terminal at 115200 baud.
			const uart = this.mcu.uart[0]!;
			// UART_FR.RXFF: the receive FIFO is full; wait for the firmware to read it, as a line with flow control would.
			for (let typed = 0; typed < 8 && this.#typing.length && uart.enabled && uart.rxEnabled && !(uart.flags & 0x40); typed++)
				uart.feedByte(this.#typing.shift()!);
			for (let i = 0; i < CHUNK_INSTRUCTIONS && !this.#reset; i++) {
				if (core.waiting) {
					const skip = clock.nanosToNextAlarm;
					clock.tick(skip > 0 ? skip : cycleNanos);
				}
				else {
					const pc = core.PC;
					const cycles = core.executeInstruction();
					this.#cycles += cycles;
					if (profile && profile[(pc - FLASH_START) >>> 1] === 1)
						this.#profiledCycles += cycles;
					clock.tick(cycles * cycleNanos);
				}
				if ((i & 1023) === 0 && stop())
					break;
			}
			await new Promise((resolve) => setImmediate(resolve));
		}
	}

	#trace(text: string): void {
		const line = { atMs: this.nowMs, text };
		this.traces.push(line);
		if (/XS abort|# Exception|unhandled exception|Unhandled/i.test(text))
			this.#fault(text);
		for (const listener of this.#listeners)
			listener(line);
	}

	#fault(message: string): void {
		this.faults.push(`${this.nowMs.toFixed(1)} ms: ${message}`);
	}

	#logger(): Logger {
		const keep = (level: string) => (component: string, message: string) => {
			if (this.emulatorLog.length < 200)
				this.emulatorLog.push(`${level} ${component}: ${message}`);
		};
		return { debug: () => {}, info: () => {}, warn: keep("warn"), error: keep("error") };
	}
}
