/* `npm run bench`: runs the benchmarks and prints a Markdown report. Figures, not assertions. */
import { cpus, totalmem } from "node:os";
import { reactionAll } from "./reaction.js";
import { steadyHour } from "./steady.js";

const steps = Number(process.env.BENCH_STEPS ?? 100);
const lines: string[] = [];
const say = (line = "") => {
	lines.push(line);
	console.log(line);
};

say(`# Benchmarks`);
say();
say(`Machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}. Date: ${new Date().toISOString().slice(0, 10)}. Command: \`npm run bench\`.`);
say();
say(`## Reaction time: light step to LED applied, through broker and server (${steps} steps at random moments, 0.4 to 1.4 s apart)`);
say();
say(`| broker | p50 ms | p99 ms | max ms |`);
say(`|---|---|---|---|`);
for (const result of await reactionAll(steps))
	say(`| ${result.broker} | ${result.p50.toFixed(1)} | ${result.p99.toFixed(1)} | ${result.max.toFixed(1)} |`);
say();
say(`## Messages per hour in a steady room (light 500 ± 8 of sensor noise, one simulated hour)`);
say();
say(`| configuration | telemetry | commands | all messages | payload bytes |`);
say(`|---|---|---|---|---|`);
const ours = steadyHour("nightlight defaults (report on change, 60 s heartbeat)", {}, false, 8);
const lesson = steadyHour("lesson-style (telemetry every 2 s, a command for each)", { mode: "period", periodMs: 2_000 }, true, 8);
for (const result of [ours, lesson])
	say(`| ${result.name} | ${result.telemetry} | ${result.commands} | ${result.messages} | ${result.bytes} |`);
say();
say(`Ours sends ${(100 * ours.messages / lesson.messages).toFixed(1)} % of the lesson-style messages.`);
