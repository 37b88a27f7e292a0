/*
 * Device memory and work on the real XS engine (xsnap-worker from @agoric/xsnap): our core and a
 * bare lesson-style loop, each in a fresh worker, measured after a garbage collection at each
 * step. Heap figures are XS slots in use (16 bytes each on 64-bit XS).
 */
import { bundleForXs } from "../test/xs/bundle.js";
import { type Meter, XsWorker } from "../test/xs/xsnap.js";

export interface XsRow {
	step: string;
	ours: Meter;
	bare: Meter;
}

export interface XsResult {
	empty: Meter;
	rows: XsRow[];
	/** Compute (XS meter) per telemetry cycle and per command. */
	perTelemetry: { ours: number; bare: number };
	perCommand: { ours: number; bare: number };
	/** Wall time to evaluate the bundle and start, until the first reading is published. */
	bootMs: { ours: number; bare: number };
}

const STEPS: Array<[label: string, command: string]> = [
	["after start", "start 0"],
	["after 10,000 telemetry cycles", "telemetry 10000"],
	["after 10,000 commands", "commands 10000"],
	["after 10,000 more of each", "telemetry 10000"],
];

async function measure(entry: string): Promise<{ meters: Meter[]; bootMs: number; empty?: Meter }> {
	const worker = new XsWorker();
	try {
		const code = await bundleForXs(entry);
		const started = performance.now();
		await worker.evaluate(code);
		const meters: Meter[] = [];
		let bootMs = 0;
		for (const [, command] of STEPS) {
			const reply = await worker.command(command);
			if (command.startsWith("start"))
				bootMs = performance.now() - started;
			meters.push(reply.meter);
		}
		meters.push((await worker.command("commands 10000")).meter);
		return { meters, bootMs };
	}
	finally {
		worker.close();
	}
}

async function emptyHeap(): Promise<Meter> {
	const worker = new XsWorker();
	try {
		await worker.evaluate(await bundleForXs("bench/xs-bare.ts"));
		return (await worker.command("empty")).meter;
	}
	finally {
		worker.close();
	}
}

export async function xsMemory(): Promise<XsResult> {
	const ours = await measure("bench/xs-ours.ts");
	const bare = await measure("bench/xs-bare.ts");
	const empty = await emptyHeap();
	const labels = [...STEPS.map(([label]) => label), "after 10,000 more commands"];
	return {
		empty,
		rows: labels.map((step, i) => ({ step, ours: ours.meters[i]!, bare: bare.meters[i]! })),
		perTelemetry: {
			ours: Math.round(ours.meters[1]!.compute / 10_000),
			bare: Math.round(bare.meters[1]!.compute / 10_000),
		},
		perCommand: {
			ours: Math.round(ours.meters[2]!.compute / 10_000),
			bare: Math.round(bare.meters[2]!.compute / 10_000),
		},
		bootMs: { ours: ours.bootMs, bare: bare.bootMs },
	};
}
