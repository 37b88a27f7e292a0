/*
 * The script the XS engine runs (bundled by test/xs/bundle.ts): it answers `handleCommand` with
 * JSON. `scenarios` runs every portable device scenario; `bench ...` drives the workload.
 * XS inside xsnap has print, gc, TextEncoder and TextDecoder; no console, no timers.
 */
import { scenarios } from "../scenarios/index.js";
import { Workload } from "./workload.js";

declare function gc(): void;

interface Outcome {
	name: string;
	ok: boolean;
	error?: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
let workload: Workload | undefined;

function runScenarios(): Outcome[] {
	return scenarios.map((scenario) => {
		try {
			scenario.run();
			return { name: scenario.name, ok: true };
		}
		catch (error) {
			return { name: scenario.name, ok: false, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
		}
	});
}

function bench(step: string, count: number): unknown {
	if (step === "start")
		workload = new Workload();
	else if (!workload)
		throw new Error("bench start first");
	else if (step === "steady")
		workload.steady(count);
	else if (step === "telemetry")
		workload.telemetry(count);
	else if (step === "commands")
		workload.commands(count);
	else
		throw new Error(`unknown bench step ${step}`);
	gc();
	return workload!.figures;
}

function answer(command: string): unknown {
	const [verb = "", step = "", count = "0"] = command.split(" ");
	if (verb === "scenarios")
		return runScenarios();
	if (verb === "bench")
		return bench(step, Number(count));
	if (verb === "gc") {
		gc();
		return {};
	}
	throw new Error(`unknown command ${JSON.stringify(command)}`);
}

(globalThis as unknown as { handleCommand(message: ArrayBuffer): ArrayBuffer }).handleCommand = (message) =>
	encoder.encode(JSON.stringify(answer(decoder.decode(message)))).buffer as ArrayBuffer;
