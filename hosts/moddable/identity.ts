/* The default device id of a Moddable board, from its Wi-Fi MAC address: unique per board, never random. */

/** "nightlight-" and the last three bytes of the MAC address, e.g. nightlight-dbc020. */
export function idFromMac(mac: string | undefined): string | undefined {
	const hex = (mac ?? "").replace(/[^0-9A-Fa-f]/g, "").toLowerCase();
	return hex.length === 12 && hex !== "000000000000" ? `nightlight-${hex.slice(6)}` : undefined;
}
