// Jest runs the TypeScript sources as ES modules through SWC; see the "test" script for the Node flags.
export default {
	testEnvironment: "node",
	roots: ["<rootDir>/test"],
	testMatch: ["**/*.test.ts"],
	extensionsToTreatAsEsm: [".ts"],
	transform: {
		"^.+\\.ts$": ["@swc/jest", {
			jsc: { parser: { syntax: "typescript" }, target: "es2022" },
			module: { type: "es6" },
		}],
	},
	moduleNameMapper: { "^(\\.{1,2}/.*)\\.js$": "$1" },
	testTimeout: 30_000,
};
