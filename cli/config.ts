/*
 * `nightlight config <id> [KEY=VALUE ...]`: changes a running device's settings over MQTT, as an
 * operator does from a terminal. It sends `<id>/config/set` and waits for the device's answer on
 * `<id>/config`: the new revision, or the keys it refused and why. Without KEY=VALUE it shows
 * what the device last said. `KEY=` (nothing after =) unsets a stored value.
 *
 * Exit codes: 0 done, 1 the device refused or did not answer, 2 a bad argument.
 */
import mqtt from "mqtt";
import { type ConfigReport, configTopics } from "../src/config.js";
import { isDeviceId } from "../src/contract.js";
import { type Change, checkSetting, settingSpec } from "../src/settings.js";
import { connectMqtt, explainMqttError, redactUrl } from "../runtime/node/mqtt.js";
import { ConfigError, type OneShot, type OptionSpec, type Values } from "./options.js";

/** KEY=VALUE arguments, checked against the schema as the device will check them. */
export function parseAssignments(args: string[]): Change {
	const change: Change = {};
	for (const arg of args) {
		const equals = arg.indexOf("=");
		if (equals <= 0)
			throw new ConfigError(`expected KEY=VALUE (or KEY= to unset), got ${JSON.stringify(arg)}`);
		const key = arg.slice(0, equals);
		const text = arg.slice(equals + 1);
		const spec = settingSpec(key);
		if (!spec)
			throw new ConfigError(`no setting ${JSON.stringify(key)}: the settings are listed by nightlight device's console (help) and in README.md`);
		if (text === "") {
			change[key] = null;
			continue;
		}
		const checked = checkSetting(spec, text);
		if (!checked.ok)
			throw new ConfigError(`${key} ${checked.error}`);
		change[key] = checked.value;
	}
	return change;
}

export interface ConfigRequest {
	url: string;
	username?: string | undefined;
	password?: string | undefined;
	caFile?: string | undefined;
	id: string;
	change: Change;
	timeoutMs: number;
}

/** Sends the change (if any) and resolves with the device's answer; rejects with a line to print. */
export async function requestConfig(request: ConfigRequest): Promise<{ report: ConfigReport; changed: boolean }> {
	if (!isDeviceId(request.id))
		throw new ConfigError(`the device id must be 1..64 letters, digits, "_", "." or "-", got ${JSON.stringify(request.id)}`);
	const client: mqtt.MqttClient = connectMqtt({
		url: request.url,
		clientId: `nightlight-config-${process.pid}-${Date.now().toString(36)}`,
		username: request.username,
		password: request.password,
		caFile: request.caFile,
		reconnectPeriodMs: 0,
	});
	try {
		return await new Promise((resolve, reject) => {
			const timer = setTimeout(() => {
				reject(new Error(Object.keys(request.change).length
					? `no answer from ${request.id} within ${request.timeoutMs / 1000} s: is it online and subscribed to ${configTopics.set(request.id)} (a device from before settings were kept, or an access rule that keeps this client from writing it)?`
					: `${request.id} has said nothing on ${configTopics.config(request.id)}: is the id right, and has the device run since settings were kept?`));
			}, request.timeoutMs);
			let before: number | undefined;
			let sent = false;
			const send = () => {
				sent = true;
				client.publish(configTopics.set(request.id), JSON.stringify(request.change), { qos: 1 });
			};
			client.on("error", (error) => {
				clearTimeout(timer);
				reject(new Error(explainMqttError(error, redactUrl(request.url))));
			});
			client.on("message", (_topic, payload) => {
				let report: ConfigReport;
				try {
					report = JSON.parse(payload.toString()) as ConfigReport;
				}
				catch {
					return;
				}
				if (!Object.keys(request.change).length) {
					clearTimeout(timer);
					resolve({ report, changed: false });
					return;
				}
				if (!sent) {
					// The retained answer: where the device stands before the change.
					before = report.revision;
					send();
					return;
				}
				const refused = report.refused && Object.keys(report.refused).length > 0;
				if (refused || before === undefined || report.revision > before) {
					clearTimeout(timer);
					resolve({ report, changed: !refused });
				}
			});
			client.on("connect", () => {
				client.subscribe(configTopics.config(request.id), { qos: 1 }, (error) => {
					if (error) {
						clearTimeout(timer);
						reject(new Error(`cannot subscribe to ${configTopics.config(request.id)}: ${error.message}`));
						return;
					}
					// No retained answer within a moment: a device that never said its settings; send anyway.
					setTimeout(() => {
						if (!sent && Object.keys(request.change).length)
							send();
					}, 500);
				});
			});
		});
	}
	finally {
		client.end(true);
	}
}

/** The device's answer, as lines to print. */
export function describeReport(id: string, report: ConfigReport, changed: boolean): string[] {
	const lines: string[] = [];
	const refused = Object.keys(report.refused ?? {});
	if (refused.length) {
		lines.push(`${id} refused the change (nothing was applied):`);
		for (const key of refused)
			lines.push(`  ${key}: ${report.refused[key]}`);
		return lines;
	}
	lines.push(`${id}: revision ${report.revision}${changed ? " (changed)" : ""}`);
	for (const key of Object.keys(report.settings ?? {}))
		lines.push(`  ${key}=${report.settings[key]}`);
	if (report.restart?.length)
		lines.push(`at the device's next restart: ${report.restart.join(", ")} (type reboot on its console, or power it off and on)`);
	return lines;
}

/** `nightlight config <id> [KEY=VALUE ...]`, with the broker options the device command has. */
export function configCommand(connection: OptionSpec[]): OneShot<{ id: string; change: Change }> {
	return {
		usage: "nightlight config <id> [KEY=VALUE ...] [options]",
		summary: "Shows a running device's settings, or changes them: threshold=250 sets one, threshold= unsets the\nstored value. The device checks the whole change, applies what it can at once, keeps it, and answers;\nsettings that need a restart say so. The settings are listed in README.md.",
		options: [...connection, { name: "timeout-ms", kind: "integer", min: 100, default: 10_000, help: "how long to wait for the device's answer" }],
		prepare(_values: Values, positionals: string[]) {
			const [id, ...pairs] = positionals;
			if (id === undefined)
				throw new ConfigError("which device? nightlight config <id> [KEY=VALUE ...]");
			return { id, change: parseAssignments(pairs) };
		},
		async run({ id, change }, values) {
			const { report, changed } = await requestConfig({
				url: values.broker as string,
				username: values.username as string | undefined,
				password: values.password as string | undefined,
				caFile: values.ca as string | undefined,
				id,
				change,
				timeoutMs: values["timeout-ms"] as number,
			});
			process.stdout.write(describeReport(id, report, changed).join("\n") + "\n");
			return Object.keys(report.refused ?? {}).length ? 1 : 0;
		},
	};
}
