/* The listener plumbing the fake MQTT clients share. Portable: it runs on XS too. */

export type Listener = (...args: never[]) => void;

export class Emitter {
	#listeners = new Map<string, Listener[]>();

	on(event: string, listener: Listener): this {
		this.#listeners.set(event, [...(this.#listeners.get(event) ?? []), listener]);
		return this;
	}

	off(event: string, listener: Listener): this {
		this.#listeners.set(event, (this.#listeners.get(event) ?? []).filter((item) => item !== listener));
		return this;
	}

	listenerCount(event: string): number {
		return this.#listeners.get(event)?.length ?? 0;
	}

	emit(event: string, ...args: unknown[]): void {
		for (const listener of this.#listeners.get(event) ?? [])
			(listener as (...args: unknown[]) => void)(...args);
	}
}
