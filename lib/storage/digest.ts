/**
 * Hashing downloads off the main thread. A Storage file is hashed once as it is downloaded: its
 * sha256, the blob's name. That would run on the thread that also drives every download's socket,
 * so while it hashes a chunk no socket is read. A {@link HashPool} hands the chunks to one worker
 * (lib/storage/digest_worker.ts) instead: each chunk's buffer is transferred, not copied, and comes
 * back once hashed, so a writer fills its other buffer meanwhile (lib/storage/blobs.ts
 * `BlobWriter`).
 *
 * The worker says when it is ready; a stream's first chunk waits for that. When the worker cannot
 * start (say a compiled binary without it), every stream is hashed on this thread instead. When it
 * fails later, the streams it was hashing fail (their downloads are retried) and the next ones are
 * hashed on this thread.
 * @module
 */
import { createHash } from "node:crypto";

/** A message to the worker: hash the first `length` bytes of `buffer`, or give the digest, or forget. */
export type DigestRequest =
  | { op: "update"; id: number; buffer: ArrayBuffer; length: number }
  | { op: "digest"; id: number }
  | { op: "drop"; id: number };

/** The worker's answer: the buffer handed back, or the digest; or, first, that it is ready (id 0). */
export type DigestReply =
  | { id: number; buffer: ArrayBuffer }
  | { id: number; sha256: string }
  | { id: 0; ready: true };

/** The sha256 (hex) of one stream of chunks. */
export interface ChunkHasher {
  /**
   * Hashes the first `length` bytes of `buffer`. The buffer is handed over (it may be detached)
   * until the promise gives it back; chunks are hashed in the order they are given.
   */
  update(buffer: ArrayBuffer, length: number): Promise<ArrayBuffer>;
  /** The digest of everything given, once every chunk is hashed. */
  digest(): Promise<{ sha256: string }>;
  /** Forgets the stream (after a failure). */
  drop(): void;
}

/** A {@link ChunkHasher} on this thread. */
export function inlineHasher(): ChunkHasher {
  const sha = createHash("sha256");
  return {
    update(buffer, length) {
      sha.update(new Uint8Array(buffer, 0, length));
      return Promise.resolve(buffer);
    },
    digest: () => Promise.resolve({ sha256: sha.digest("hex") }),
    drop() {},
  };
}

type Waiter = { resolve: (r: DigestReply) => void; reject: (e: Error) => void };

/** One hashing worker shared by a run's downloads (see the module doc). {@link HashPool.close} ends it. */
export class HashPool {
  #worker: Worker | undefined;
  #failure: Error | undefined;
  #next = 1;
  /** The answers each stream waits for, in the order its requests went. */
  #waiting = new Map<number, Waiter[]>();
  /** Settles once the worker is ready (true) or cannot start (false). */
  #ready: Promise<boolean>;
  #setReady: (ok: boolean) => void = () => {};

  /** Starts the worker (`script`: another one, for tests). */
  constructor(script: URL = new URL("./digest_worker.ts", import.meta.url)) {
    this.#ready = new Promise((resolve) => this.#setReady = resolve);
    try {
      this.#worker = new Worker(script.href, { type: "module" });
    } catch (e) {
      this.#failure = e as Error;
      this.#setReady(false);
      return;
    }
    this.#worker.onmessage = (e: MessageEvent<DigestReply>) => {
      if ("ready" in e.data) return this.#setReady(true);
      const q = this.#waiting.get(e.data.id);
      const w = q?.shift();
      if (q && q.length === 0) this.#waiting.delete(e.data.id);
      w?.resolve(e.data);
    };
    this.#worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#fail(new Error(`the hashing worker failed: ${e.message}`));
    };
    this.#worker.onmessageerror = () =>
      this.#fail(new Error("the hashing worker sent a message that cannot be read"));
  }

  #fail(e: Error): void {
    this.#failure ??= e;
    this.#setReady(false); // no effect once it was ready
    this.#worker?.terminate();
    this.#worker = undefined;
    for (const q of this.#waiting.values()) for (const w of q) w.reject(e);
    this.#waiting.clear();
  }

  #ask(m: DigestRequest, transfer: Transferable[] = []): Promise<DigestReply> {
    const worker = this.#worker;
    if (!worker) return Promise.reject(this.#failure ?? new Error("the hashing worker is closed"));
    const p = new Promise<DigestReply>((resolve, reject) => {
      const q = this.#waiting.get(m.id);
      if (q) q.push({ resolve, reject });
      else this.#waiting.set(m.id, [{ resolve, reject }]);
    });
    worker.postMessage(m, transfer);
    return p;
  }

  /**
   * A hasher for one stream: through the worker, or on this thread when the worker could not start
   * (decided at its first chunk, before any chunk went to the worker) or has failed.
   */
  hasher(): ChunkHasher {
    if (!this.#worker) return inlineHasher();
    const id = this.#next++;
    let route: Promise<ChunkHasher | undefined> | undefined;
    const inline = () => route ??= this.#ready.then((ok) => ok ? undefined : inlineHasher());
    return {
      update: async (buffer, length) => {
        const here = await inline();
        if (here) return here.update(buffer, length);
        const r = await this.#ask({ op: "update", id, buffer, length }, [buffer]);
        if (!("buffer" in r)) throw new Error("the hashing worker answered out of order");
        return r.buffer;
      },
      digest: async () => {
        const here = await inline();
        if (here) return here.digest();
        const r = await this.#ask({ op: "digest", id });
        if (!("sha256" in r)) throw new Error("the hashing worker answered out of order");
        return { sha256: r.sha256 };
      },
      drop: () => this.#worker?.postMessage({ op: "drop", id } satisfies DigestRequest),
    };
  }

  /** Ends the worker (a stream still being hashed fails). */
  close(): void {
    this.#fail(new Error("the hashing worker is closed"));
  }
}
