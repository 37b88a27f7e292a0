/*
 * A serial NOR flash behind the RP2040's SSI, for the emulator: rp2040js executes and reads
 * flash through XIP but ignores what the firmware sends the chip, so writes to flash (Moddable's
 * preferences, through the boot ROM's flash_range_erase and flash_range_program) would be lost.
 * This model takes the bytes the firmware writes to the SSI's data register while it drives the
 * QSPI chip select low (IO_QSPI's SS override), and acts on each command when the select goes high:
 * write enable (06h), page program (02h), 4/32/64 KB and chip erase (20h, 52h, D8h, C7h/60h); it
 * answers status (05h: never busy), read (03h) and JEDEC id (9Fh). Programming ANDs bits, as NOR
 * flash does.
 */
import { BasePeripheral, type Peripheral, type RP2040 } from "rp2040js";

const SSI_DR0 = 0x60;
const SSI_SR = 0x28;
const SSI_TXFLR = 0x20;
const SSI_RXFLR = 0x24;
const SR_TFNF = 0x02;
const SR_TFE = 0x04;
const SR_RFNE = 0x08;
/** IO_QSPI GPIO_QSPI_SS_CTRL: OUTOVER in bits 8..9, 2 drives the select low, 3 high. */
const SS_CTRL = 0x0c;

class QspiSelect extends BasePeripheral {
	#registers = new Map<number, number>();
	#changed: (selected: boolean) => void;
	constructor(rp2040: RP2040, changed: (selected: boolean) => void) {
		super(rp2040, "IO_QSPI_BASE");
		this.#changed = changed;
	}
	override readUint32(offset: number): number {
		return this.#registers.get(offset) ?? 0;
	}
	override writeUint32(offset: number, value: number): void {
		this.#registers.set(offset, value);
		if (offset === SS_CTRL) {
			const outover = (value >> 8) & 3;
			if (outover === 2)
				this.#changed(true);
			else if (outover === 3 || outover === 0)
				this.#changed(false);
		}
	}
}

class FlashPort implements Peripheral {
	#inner: Peripheral;
	#flash: Uint8Array;
	#command: number[] = [];
	#rx: number[] = [];
	#writeEnabled = false;
	selected = false;
	/** Commands that changed the flash, for a test's log. */
	writes = 0;

	constructor(inner: Peripheral, flash: Uint8Array) {
		this.#inner = inner;
		this.#flash = flash;
	}

	readUint32(offset: number): number {
		if (offset === SSI_DR0)
			return this.#rx.shift() ?? 0;
		if (offset === SSI_SR)
			return SR_TFE | SR_TFNF | (this.#rx.length ? SR_RFNE : 0);
		if (offset === SSI_RXFLR)
			return this.#rx.length;
		if (offset === SSI_TXFLR)
			return 0;
		return this.#inner.readUint32(offset);
	}

	writeUint32(offset: number, value: number): void {
		if (offset !== SSI_DR0) {
			this.#inner.writeUint32(offset, value);
			return;
		}
		const byte = value & 0xff;
		this.#command.push(byte);
		this.#rx.push(this.#answer());
	}

	writeUint32Atomic(offset: number, value: number, atomicType: number): void {
		if (offset === SSI_DR0)
			this.writeUint32(offset, value);
		else
			this.#inner.writeUint32Atomic(offset, value, atomicType);
	}

	select(selected: boolean): void {
		if (selected === this.selected)
			return;
		this.selected = selected;
		if (!selected)
			this.#finish();
		this.#command = [];
		this.#rx = [];
	}

	#address(): number {
		const [, a = 0, b = 0, c = 0] = this.#command;
		return ((a << 16) | (b << 8) | c) & (this.#flash.length - 1);
	}

	/** The byte the flash shifts out while the last byte of the command went in. */
	#answer(): number {
		const index = this.#command.length - 1;
		const command = this.#command[0];
		if (index === 0)
			return 0;
		if (command === 0x05)
			return this.#writeEnabled ? 0x02 : 0x00;
		if (command === 0x9f)
			return [0xef, 0x40, 0x15][index - 1] ?? 0;
		if (command === 0x03 && index >= 4)
			return this.#flash[(this.#address() + index - 4) & (this.#flash.length - 1)]!;
		return 0;
	}

	#finish(): void {
		const command = this.#command[0];
		if (command === 0x06) {
			this.#writeEnabled = true;
			return;
		}
		if (command === 0x04) {
			this.#writeEnabled = false;
			return;
		}
		if (!this.#writeEnabled || command === undefined)
			return;
		const address = this.#address();
		if (command === 0x02 && this.#command.length > 4) {
			const page = address & ~0xff;
			const data = this.#command.slice(4);
			for (let i = 0; i < data.length; i++) {
				const at = page | ((address + i) & 0xff);
				this.#flash[at] = this.#flash[at]! & data[i]!;
			}
		}
		else if (command === 0x20 || command === 0x52 || command === 0xd8) {
			const size = command === 0x20 ? 0x1000 : command === 0x52 ? 0x8000 : 0x10000;
			const start = address & ~(size - 1);
			this.#flash.fill(0xff, start, start + size);
		}
		else if (command === 0xc7 || command === 0x60) {
			this.#flash.fill(0xff);
		}
		else {
			return;
		}
		this.writes++;
		this.#writeEnabled = false;
	}
}

/** Puts the flash model in place on an RP2040 emulator; returns it (for its write count). */
export function attachFlash(mcu: RP2040): { readonly writes: number } {
	const peripherals = (mcu as unknown as { peripherals: Record<number, Peripheral> }).peripherals;
	const port = new FlashPort(peripherals[0x18000]!, mcu.flash);
	peripherals[0x18000] = port;
	peripherals[0x40018] = new QspiSelect(mcu, (selected) => port.select(selected));
	return port;
}
