/* The Node clock: wall time in ms and the runtime's own timers. */
import type { Clock } from "../../src/ports.js";

export const nodeClock: Clock = {
	now: () => Date.now(),
	setTimeout: (callback, ms) => setTimeout(callback, ms),
	clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout | undefined),
	setInterval: (callback, ms) => setInterval(callback, ms),
	clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout | undefined),
};
