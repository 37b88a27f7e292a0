/*
 * The portable device scenarios on the real XS engine (the Moddable SDK's JavaScript engine, as
 * built by npm @agoric/xsnap): the same bundle of core + fakes + scenarios that jest runs on
 * Node in device.test.ts must pass here too.
 */
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { scenarios } from "./scenarios/index.js";
import { bundleForXs } from "./xs/bundle.js";
import { XsWorker } from "./xs/xsnap.js";

interface Outcome {
	name: string;
	ok: boolean;
	error?: string;
}

let worker: XsWorker;
let outcomes: Outcome[];

beforeAll(async () => {
	worker = new XsWorker();
	await worker.evaluate(await bundleForXs());
	const reply = await worker.command("scenarios");
	outcomes = JSON.parse(reply.text) as Outcome[];
	process.stdout.write(`XS: ${outcomes.filter((item) => item.ok).length}/${outcomes.length} scenarios passed; heap ${reply.meter.currentHeapCount} slots, compute ${reply.meter.compute}, allocate ${reply.meter.allocate} bytes\n`);
}, 60_000);

afterAll(() => worker?.close());

test("XS runs every scenario that Node runs", () => {
	expect(outcomes.map((item) => item.name)).toEqual(scenarios.map((item) => item.name));
});

for (const scenario of scenarios) {
	test(`on XS: ${scenario.name}`, () => {
		const outcome = outcomes.find((item) => item.name === scenario.name);
		expect(outcome?.error ?? "").toBe("");
		expect(outcome?.ok).toBe(true);
	});
}
