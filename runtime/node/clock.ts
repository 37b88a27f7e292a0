/* The Node clocks: wall time in ms and the runtime's own timers. */
import type { Clock } from "../../src/ports.js";

export const nodeClock: Clock = {
	now: () => Date.now(),
	setTimeout: (callback, ms) => setTimeout(callback, ms),
	clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout | undefined),
	setInterval: (callback, ms) => setInterval(callback, ms),
	clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout | undefined),
};

/**
 * A device's clock on Node: periods and timeouts on the monotonic clock, which a change of the
 * system's time does not move; the time of day only to stamp readings.
 */
export const deviceClock: Clock = {
	...nodeClock,
	now: () => performance.timeOrigin + performance.now(),
	wall: () => Date.now(),
};
