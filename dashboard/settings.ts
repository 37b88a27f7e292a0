/*
 * The dashboard's settings panels: one per device (what it runs, as it last said on
 * `<id>/config`; change a setting and the device answers), and one for the fleet (one change to
 * every device that keeps settings). The form follows the schema the firmware uses
 * (src/settings.ts); secrets are write-only.
 */
import { SETTINGS, type SettingSpec } from "../src/settings.js";

type Api = (method: string, path: string, body?: unknown) => Promise<unknown>;

interface ConfigReport {
	revision: number;
	settings: Record<string, string | number>;
	stored?: string[];
	restart?: string[];
}

function input(spec: SettingSpec, value: string | number | undefined): HTMLInputElement | HTMLSelectElement {
	if (spec.type === "choice") {
		const select = document.createElement("select");
		for (const choice of spec.choices!)
			select.append(Object.assign(document.createElement("option"), { value: choice, textContent: choice }));
		select.value = String(value ?? spec.default);
		return select;
	}
	const field = document.createElement("input");
	field.type = spec.secret ? "password" : spec.type === "int" ? "number" : "text";
	if (spec.type === "int") {
		field.min = String(spec.min);
		field.max = String(spec.max);
	}
	field.value = spec.secret ? "" : String(value ?? "");
	field.placeholder = spec.secret ? (value ? "(set; type to change)" : "(not set)") : String(spec.default);
	return field;
}

/** A form of every setting; `send` gets only what the user changed. */
function form(values: Record<string, string | number>, send: (change: Record<string, string | number>) => Promise<void>, keys: readonly SettingSpec[]): HTMLFormElement {
	const root = document.createElement("form");
	root.className = "settings";
	const fields = new Map<string, HTMLInputElement | HTMLSelectElement>();
	for (const spec of keys) {
		const field = input(spec, values[spec.key]);
		field.name = spec.key;
		field.dataset.testid = `setting-${spec.key}`;
		const label = document.createElement("label");
		label.title = `${spec.help}${spec.live ? "" : " (at the next restart)"}`;
		label.append(spec.key, field);
		fields.set(spec.key, field);
		root.append(label);
	}
	const save = Object.assign(document.createElement("button"), { type: "submit", textContent: "save" });
	save.dataset.testid = "settings-save";
	const result = Object.assign(document.createElement("span"), { className: "result" });
	result.dataset.testid = "settings-result";
	root.append(save, result);
	root.addEventListener("submit", (event) => {
		event.preventDefault();
		const change: Record<string, string | number> = {};
		for (const spec of keys) {
			const field = fields.get(spec.key)!;
			const text = field.value;
			if ((spec.secret && text === "") || text === String(values[spec.key] ?? ""))
				continue;
			change[spec.key] = spec.type === "int" && /^-?[0-9]+$/.test(text) ? Number(text) : text;
		}
		if (Object.keys(change).length === 0) {
			result.textContent = "nothing changed";
			return;
		}
		result.textContent = "sending…";
		send(change).then(() => {
			Object.assign(values, change);
		}, (error: Error) => {
			result.textContent = error.message;
		});
	});
	return root;
}

/** The settings of one device, loaded when the panel is opened. */
export function deviceSettings(id: string, api: Api, changed: () => void): HTMLDetailsElement {
	const panel = document.createElement("details");
	panel.className = "settings-panel";
	panel.dataset.testid = `settings-${id}`;
	panel.append(Object.assign(document.createElement("summary"), { textContent: "settings" }));
	const body = document.createElement("div");
	panel.append(body);
	const path = `/api/devices/${encodeURIComponent(id)}/config`;
	const load = () => api("GET", path).then((answer) => {
		const { config } = answer as { config: ConfigReport };
		const note = Object.assign(document.createElement("div"), { className: "facts" });
		note.textContent = `revision ${config.revision}${config.restart?.length ? `; at the next restart: ${config.restart.join(", ")}` : ""}`;
		const settingsForm = form({ ...config.settings }, async (change) => {
			const reply = await api("PUT", path, change) as { config: ConfigReport };
			settingsForm.querySelector(".result")!.textContent = `saved: revision ${reply.config.revision}${reply.config.restart?.length ? `; restart the device for ${reply.config.restart.join(", ")}` : ""}`;
			changed();
		}, SETTINGS);
		body.replaceChildren(note, settingsForm);
	}, (error: Error) => {
		body.replaceChildren(Object.assign(document.createElement("div"), { className: "facts", textContent: error.message }));
	});
	panel.addEventListener("toggle", () => {
		if (panel.open)
			void load();
	});
	return panel;
}

/** One change for every device that keeps settings: the fleet's local rule and reporting. */
export function fleetSettings(api: Api, changed: () => void): HTMLDetailsElement {
	const panel = document.createElement("details");
	panel.className = "settings-panel fleet";
	panel.dataset.testid = "settings-fleet";
	panel.append(Object.assign(document.createElement("summary"), { textContent: "fleet settings" }));
	const live = SETTINGS.filter((spec) => spec.live);
	const defaults: Record<string, string | number> = {};
	for (const spec of live)
		defaults[spec.key] = "";
	const fleetForm = form(defaults, async (change) => {
		const reply = await api("PUT", "/api/config", change) as { changed: number; failed: number };
		fleetForm.querySelector(".result")!.textContent = `${reply.changed} devices changed${reply.failed ? `, ${reply.failed} did not answer or refused` : ""}`;
		changed();
	}, live);
	panel.append(fleetForm);
	return panel;
}
