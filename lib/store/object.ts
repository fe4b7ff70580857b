/**
 * The object-store contract behind `--store s3://BUCKET/PREFIX` and `--store azblob://CONTAINER/PREFIX`
 * (issue 14): the few calls a backup store needs, whatever the service. Each backend (S3-compatible,
 * Azure Blob) implements {@link ObjectStore}; everything above it (layout, publishing a backup,
 * listing, verify, prune, restore) is written once against this interface.
 *
 * Keys are relative to the store's prefix and use `/` as separator; a backend adds the prefix and
 * encodes the key for its protocol. Nothing here prints or returns a credential.
 * @module
 */

/** What the store says about one object. */
export interface ObjectInfo {
  /** The key, relative to the store's prefix. */
  key: string;
  size: number;
  /** The service's entity tag, quotes removed. */
  etag: string;
  lastModified?: Date;
}

/** The bytes of one upload: in memory (small objects such as manifests) or a local file. */
export type ObjectBody =
  | { bytes: Uint8Array }
  /** A file on disk: re-readable for retries, and read by ranges for multipart uploads. */
  | { path: string; size: number };

/** Conditions and facts of one upload. */
export interface PutObjectOptions {
  /** Write only when no object has this key (`If-None-Match: *`). */
  ifAbsent?: boolean;
  /** Write only when the current object's ETag is this one (`If-Match`): a compare-and-swap. */
  ifMatch?: string;
  /** The sha256 (hex) of the body, when known (S3 signs it as the payload hash). */
  sha256?: string;
  contentType?: string;
}

/** The outcome of a conditional upload. */
export type PutResult =
  | { ok: true; etag: string }
  /** The condition failed: the object exists (`ifAbsent`) or has another ETag (`ifMatch`). */
  | { ok: false; reason: "exists" | "changed" };

/** One bucket or container under one prefix. */
export interface ObjectStore {
  /** How the store is shown in messages: `s3://bucket/prefix`, never a credential. */
  readonly display: string;
  /** The object's facts, or `undefined` when there is none. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /** The object's bytes as a stream, or `undefined` when there is none. */
  get(key: string): Promise<ReadableStream<Uint8Array> | undefined>;
  /** Uploads (in parts when large, with retries and backoff), honouring the conditions given. */
  put(key: string, body: ObjectBody, opts?: PutObjectOptions): Promise<PutResult>;
  /** Every object whose key starts with `prefix`, in key order, page by page. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Removes the object; no error when it is already gone. */
  delete(key: string): Promise<void>;
}

/**
 * Upload bytes held in memory at once across every upload of the process (parts, blocks and small
 * whole files read for one request): the bound that keeps `backup --store` within its memory
 * budget whatever the file sizes and `--jobs` (a request's bytes are copied once or twice on their
 * way to the socket, so the process holds about two to three times this).
 */
export const UPLOAD_BUFFER_BYTES = 16 << 20;

/**
 * A counting limit on bytes in flight: {@link ByteBudget.use} waits until `bytes` fit under the
 * limit, first come first served, then runs its task. A request larger than the limit waits for
 * the whole budget and then runs alone, so no size can wait for ever. Pure (no I/O).
 */
export class ByteBudget {
  readonly limit: number;
  #used = 0;
  #waiting: { bytes: number; go: () => void }[] = [];
  #free: Uint8Array[] = [];

  constructor(limit: number) {
    if (!(limit > 0)) throw new RangeError("a byte budget needs a positive limit");
    this.limit = limit;
  }

  /** Bytes taken by tasks running now. */
  get used(): number {
    return this.#used;
  }

  /** Tasks waiting for bytes. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Runs `task` once `bytes` (capped at the limit) are free; they are given back when it ends. */
  async use<T>(bytes: number, task: () => Promise<T>): Promise<T> {
    const n = Math.min(Math.max(0, bytes), this.limit);
    if (this.#waiting.length > 0 || this.#used + n > this.limit) {
      await new Promise<void>((go) => this.#waiting.push({ bytes: n, go }));
    } else this.#used += n;
    try {
      return await task();
    } finally {
      this.#used -= n;
      this.#wake();
    }
  }

  /**
   * {@link ByteBudget.use} with a buffer of `length` bytes for the task, reused from earlier tasks
   * (buffers kept for reuse hold at most the limit in all), so that parts read one after another
   * do not leave garbage for the collector to find late.
   */
  useBuffer<T>(length: number, task: (buf: Uint8Array) => Promise<T>): Promise<T> {
    return this.use(length, async () => {
      const i = this.#free.findIndex((b) => b.length >= length);
      const buf = i >= 0 ? this.#free.splice(i, 1)[0] : new Uint8Array(length);
      try {
        return await task(buf.subarray(0, length));
      } finally {
        this.#keep(buf);
      }
    });
  }

  /** Buffers kept for reuse: count and bytes. */
  get kept(): { buffers: number; bytes: number } {
    return { buffers: this.#free.length, bytes: this.#free.reduce((n, b) => n + b.length, 0) };
  }

  #keep(buf: Uint8Array): void {
    this.#free.push(buf);
    this.#free.sort((a, b) => a.length - b.length);
    let total = this.#free.reduce((n, b) => n + b.length, 0);
    // the smallest go first: a large part needs a large buffer, a small one fits in any
    while (total > this.limit && this.#free.length > 0) total -= this.#free.shift()!.length;
  }

  #wake(): void {
    while (this.#waiting.length > 0 && this.#used + this.#waiting[0].bytes <= this.limit) {
      const w = this.#waiting.shift()!;
      this.#used += w.bytes;
      w.go();
    }
  }
}

/** The one {@link ByteBudget} of {@link UPLOAD_BUFFER_BYTES} shared by the object-store backends. */
export const uploadBudget: ByteBudget = new ByteBudget(UPLOAD_BUFFER_BYTES);
