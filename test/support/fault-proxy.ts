/*
 * A TCP proxy on 127.0.0.1 that puts network faults between a client and a broker, for fault tests:
 *
 * - blackHole(): nothing gets through either way, and nobody is told: the sockets stay open, as when
 *   a router drops every packet. heal() delivers what was held (TCP would have retransmitted it),
 *   unless an end gave up meanwhile: then the other end is reset, as a peer that forgot the
 *   connection answers.
 * - latencyMs: every chunk is delayed, order kept.
 * - chunkBytes / chunkGapMs: every chunk is cut into small pieces sent apart (a slow, lossy link
 *   that the reader must reassemble).
 * - reset(): every connection is cut at once (a broker restart, a NAT timeout).
 * - refuse(true): new connections are closed at once (the broker is down).
 *
 * Everything stays on 127.0.0.1; close() ends every connection and the listener.
 */
import { type AddressInfo, type Server, type Socket, createConnection, createServer } from "node:net";

interface Pair {
	client: Socket;
	broker: Socket;
	/** Bytes held during a black hole, per direction. */
	held: { up: Buffer[]; down: Buffer[] };
	/** An end closed during a black hole: the other is reset at heal. */
	gone: boolean;
}

export class FaultProxy {
	latencyMs = 0;
	chunkBytes = 0;
	chunkGapMs = 0;
	/** Connections accepted since start. */
	accepted = 0;
	#server: Server;
	#target: { host: string; port: number };
	#pairs = new Set<Pair>();
	#blackHole = false;
	#refusing = false;
	#timers = new Set<NodeJS.Timeout>();

	private constructor(server: Server, target: { host: string; port: number }) {
		this.#server = server;
		this.#target = target;
	}

	static async start(targetPort: number): Promise<FaultProxy> {
		const server = createServer();
		const proxy = new FaultProxy(server, { host: "127.0.0.1", port: targetPort });
		server.on("connection", (socket) => proxy.#accept(socket));
		await new Promise<void>((resolve, reject) => {
			server.once("error", reject);
			server.listen(0, "127.0.0.1", () => resolve());
		});
		return proxy;
	}

	get port(): number {
		return (this.#server.address() as AddressInfo).port;
	}

	get url(): string {
		return `mqtt://127.0.0.1:${this.port}`;
	}

	/** Connections open now. */
	get open(): number {
		return this.#pairs.size;
	}

	blackHole(): void {
		this.#blackHole = true;
	}

	heal(): void {
		this.#blackHole = false;
		for (const pair of [...this.#pairs]) {
			if (pair.gone) {
				this.#drop(pair);
				continue;
			}
			for (const chunk of pair.held.up.splice(0))
				this.#send(pair.broker, chunk);
			for (const chunk of pair.held.down.splice(0))
				this.#send(pair.client, chunk);
		}
	}

	reset(): void {
		for (const pair of [...this.#pairs])
			this.#drop(pair);
	}

	refuse(on: boolean): void {
		this.#refusing = on;
		if (on)
			this.reset();
	}

	async close(): Promise<void> {
		for (const timer of this.#timers)
			clearTimeout(timer);
		this.#timers.clear();
		this.reset();
		await new Promise<void>((resolve) => this.#server.close(() => resolve()));
	}

	#accept(client: Socket): void {
		this.accepted++;
		if (this.#refusing) {
			client.destroy();
			return;
		}
		const broker = createConnection(this.#target);
		const pair: Pair = { client, broker, held: { up: [], down: [] }, gone: false };
		this.#pairs.add(pair);
		client.setNoDelay(true);
		broker.setNoDelay(true);
		const pipe = (from: Socket, to: Socket, held: Buffer[]) => {
			from.on("data", (chunk: Buffer) => {
				if (this.#blackHole)
					held.push(chunk);
				else
					this.#send(to, chunk);
			});
			const ended = () => {
				if (this.#blackHole && this.#pairs.has(pair)) {
					// Lost in the black hole: the other end is not told, and keeps a half-open link.
					pair.gone = true;
					return;
				}
				this.#drop(pair);
			};
			from.on("end", ended);
			from.on("close", ended);
			from.on("error", () => undefined);
		};
		pipe(client, broker, pair.held.up);
		pipe(broker, client, pair.held.down);
	}

	/** Pieces waiting to be written to each socket, in order, each with when it is due. */
	#queues = new WeakMap<Socket, Array<{ at: number; piece: Buffer }>>();

	#send(to: Socket, chunk: Buffer): void {
		if (this.latencyMs <= 0 && this.chunkBytes <= 0 && !this.#queues.get(to)?.length) {
			to.write(chunk);
			return;
		}
		let queue = this.#queues.get(to);
		if (!queue) {
			queue = [];
			this.#queues.set(to, queue);
		}
		const idle = queue.length === 0;
		let at = Math.max(Date.now() + this.latencyMs, queue[queue.length - 1]?.at ?? 0);
		const size = this.chunkBytes > 0 ? this.chunkBytes : chunk.length;
		for (let offset = 0; offset < chunk.length; offset += size) {
			queue.push({ at, piece: chunk.subarray(offset, offset + size) });
			at += this.chunkGapMs;
		}
		if (idle)
			this.#pump(to, queue);
	}

	/** Writes what is due, in order, and waits for the next piece. */
	#pump(to: Socket, queue: Array<{ at: number; piece: Buffer }>): void {
		const now = Date.now();
		while (queue.length && queue[0]!.at <= now) {
			const { piece } = queue.shift()!;
			if (!to.destroyed)
				to.write(piece);
		}
		if (!queue.length || to.destroyed)
			return;
		const timer = setTimeout(() => {
			this.#timers.delete(timer);
			this.#pump(to, queue);
		}, queue[0]!.at - now);
		this.#timers.add(timer);
	}

	#drop(pair: Pair): void {
		if (!this.#pairs.delete(pair))
			return;
		pair.client.destroy();
		pair.broker.destroy();
	}
}
