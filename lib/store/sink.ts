/**
 * Writing one backup file: buffered, owner-only (0600), with the plaintext's size and SHA-256
 * computed on the way. Later stages (compression, encryption) plug in here.
 * @module
 */
import { createHash, type Hash } from "node:crypto";
import { dirname } from "node:path";

/** Size and checksum of what was written. */
export interface Written {
  bytes: number;
  sha256: string;
}

/** How much FileSink buffers before writing, and how much hashFile reads at a time: 1 MiB. */
export const BUFFER = 1 << 20;

/** A point in a {@link FileSink} to go back to: its size and the hash state there. */
export interface SinkMark {
  bytes: number;
  hash: Hash;
}

/** The buffer a {@link FileSink} starts with; it doubles up to {@link BUFFER} as the file grows. */
const FIRST_BUFFER = 16 << 10;

/**
 * First buffers of closed sinks, for the next ones: a backup of thousands of small tables opens
 * thousands of files one after another, and each new 16 KiB buffer (more than such a table's data)
 * was garbage as soon as its file was closed, freed only by a later collection.
 */
const spare: Uint8Array[] = [];
/** Spare first buffers kept at most. */
const SPARE_MAX = 8;

/** How a {@link FileSink} is opened. */
export interface SinkOptions {
  /**
   * false: {@link FileSink.close} does not fsync; the caller syncs the file later
   * ({@link SyncQueue}), together with others. Default true.
   */
  sync?: boolean;
  /**
   * true: every call on the file (open, write, seek, read, truncate) is made synchronously on the
   * calling thread instead of being handed to a worker thread. For thousands of small files written
   * one after another (a backup's per-table files), where the hand-over of each call costs more
   * than the call. Default false.
   */
  blocking?: boolean;
  /** true: the parent directory exists (the caller made it), so no mkdir is tried. Default false. */
  parentMade?: boolean;
}

/** A file being written. */
export class FileSink {
  #file: Deno.FsFile;
  #hash: Hash = createHash("sha256");
  // Small at first: a backup of thousands of small tables writes thousands of files.
  #buf = spare.pop() ?? new Uint8Array(FIRST_BUFFER);
  #used = 0;
  #sync: boolean;
  #blocking: boolean;
  bytes = 0;

  private constructor(file: Deno.FsFile, opts: SinkOptions) {
    this.#file = file;
    this.#sync = opts.sync ?? true;
    this.#blocking = opts.blocking ?? false;
  }

  /** Creates (or truncates) `path` (mode 0600), making parent directories 0700; see {@link SinkOptions}. */
  static async open(path: string, opts: SinkOptions = {}): Promise<FileSink> {
    // read: rewind gives back what it takes off the end
    const how = { read: true, write: true, create: true, truncate: true, mode: 0o600 };
    const dir = { recursive: true, mode: 0o700 };
    if (opts.blocking) {
      if (!opts.parentMade) Deno.mkdirSync(dirname(path), dir);
      return new FileSink(Deno.openSync(path, how), opts);
    }
    if (!opts.parentMade) await Deno.mkdir(dirname(path), dir);
    return new FileSink(await Deno.open(path, how), opts);
  }

  /** Appends bytes. */
  async write(chunk: Uint8Array): Promise<void> {
    this.#hash.update(chunk);
    this.bytes += chunk.length;
    if (this.#used + chunk.length > this.#buf.length && this.#buf.length < BUFFER) this.#grow(chunk.length);
    if (this.#used + chunk.length > this.#buf.length) await this.#flush();
    if (chunk.length >= this.#buf.length) {
      await this.#writeAll(chunk);
    } else {
      this.#buf.set(chunk, this.#used);
      this.#used += chunk.length;
    }
  }

  /** A larger buffer (doubled, up to {@link BUFFER}) that holds what is buffered and `more` bytes if it can. */
  #grow(more: number): void {
    let size = this.#buf.length;
    while (size < BUFFER && size < this.#used + more) size *= 2;
    const next = new Uint8Array(Math.min(size, BUFFER));
    next.set(this.#buf.subarray(0, this.#used));
    this.#buf = next;
  }

  async #flush(): Promise<void> {
    if (this.#used > 0) await this.#writeAll(this.#buf.subarray(0, this.#used));
    this.#used = 0;
  }

  async #writeAll(data: Uint8Array): Promise<void> {
    for (let off = 0; off < data.length;) {
      const rest = data.subarray(off);
      off += this.#blocking ? this.#file.writeSync(rest) : await this.#file.write(rest);
    }
  }

  /** The current end, to {@link rewind} to. */
  mark(): SinkMark {
    return { bytes: this.bytes, hash: this.#hash.copy() };
  }

  /**
   * Takes everything written after `m` off the file, handing it to `take` first, in order, in blocks
   * of at most {@link BUFFER} bytes (the block is reused: copy or consume it before returning). The
   * size and checksum are then as they were at `m`.
   */
  async rewind(m: SinkMark, take: (block: Uint8Array) => Promise<void>): Promise<void> {
    await this.#flush();
    const f = this.#file;
    const seek = () =>
      this.#blocking ? f.seekSync(m.bytes, Deno.SeekMode.Start) : f.seek(m.bytes, Deno.SeekMode.Start);
    await seek();
    for (let left = this.bytes - m.bytes; left > 0;) {
      const into = this.#buf.subarray(0, Math.min(this.#buf.length, left));
      const n = this.#blocking ? f.readSync(into) : await f.read(into);
      if (n === null) throw new Error("the file is shorter than what was written to it");
      await take(this.#buf.subarray(0, n));
      left -= n;
    }
    await (this.#blocking ? f.truncateSync(m.bytes) : f.truncate(m.bytes));
    await seek();
    this.bytes = m.bytes;
    this.#hash = m.hash.copy();
  }

  /** Flushes, syncs (unless opened with `sync: false`) and closes; returns size and checksum. */
  async close(): Promise<Written> {
    await this.#flush();
    if (this.#sync) await (this.#blocking ? this.#file.syncDataSync() : this.#file.syncData());
    this.#file.close();
    // Nothing refers to the buffer now (rewind's blocks are consumed before it returns).
    if (this.#buf.length === FIRST_BUFFER && spare.length < SPARE_MAX) spare.push(this.#buf);
    this.#buf = new Uint8Array(0);
    return { bytes: this.bytes, sha256: this.#hash.digest("hex") };
  }

  /** Closes without caring about the content (on failure). */
  abandon(): void {
    try {
      this.#file.close();
    } catch {
      // already closed
    }
  }
}

/**
 * Hashes an existing file, reading it block by block into `buf` (reused for every block; pass one
 * to reuse it across files too).
 */
export async function hashFile(path: string, buf: Uint8Array = new Uint8Array(BUFFER)): Promise<Written> {
  return await hashOpened(await Deno.open(path, { read: true }), buf);
}

/** Hashes the rest of an open file as {@link hashFile} does, and closes it. */
export async function hashOpened(f: Deno.FsFile, buf: Uint8Array = new Uint8Array(BUFFER)): Promise<Written> {
  const hash = createHash("sha256");
  let bytes = 0;
  try {
    for (;;) {
      const n = await f.read(buf);
      if (n === null) break;
      hash.update(buf.subarray(0, n));
      bytes += n;
    }
  } finally {
    f.close();
  }
  return { bytes, sha256: hash.digest("hex") };
}

/**
 * Syncs at a time of {@link SyncQueue}: the file system commits concurrent syncs together, so
 * thousands of small files cost a few journal commits instead of one each.
 */
const SYNC_JOBS = 64;

/**
 * Fsyncs (data only) the files added to it in the background, on worker threads, at most `jobs` at
 * a time, while the caller goes on writing others: the syncs of a backup's thousands of table files
 * then overlap with the writing of the next ones instead of all waiting at the end. Add a file once
 * it is closed and will not change; {@link drain} waits for every sync, and throws the first error.
 */
export class SyncQueue {
  #queue: string[] = [];
  #next = 0;
  #running = 0;
  #error: { e: unknown } | undefined;
  #idle: (() => void)[] = [];

  constructor(readonly jobs = SYNC_JOBS) {}

  /** Queues `path` for an fsync. */
  add(path: string): void {
    this.#queue.push(path);
    this.#pump();
  }

  #pump(): void {
    while (this.#running < this.jobs && this.#next < this.#queue.length && !this.#error) {
      const path = this.#queue[this.#next++];
      this.#running++;
      syncOne(path).then(
        () => this.#settled(),
        (e) => {
          this.#error ??= { e };
          this.#settled();
        },
      );
    }
    if (this.#next === this.#queue.length) {
      this.#queue = [];
      this.#next = 0;
    }
    if (this.#running === 0) { for (const wake of this.#idle.splice(0)) wake(); }
  }

  #settled(): void {
    this.#running--;
    this.#pump();
  }

  /** Waits until every queued file is synced (or one failed: then throws its error). */
  async drain(): Promise<void> {
    if (this.#running > 0) await new Promise<void>((ok) => this.#idle.push(ok));
    if (this.#error) throw this.#error.e;
  }
}

/**
 * Fsyncs one file's data. A file removed meanwhile needs none (a backup's fallback removes what it
 * wrote before writing it again; a file that should be there and is not is the staging check's).
 */
async function syncOne(path: string): Promise<void> {
  let f: Deno.FsFile;
  try {
    f = await Deno.open(path, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  using _ = f;
  await f.syncData();
}
