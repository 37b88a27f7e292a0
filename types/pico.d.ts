/*
 * The part of the ECMA-419 Wi-Fi network interface the Pico W host uses. The SDK (8.2.x) declares
 * it in $MODDABLE/typings/embedded_network/interface/wifi.d.ts; npm @moddable/typings 5.6.0 lacks it.
 */
declare module "embedded:network/interface/wifi" {
	export interface WiFiConnectOptions {
		SSID: string;
		password?: string;
	}

	export default class WiFi {
		constructor(options: { onChanged?: (property: "connection" | "address") => void });
		close(): void;
		connect(options: WiFiConnectOptions): void;
		disconnect(): void;
		/** 200 disconnected, 300 connecting, 400 joined, 500 with an address. */
		readonly connection: number;
		readonly address: string | undefined;
		readonly MAC: string | undefined;
	}
}
