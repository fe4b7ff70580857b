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

/** A file being written. */
export class FileSink {
  #file: Deno.FsFile;
  #hash: Hash = createHash("sha256");
  // Small at first: a backup of thousands of small tables writes thousands of files.
  #buf = new Uint8Array(FIRST_BUFFER);
  #used = 0;
  #sync: boolean;
  bytes = 0;

  private constructor(file: Deno.FsFile, sync: boolean) {
    this.#file = file;
    this.#sync = sync;
  }

  /**
   * Creates (or truncates) `path`, making parent directories 0700. With `sync: false`, {@link close}
   * does not fsync: the caller syncs the file later ({@link syncFiles}), together with others.
   */
  static async open(path: string, opts: { sync?: boolean } = {}): Promise<FileSink> {
    await Deno.mkdir(dirname(path), { recursive: true, mode: 0o700 });
    // read: rewind gives back what it takes off the end
    const file = await Deno.open(path, {
      read: true,
      write: true,
      create: true,
      truncate: true,
      mode: 0o600,
    });
    return new FileSink(file, opts.sync ?? true);
  }

  /** Appends bytes. */
  async write(chunk: Uint8Array): Promise<void> {
    this.#hash.update(chunk);
    this.bytes += chunk.length;
    if (this.#used + chunk.length > this.#buf.length && this.#buf.length < BUFFER) this.#grow(chunk.length);
    if (this.#used + chunk.length > this.#buf.length) await this.#flush();
    if (chunk.length >= this.#buf.length) {
      await writeAll(this.#file, chunk);
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
    if (this.#used > 0) await writeAll(this.#file, this.#buf.subarray(0, this.#used));
    this.#used = 0;
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
    await this.#file.seek(m.bytes, Deno.SeekMode.Start);
    for (let left = this.bytes - m.bytes; left > 0;) {
      const n = await this.#file.read(this.#buf.subarray(0, Math.min(this.#buf.length, left)));
      if (n === null) throw new Error("the file is shorter than what was written to it");
      await take(this.#buf.subarray(0, n));
      left -= n;
    }
    await this.#file.truncate(m.bytes);
    await this.#file.seek(m.bytes, Deno.SeekMode.Start);
    this.bytes = m.bytes;
    this.#hash = m.hash.copy();
  }

  /** Flushes, syncs (unless opened with `sync: false`) and closes; returns size and checksum. */
  async close(): Promise<Written> {
    await this.#flush();
    if (this.#sync) await this.#file.syncData();
    this.#file.close();
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

async function writeAll(file: Deno.FsFile, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await file.write(data.subarray(off));
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
 * Fsyncs the data of `paths`, `jobs` at a time: the file system commits concurrent syncs together, so
 * thousands of small files cost a few journal commits instead of one each.
 */
export async function syncFiles(paths: readonly string[], jobs = 16): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < paths.length) {
      using f = await Deno.open(paths[next++], { read: true });
      await f.syncData();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, paths.length)) }, worker));
}
