/*
 * The network objects `mqtt/js` takes from `device.network.mqtt`: the ECMA-419 MQTT client, a TCP
 * socket and a DNS resolver.
 *
 * The SDK's example config resolves names by UDP DNS at a fixed public server (1.1.1.1); this
 * resolver asks the platform instead (`Net.resolve`: lwIP's resolver with the DNS servers DHCP
 * gave the board, the OS resolver in the simulator), so `broker=mqtt://broker.local` or a LAN
 * name works wherever the board's own network resolves it. IP literals skip DNS altogether.
 *
 * Importing this module installs them, as the SDK's own network config modules do: manifest.json
 * preloads it, after "system" has put the board's `device` global in place.
 */
import "system";
import TCP from "embedded:io/socket/tcp";
import MQTTClient from "embedded:network/mqtt/client";
import Net from "net";
import Timer from "timer";

interface ResolveRequest {
	host: string;
	onResolved?: (host: string, address: string) => void;
	onError?: (error?: Error) => void;
}

const IPV4 = /^(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}$/;

/** The resolver shape the ECMA-419 MQTT client calls: `new io(options).resolve({host, onResolved, onError})`. */
export class PlatformResolver {
	#closed = false;

	constructor(_options?: object) {}

	resolve(request: ResolveRequest): void {
		const host = request.host === "localhost" ? "127.0.0.1" : request.host;
		if (IPV4.test(host)) {
			this.#later(() => request.onResolved?.(request.host, host));
			return;
		}
		try {
			Net.resolve(host, (_name, address) => {
				if (this.#closed)
					return;
				if (address)
					request.onResolved?.(request.host, address);
				else
					request.onError?.(new Error(`cannot resolve ${host}`));
			});
		}
		catch (error) {
			this.#later(() => request.onError?.(error instanceof Error ? error : new Error(String(error))));
		}
	}

	/**
	 * Answers on a later turn, never from inside `resolve()`: the MQTT client resolves while it is
	 * being constructed, and a socket that fails at once (no network interface yet) would report
	 * its error to an mqtt/js client that does not hold it yet, which throws and aborts XS.
	 */
	#later(callback: () => void): void {
		Timer.set(() => {
			if (!this.#closed)
				callback();
		}, 0);
	}

	close(): void {
		this.#closed = true;
	}
}

/* `device.network.mqtt` for mqtt/js, keeping whatever `device` the board's provider put in place. */
const holder = globalThis as unknown as { device?: { network?: object } };
holder.device = Object.freeze({
	...holder.device,
	network: {
		...holder.device?.network,
		mqtt: {
			io: MQTTClient,
			dns: { io: PlatformResolver },
			socket: { io: TCP },
		},
	},
});
