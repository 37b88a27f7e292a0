/* The device scenarios under jest; test/xs runs the same scenarios on the XS engine. */
import { test } from "@jest/globals";
import { scenarios } from "./scenarios/index.js";

for (const scenario of scenarios)
	test(scenario.name, () => scenario.run());
