/*
 * The firmware on Node: the portable core with a simulated light sensor, an LED that prints,
 * the Node clock and npm `mqtt`. This is the device that `nightlight device` and `nightlight up` run.
 */
import { Device, type DeviceEvent, deviceWill } from "../../src/device.js";
import type { ReportOptions } from "../../src/filters.js";
import type { Clock, Led, Log } from "../../src/ports.js";
import type { RuleOptions } from "../../src/rule.js";
import type { LinkPolicy } from "../../src/link.js";
import type { OutboxLimits } from "../../src/outbox.js";
import { deviceClock } from "../../runtime/node/clock.js";
import { ConsoleLed } from "./led.js";
import { type BrokerOptions, type NodeMqttClient, connectMqtt, endClient, watchConnection } from "../../runtime/node/mqtt.js";
import { SimulatedLightSensor } from "./sensor.js";

export interface NodeDeviceOptions extends BrokerOptions {
	id: string;
	light?: number;
	/** false: the simulated sensor is only polled, every sample period, like a plain ADC. */
	sensorSignals?: boolean;
	samplePeriodMs?: number;
	report?: Partial<ReportOptions>;
	/** The rule the device runs itself in local mode, and after how long. */
	rule?: RuleOptions;
	graceMs?: number;
	outbox?: Partial<OutboxLimits>;
	log: Log;
	led?: Led;
	/** Default: the monotonic clock, with the system's time of day for stamps. */
	clock?: Clock;
	/** The reconnection policy (src/link.ts); the defaults suit a device. */
	link?: Partial<LinkPolicy>;
	onEvent?: (event: DeviceEvent) => void;
}

export interface NodeDevice {
	device: Device;
	sensor: SimulatedLightSensor;
	client: NodeMqttClient;
	/** Says offline, stops the core and closes the connection. */
	stop(): Promise<void>;
}

export function startNodeDevice(options: NodeDeviceOptions): NodeDevice {
	const sensor = new SimulatedLightSensor({ level: options.light ?? 500, signals: options.sensorSignals ?? true });
	const client = connectMqtt({
		url: options.url,
		clientId: `nightlight-${options.id}`,
		username: options.username,
		password: options.password,
		caFile: options.caFile,
		pin: options.pin,
		servername: options.servername,
		keepaliveSeconds: options.keepaliveSeconds,
		will: deviceWill(options.id),
		// A persistent session: the broker keeps the QoS 1 subscription and queues commands while
		// the device is away. The core's Link reconnects, with backoff.
		clean: false,
		reconnectPeriodMs: 0,
	});
	watchConnection(client, options.url, options.log, "device");
	const deviceOptions: ConstructorParameters<typeof Device>[0] = {
		id: options.id,
		sensor,
		led: options.led ?? new ConsoleLed(),
		clock: options.clock ?? deviceClock,
		mqtt: client,
		log: options.log,
	};
	if (options.samplePeriodMs !== undefined)
		deviceOptions.samplePeriodMs = options.samplePeriodMs;
	if (options.report)
		deviceOptions.report = options.report;
	if (options.rule)
		deviceOptions.rule = options.rule;
	if (options.graceMs !== undefined)
		deviceOptions.graceMs = options.graceMs;
	if (options.outbox)
		deviceOptions.outbox = options.outbox;
	if (options.link)
		deviceOptions.link = options.link;
	if (options.onEvent)
		deviceOptions.onEvent = options.onEvent;
	let device: Device;
	try {
		device = new Device(deviceOptions);
	}
	catch (error) {
		client.end(true);
		throw error;
	}
	device.start();
	return {
		device,
		sensor,
		client,
		stop: () => endClient(client, () => {
			device.stop();
			sensor.close();
		}),
	};
}
