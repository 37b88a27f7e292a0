/*
 * The server's device ids in sorted order, for pages of /api/devices: `page(after, limit)` gives
 * the ids that sort after a cursor, so a client walks the whole fleet page by page, each device
 * once, while devices come and go. The server's own map stays the truth (`has`): a new id is kept
 * aside and merged on the next read (sorting only the new ones), a forgotten one is skipped and
 * dropped at that merge. A read costs O(page) when nothing changed, O(devices + new log new) after.
 * Pure: no platform imports.
 */

export class DeviceIndex {
	#has: (id: string) => boolean;
	#sorted: string[] = [];
	#added: string[] = [];
	#removed = 0;

	/** `has`: whether the server still knows the device. */
	constructor(has: (id: string) => boolean) {
		this.#has = has;
	}

	add(id: string): void {
		this.#added.push(id);
	}

	/** The device is gone from the server's map (it may come back through `add`). */
	delete(): void {
		// Forgotten ids are skipped as they are met, and dropped once they are half the list.
		if (++this.#removed > this.#sorted.length / 2)
			this.#merge();
	}

	/** Up to `limit` ids after `after` (all from the first when undefined), in sorted order. */
	page(after: string | undefined, limit: number): string[] {
		if (this.#added.length > 0)
			this.#merge();
		const ids: string[] = [];
		for (let i = after === undefined ? 0 : firstAfter(this.#sorted, after); i < this.#sorted.length && ids.length < limit; i++) {
			const id = this.#sorted[i]!;
			if (this.#has(id))
				ids.push(id);
		}
		return ids;
	}

	#merge(): void {
		const added = this.#added.sort();
		const merged: string[] = [];
		let i = 0;
		let j = 0;
		const sorted = this.#sorted;
		while (i < sorted.length || j < added.length) {
			const id = j >= added.length || (i < sorted.length && sorted[i]! < added[j]!) ? sorted[i++]! : added[j++]!;
			// An id forgotten and heard again may be in both lists, or twice among the new ones.
			if (this.#has(id) && merged[merged.length - 1] !== id)
				merged.push(id);
		}
		this.#sorted = merged;
		this.#added = [];
		this.#removed = 0;
	}
}

/** The index of the first id that sorts after `after`. */
function firstAfter(sorted: string[], after: string): number {
	let low = 0;
	let high = sorted.length;
	while (low < high) {
		const middle = (low + high) >>> 1;
		if (sorted[middle]! <= after)
			low = middle + 1;
		else
			high = middle;
	}
	return low;
}
