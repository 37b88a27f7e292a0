/*
 * The nightlight rule with hysteresis, shared by the server and by the device's local mode.
 * The LED goes on when the light falls below `threshold` and goes off again only once the light
 * is back at `threshold + hysteresis` or above, so a reading hovering at the threshold does not
 * flap the LED. With hysteresis 0 it is the lesson's rule, `led_on = light < threshold`.
 */
import { LIGHT_MAX } from "./contract.js";

export interface RuleOptions {
	threshold: number;
	hysteresis: number;
}

export const DEFAULT_RULE: RuleOptions = { threshold: 300, hysteresis: 20 };

export function checkRule(options: RuleOptions): RuleOptions {
	const { threshold, hysteresis } = options;
	if (!Number.isInteger(threshold) || threshold < 0 || threshold > LIGHT_MAX + 1)
		throw new RangeError(`threshold must be an integer 0..${LIGHT_MAX + 1}, got ${threshold}`);
	if (!Number.isInteger(hysteresis) || hysteresis < 0 || hysteresis > LIGHT_MAX)
		throw new RangeError(`hysteresis must be an integer 0..${LIGHT_MAX}, got ${hysteresis}`);
	return { threshold, hysteresis };
}

/** Whether the LED should be on for `light`, given what it is now (undefined: not known yet). */
export function decide(rule: RuleOptions, light: number, current: boolean | undefined): boolean {
	if (current === true)
		return light < rule.threshold + rule.hysteresis;
	return light < rule.threshold;
}
