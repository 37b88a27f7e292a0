/* Every portable scenario, for jest on Node and for the XS engine. */
import { clockScenarios } from "./clocks.js";
import { configScenarios } from "./config.js";
import { type Scenario, scenarios as deviceScenarios } from "./device.js";

export const scenarios: Scenario[] = [...deviceScenarios, ...clockScenarios, ...configScenarios];
