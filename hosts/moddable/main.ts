/*
 * The firmware's entry point on every Moddable host (ESP32 boards and the desktop simulator):
 * reads the build-time config, asks the board host for its sensor, LED and id, wires the portable
 * core (nightlight/device) to the Moddable clock, trace log and mqtt/js, and starts it.
 *
 * A bad setting stops here with one clear line naming the key; nothing is started half-way.
 */
import config from "mc/config";
import { ConfigChannel, type Settings, liveSettings } from "nightlight/config";
import { Device, deviceWill } from "nightlight/device";
import host from "nightlight/host";
import { ModdableClock } from "nightlight/moddable/clock";
import { traceLog } from "nightlight/moddable/log";
import { ModdableMqtt } from "nightlight/moddable/mqtt";
import "nightlight/moddable/network";
import { type AppSettings, type RawConfig, describeSettings, parseAppSettings, text } from "nightlight/moddable/settings";
import { restartBoard, storedSettings } from "nightlight/moddable/stored";
import { SetupSignal } from "nightlight/moddable/setup-signal";

const TAG = "main";
/** The id of a board whose network chip gives no MAC address (it failed to start). */
const NO_NETWORK_ID = "nightlight-no-network";

function start(): Device | undefined {
	const log = traceLog(config.log === "debug" ? "debug" : "info");
	let settings: AppSettings;
	let stored: Settings;
	let device: Device | undefined;
	let wifiSsid: string | undefined;
	try {
		let effective: RawConfig;
		({ settings: stored, config: effective } = storedSettings(config, log, (values) => device?.configure(liveSettings(values))));
		settings = parseAppSettings(effective);
		wifiSsid = text(effective, "ssid");
		host.configure(effective, log);
	}
	catch (error) {
		log("error", TAG, `bad configuration: ${error instanceof Error ? error.message : String(error)}; fix it on the mcconfig command line (key=value) or in manifest.json's "config"`);
		return undefined;
	}
	let id = settings.id;
	if (id === undefined) {
		try {
			id = host.defaultId();
		}
		catch (error) {
			// No MAC address means no working network chip, so no broker to share an id with:
			// the nightlight still runs its local rule rather than staying dark.
			id = NO_NETWORK_ID;
			log("error", TAG, `${error instanceof Error ? error.message : String(error)}; running as "${id}", which only the local rule uses without a network`);
		}
	}
	log("info", TAG, `nightlight on ${host.name}: ${describeSettings(settings, id)}`);
	log("info", TAG, `board: ${host.describe()}`);

	// mqtts:// needs the TLS socket and CA that only a build made with manifest_tls.json has.
	if (settings.brokerTls && !(globalThis as { device?: { network?: { mqtts?: object } } }).device?.network?.mqtts) {
		log("error", TAG, `broker ${settings.broker} needs TLS, and this build has none: build with manifest_tls.json (NIGHTLIGHT_CA=<the broker's CA in DER> mcconfig ... manifest_tls.json), or use mqtt://`);
		return undefined;
	}
	host.keepNetwork?.(log);
	// A board that needs a network it has not been given: it says so on its LED and its console.
	const needsSetup = host.keepNetwork !== undefined && !wifiSsid;
	if (needsSetup)
		log("warn", TAG, "needs setup: no Wi-Fi network; the LED blinks twice every 3 s until it is given one on the console (UART0) and restarted");
	const mqtt = new ModdableMqtt({
		broker: settings.broker,
		clientId: `nightlight-${id}`,
		username: settings.mqttUser,
		password: settings.mqttPassword,
		keepaliveSeconds: settings.keepaliveSeconds,
		will: deviceWill(id),
	}, log);
	let connectedOnce = false;
	mqtt.on("connect", () => {
		log("info", "mqtt", `connected to ${settings.broker}`);
		connectedOnce = true;
	});
	mqtt.on("offline", () => log("warn", "mqtt", `lost ${settings.broker}; retrying with backoff`));
	mqtt.on("error", (error) => {
		if (!connectedOnce)
			log("warn", "mqtt", `${error.message} at ${settings.broker}: is the broker running and reachable from the device? retrying with backoff`);
	});

	const channel = new ConfigChannel(id, mqtt, stored, log);
	channel.start();
	host.openConsole?.({
		settings: stored,
		restart: restartBoard,
		about: () => [`running as ${id} on ${host.name}, broker ${settings.broker}, ${mqtt.connected ? "connected" : "not connected"}${needsSetup ? ", needs setup" : ""}`],
	}, log, () => channel.announce(true));
	try {
		device = new Device({
			id,
			sensor: host.sensor(),
			led: needsSetup ? new SetupSignal(host.led()) : host.led(),
			clock: new ModdableClock(),
			mqtt,
			log,
			samplePeriodMs: settings.samplePeriodMs,
			report: settings.report === "period"
				? { mode: "period", periodMs: settings.periodMs }
				: { mode: "change", deadband: settings.deadband, heartbeatMs: settings.heartbeatMs },
			rule: { threshold: settings.threshold, hysteresis: settings.hysteresis },
			graceMs: settings.graceMs,
			outbox: { maxCount: settings.outboxCount, maxBytes: settings.outboxBytes },
			onEvent: (event) => host.onEvent?.(event),
		});
		device.start();
		return device;
	}
	catch (error) {
		log("error", TAG, `cannot start: ${error instanceof Error ? error.message : String(error)}`);
		mqtt.end(true);
		return undefined;
	}
}

start();
