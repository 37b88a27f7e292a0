/* A default device id that is stable for this machine: from its first network interface's MAC address. */
import { createHash } from "node:crypto";
import { hostname, networkInterfaces } from "node:os";

export function defaultDeviceId(): string {
	for (const addresses of Object.values(networkInterfaces())) {
		for (const address of addresses ?? []) {
			if (!address.internal && address.mac && address.mac !== "00:00:00:00:00:00")
				return "nightlight-" + address.mac.replaceAll(":", "").slice(-6);
		}
	}
	return "nightlight-" + createHash("sha256").update(hostname()).digest("hex").slice(0, 6);
}
