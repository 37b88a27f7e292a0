/*
 * XS heap figures of the firmware core (npm run bench:xs): the device on a fake clock and a
 * counting client inside the real XS engine, measured after a garbage collection at each step.
 * A report, not a timed assertion: `currentHeapCount` (XS slots in use), `allocate` (bytes XS
 * has taken from the system) and `compute` (XS's work meter for that step).
 */
import { bundleForXs } from "./bundle.js";
import { type Meter, XsWorker } from "./xsnap.js";

const STEPS: Array<[label: string, command: string]> = [
	["start (connected, first reading)", "bench start 0"],
	["steady state (10 min of a steady room)", "bench steady 600000"],
	["after 10,000 telemetry cycles", "bench telemetry 10000"],
	["after 10,000 commands", "bench commands 10000"],
	["after 10,000 more telemetry cycles", "bench telemetry 10000"],
	["after 10,000 more commands", "bench commands 10000"],
	["steady state again (10 min)", "bench steady 600000"],
];

const worker = new XsWorker();
try {
	// Run from the project root (npm run bench:xs), where this file is bundled away from its folder.
	await worker.evaluate(await bundleForXs("test/xs/entry.ts"));
	const rows: Array<{ label: string; meter: Meter; figures: Record<string, number> }> = [];
	for (const [label, command] of STEPS) {
		const reply = await worker.command(command);
		rows.push({ label, meter: reply.meter, figures: JSON.parse(reply.text) as Record<string, number> });
	}
	const pad = (text: string | number, width: number) => String(text).padStart(width);
	console.log("XS heap of the nightlight core (xsnap-worker from @agoric/xsnap; measured after gc at each step)\n");
	console.log(`${"step".padEnd(40)}${pad("heap slots", 12)}${pad("allocate B", 13)}${pad("compute", 12)}${pad("telemetry", 11)}${pad("commands", 10)}${pad("published", 11)}`);
	for (const { label, meter, figures } of rows)
		console.log(`${label.padEnd(40)}${pad(meter.currentHeapCount, 12)}${pad(meter.allocate, 13)}${pad(meter.compute, 12)}${pad(figures.telemetrySent ?? 0, 11)}${pad(figures.commandsApplied ?? 0, 10)}${pad(figures.published ?? 0, 11)}`);
	const steady = rows[1]!.meter.currentHeapCount;
	const last = rows[rows.length - 2]!.meter.currentHeapCount;
	console.log(`\nheap after 20,000 telemetry cycles and 20,000 commands minus steady state: ${last - steady} slots`);
}
finally {
	worker.close();
}
