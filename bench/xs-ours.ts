/*
 * Our side of the XS memory benchmark: the nightlight core in the workload of test/xs (fake clock,
 * counting client), with nothing else bundled, answering the same commands as bench/xs-bare.ts.
 */
import { Workload } from "../test/xs/workload.js";

declare function gc(): void;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
let workload: Workload | undefined;

function answer(command: string): unknown {
	const [step = "", count = "0"] = command.split(" ");
	const n = Number(count);
	if (step === "start")
		workload = new Workload();
	else if (!workload)
		throw new Error("start first");
	else if (step === "telemetry")
		workload.telemetry(n);
	else if (step === "commands")
		workload.commands(n);
	else if (step === "steady")
		workload.steady(n);
	gc();
	return workload.figures;
}

(globalThis as unknown as { handleCommand(message: ArrayBuffer): ArrayBuffer }).handleCommand = (message) =>
	encoder.encode(JSON.stringify(answer(decoder.decode(message)))).buffer as ArrayBuffer;
