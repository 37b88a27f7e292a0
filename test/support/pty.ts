/*
 * A pseudo-terminal pair for tests, made by Python's pty module (python3 is on every Debian): the
 * slave's path is a serial port for the bridge (what /dev/ttyACM0 is for a real board); the
 * master's bytes come and go through the helper's stdin and stdout. Killing the helper closes
 * the master, as unplugging a board does.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";

const RELAY = `
import os, pty, select, sys, tty
master, slave = pty.openpty()
tty.setraw(slave)
tty.setraw(master)
sys.stdout.write(os.ttyname(slave) + "\\n"); sys.stdout.flush()
out = sys.stdout.fileno()
while True:
    ready, _, _ = select.select([0, master], [], [])
    if 0 in ready:
        data = os.read(0, 4096)
        if not data: break
        os.write(master, data)
    if master in ready:
        try: data = os.read(master, 4096)
        except OSError: data = b""
        if data: os.write(out, data)
`;

export function ptyAvailable(): boolean {
	return spawnSync("python3", ["-c", "import pty"], { stdio: "ignore" }).status === 0;
}

export interface Pty {
	/** The slave's path, the "serial port". */
	path: string;
	child: ChildProcess;
	write(bytes: Uint8Array): void;
	onData(listener: (bytes: Buffer) => void): void;
	close(): Promise<void>;
}

export async function openPty(): Promise<Pty> {
	const child = spawn("python3", ["-u", "-c", RELAY], { stdio: ["pipe", "pipe", "inherit"] });
	const listeners: Array<(bytes: Buffer) => void> = [];
	const path = await new Promise<string>((resolve, reject) => {
		let text = "";
		const first = (chunk: Buffer) => {
			text += chunk.toString("latin1");
			const newline = text.indexOf("\n");
			if (newline < 0)
				return;
			child.stdout!.off("data", first);
			const rest = Buffer.from(text.slice(newline + 1), "latin1");
			child.stdout!.on("data", (bytes: Buffer) => listeners.forEach((listener) => listener(bytes)));
			if (rest.length)
				setImmediate(() => listeners.forEach((listener) => listener(rest)));
			resolve(text.slice(0, newline));
		};
		child.stdout!.on("data", first);
		child.once("exit", (code) => reject(new Error(`the pty helper exited (${code})`)));
	});
	return {
		path,
		child,
		write: (bytes) => child.stdin!.write(bytes),
		onData: (listener) => listeners.push(listener),
		close: () => new Promise<void>((resolve) => {
			if (child.exitCode !== null || child.signalCode !== null)
				return resolve();
			child.once("exit", () => resolve());
			child.kill("SIGKILL");
		}),
	};
}
