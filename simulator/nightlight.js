/*
 * Our simulated nightlight for the Moddable desktop simulator (mcsim): a light slider (0..1023),
 * a lamp drawn lit or dark, and status rows (connection, last telemetry sent, last command
 * received). mcsim loads this file from source when it starts (it must stay plain JavaScript).
 *
 * It talks JSON with the app over the simulator's message channel:
 *   app -> here: {"ready":"analog"}  {"led":0|1}  {"status":{"connection"|"telemetry"|"command": text}}
 *   here -> app: {"light": 0..1023}
 * The app side is simulator/modules/analog.ts, digital.ts and hosts/sim/host.ts.
 */
import {
	ControlsColumn,
	InfoRow,
	SliderRow,
	SwitchRow,
} from "ControlsPane";

import {
	DeviceBehavior,
	DeviceContainer,
	DeviceScreen,
} from "DevicePane";

const base = import.meta.uri;
const INITIAL_LIGHT = 500;

const panelSkin = new Skin({ fill: "#1e2430" });
const lampSkin = new Skin({ texture: new Texture({ base, path: "assets/lamp.png" }), x: 0, y: 0, width: 160, height: 200, variants: 160 });
const titleStyle = new Style({ font: "semibold", color: "#e8ecf2", horizontal: "center" });
const stateStyle = new Style({ font: "semibold", color: ["#8a93a3", "#ffd000"], horizontal: "center" });
const lightStyle = new Style({ color: "#b9c1cf", horizontal: "center" });

class NightlightBehavior extends DeviceBehavior {
	onAbort() {
		if (this.reloadOnAbort) {
			application.defer("doReloadFile");
			return true;
		}
	}
	onCreate(container, device) {
		super.onCreate(container, device);
		this.light = INITIAL_LIGHT;
		this.reloadOnAbort = false;
	}
	onConfigure(container) {
		this.postJSON(container, { light: this.light });
	}
	onDisplaying(container) {
		this.showLight(container);
	}
	onLightChanged(container, data) {
		this.light = data.value;
		this.showLight(container);
		this.postJSON(container, { light: this.light });
	}
	onJSON(container, json) {
		if ("ready" in json)
			this.postJSON(container, { light: this.light });
		if ("led" in json)
			this.showLamp(container, !!json.led);
		const status = json.status;
		if (status) {
			this.showStatus(this.CONNECTION, status.connection);
			this.showStatus(this.TELEMETRY, status.telemetry);
			this.showStatus(this.COMMAND, status.command);
		}
		if (json.xsbug === "abort")
			application.defer("doReloadFile");
	}
	onReloadOnAbortChanged(container, data) {
		this.reloadOnAbort = data.value;
	}
	showLamp(container, on) {
		const lamp = container.content("LAMP");
		const state = container.content("STATE");
		if (lamp)
			lamp.variant = on ? 1 : 0;
		if (state) {
			state.state = on ? 1 : 0;
			state.string = on ? "LED on" : "LED off";
		}
	}
	showStatus(label, text) {
		if (!label || typeof text !== "string")
			return;
		label.string = text;
		// A new string only asks for a reflow, which mcsim's controls pane may not paint until the
		// next input event; a state change invalidates the label at once.
		label.state = label.state ? 0 : 1;
	}
	showLight(container) {
		const label = container.content("LIGHT");
		if (label)
			label.string = `light ${this.light} / 1023`;
	}
}

export default {
	applicationName: ".*/nightlight",
	title: "Nightlight",
	sortingTitle: "0 Nightlight",
	Workers: {},
	ControlsTemplate: ControlsColumn.template(() => ({
		contents: [
			SliderRow({
				name: "LIGHT_SLIDER",
				track: "onLightChanged",
				label: "Light",
				min: 0,
				max: 1023,
				step: 1,
				unit: "",
				value: INITIAL_LIGHT,
			}),
			InfoRow({ name: "CONNECTION", label: "Connection", value: "starting" }),
			InfoRow({ name: "TELEMETRY", label: "Last telemetry", value: "none yet" }),
			InfoRow({ name: "COMMAND", label: "Last command", value: "none yet" }),
			SwitchRow({
				event: "onReloadOnAbortChanged",
				label: "Reload On Abort",
				on: "Yes",
				off: "No",
				value: false,
			}),
		],
	})),
	DeviceTemplates: {
		0: DeviceContainer.template($ => ({
			Behavior: NightlightBehavior, width: 240, height: 320, skin: panelSkin,
			contents: [
				Label($, { left: 0, right: 0, top: 12, height: 24, style: titleStyle, string: "nightlight" }),
				Content($, { name: "LAMP", left: 40, top: 44, skin: lampSkin, variant: 0 }),
				Label($, { name: "STATE", left: 0, right: 0, top: 250, height: 24, style: stateStyle, state: 0, string: "LED off" }),
				Label($, { name: "LIGHT", left: 0, right: 0, top: 278, height: 20, style: lightStyle, string: `light ${INITIAL_LIGHT} / 1023` }),
				DeviceScreen($, { left: 0, width: 0, top: 0, height: 0, rotation: 0 }),
			],
		})),
	},
};
