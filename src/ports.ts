/*
 * The ports the portable core is given by its host. Nothing here imports a platform:
 * each host (Node, the Moddable simulator, ESP32, Pico W) supplies objects of these shapes.
 */

/** Light sensor: `read()` gives the level as a fraction 0..1 of full scale, or undefined when no reading is ready. */
export interface LightSensor {
	read(): number | undefined;
	/** Set by the core: a sensor that knows when its level changed calls it, so the core samples at once. */
	onReadable?: (() => void) | undefined;
	close?(): void;
}

/** The LED: `write(true)` lights it. Polarity is the host's business. */
export interface Led {
	write(on: boolean): void;
	close?(): void;
}

/** An opaque timer handle, as each platform returns it. */
export type TimerHandle = unknown;

/** Time and timers, injected so tests can run on a fake clock. */
export interface Clock {
	/** Milliseconds, monotonic enough for periods and timeouts. */
	now(): number;
	/**
	 * The time of day, ms since the epoch, where the platform has one (it may be unset, or wrong):
	 * used only to stamp readings for display, never to order or time anything. Default: now().
	 */
	wall?(): number;
	setTimeout(callback: () => void, ms: number): TimerHandle;
	clearTimeout(handle: TimerHandle): void;
	setInterval(callback: () => void, ms: number): TimerHandle;
	clearInterval(handle: TimerHandle): void;
}

export type LogLevel = "debug" | "info" | "warn" | "error";

/** One line per call; the tag names the module that speaks. */
export interface Log {
	(level: LogLevel, tag: string, message: string): void;
}

/** A message body as MQTT clients hand it over: a Node Buffer is a Uint8Array, Moddable's mqtt/js gives an ArrayBuffer. */
export type Payload = Uint8Array | ArrayBuffer | string;

export type QoS = 0 | 1 | 2;

export interface PublishOptions {
	qos?: QoS;
	retain?: boolean;
}

/**
 * The MQTT client: the subset of the MQTT.js API that Moddable's `mqtt/js` port also offers,
 * so npm `mqtt` on Node and `mqtt/js` on XS plug in unchanged.
 */
export interface MqttClient {
	readonly connected: boolean;
	publish(topic: string, message: string, options?: PublishOptions, callback?: (error?: Error) => void): unknown;
	subscribe(topic: string, options: { qos: QoS }, callback?: (error: Error | null) => void): unknown;
	end(force?: boolean, callback?: () => void): unknown;
	/** Starts a new connection attempt; the core calls it, the client's own reconnection is off. */
	reconnect(): unknown;
	/** `packetreceive`, where the client reports it (MQTT.js), tells that the broker was heard from. */
	on(event: "connect" | "close" | "offline" | "reconnect" | "packetreceive", listener: () => void): unknown;
	on(event: "message", listener: (topic: string, payload: Payload) => void): unknown;
	on(event: "error", listener: (error: Error) => void): unknown;
	off(event: string, listener: (...args: never[]) => void): unknown;
}
