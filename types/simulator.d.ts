/*
 * What the Moddable desktop simulator gives an app, for which neither the SDK nor npm
 * `@moddable/typings` ship declarations: the `screen` global's message channel and the
 * `Control` class of the SDK's build/simulators/modules/control.js.
 */

interface SimulatorScreen {
	/** Sends one message (a JSON string) to the simulated device in mcsim. */
	postMessage(message: string): void;
	/** Receives the simulated device's messages. */
	onMessage?: (message: string) => void;
}

declare var screen: SimulatorScreen;

declare module "control" {
	/** A JSON channel to the simulated device; every open Control hears every message. */
	export default class Control {
		constructor(options?: object);
		close(): void;
		onJSON(json: any): void;
		postJSON(json: object): void;
	}
}
