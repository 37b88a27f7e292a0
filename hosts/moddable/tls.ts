/*
 * TLS for `broker=mqtts://...` on Moddable: installs `device.network.mqtts` for mqtt/js, as the
 * SDK's examples/io/tcp/mqttsclient does, over the SDK's TLS socket (`embedded:io/socket/tcp/tls`).
 *
 * The broker's certificate is checked against the SDK's bundled public roots and against our own
 * CA, the resource `nightlight-ca.der` (DER) that manifest_tls.json builds in from $NIGHTLIGHT_CA.
 * The name checked is the broker URL's host (subjectAltName, DNS or IPv4); the validity dates are
 * checked too, so the board needs the right time first (`sntp=pool.ntp.org` on ESP32).
 *
 * Only the TLS build includes and preloads this module (after nightlight/moddable/network, whose
 * TCP, resolver and MQTT client it reuses).
 */
import "system";
import "nightlight/moddable/network";
import Resource from "Resource";
// mcconfig maps this module to the SDK's example file, tlssocket.js, which has no declarations
// there (our type-check has them from @moddable/typings): the socket is only handed on, untyped.
// @ts-ignore
import TLSSocket from "embedded:io/socket/tcp/tls";
import TCP from "embedded:io/socket/tcp";

/** The CA resource's name in the build. */
export const CA_RESOURCE = "nightlight-ca.der";

const holder = globalThis as unknown as { device?: { network?: { mqtt?: object } } };
const mqtt = holder.device?.network?.mqtt;
holder.device = Object.freeze({
	...holder.device,
	network: {
		...holder.device?.network,
		mqtts: {
			...mqtt,
			socket: {
				io: TLSSocket,
				TCP: { io: TCP },
				secure: {
					// Read when a connection starts, not at preload: a resource is flash, not heap.
					get certificate() {
						return Resource.exists(CA_RESOURCE) ? new Resource(CA_RESOURCE) : undefined;
					},
				},
			},
		},
	},
});
