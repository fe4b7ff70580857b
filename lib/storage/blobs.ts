/**
 * The blob store of a backup root: every Storage file's bytes, stored once by their sha256 and
 * shared by `latest/` and every archive:
 *
 * ```
 * <root>/storage/blobs/<first two hex digits>/<sha256>            the bytes, unmodified
 * <root>/storage/blobs/<first two hex digits>/<sha256>.001of003 …     the same, cut into equal parts
 *                                                                 (files above --max-file-size)
 * ```
 *
 * A run downloads into a holder folder `<root>/.staging-<owner>-blobs-<random>` (one of the run's
 * staging folders, see lib/store/staging.ts: never committed, removed once its run is gone), each
 * file to a temporary name first, hashed on the way; once its hash is known it is renamed to its
 * blob name in the holder, flat ({@link heldFiles}: `<sha256>`, no folder per prefix, as each new
 * folder costs the file system an inode). {@link placeBlobs} then links the
 * holder's blobs into the store before the backup that needs them is put in place (again after a
 * git push race, whose reset removes them from the work tree). {@link collectGarbage} removes blobs
 * no kept backup refers to (while no backup runs: lib/storage/gc.ts). Path building is pure; blob names come only from checked sha256 values.
 * @module
 */
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { BackupError } from "../base/errors.ts";
import { runPool } from "../base/pool.ts";
import { BUFFER } from "../store/sink.ts";
import { openInBackup } from "../store/safepath.ts";

/** The blob store's folder inside a backup root. */
export const BLOB_DIR = "storage/blobs";

/** What names a blob: its sha256 and, when split, its number of parts. */
export interface BlobRef {
  sha256: string;
  size: number;
  parts?: number;
}

/**
 * The paths of a blob's files relative to the store folder: `<aa>/<sha>`, or `<aa>/<sha>.001of003`,
 * … when cut (the count is in the name, so one content cut two ways never shares a name). Pure.
 */
export function blobFiles(b: Pick<BlobRef, "sha256" | "parts">): string[] {
  if (!/^[0-9a-f]{64}$/.test(b.sha256)) throw new Error(`not a sha256: ${b.sha256}`);
  const base = `${b.sha256.slice(0, 2)}/${b.sha256}`;
  if (!b.parts) return [base];
  const n = (i: number) => String(i).padStart(3, "0");
  return Array.from({ length: b.parts }, (_, i) => `${base}.${n(i + 1)}of${n(b.parts!)}`);
}

/**
 * The names of a blob's files in a holder folder: {@link blobFiles} without the prefix folder
 * (`<sha>`, `<sha>.001of003` …). Pure.
 */
export function heldFiles(b: Pick<BlobRef, "sha256" | "parts">): string[] {
  return blobFiles(b).map((f) => f.slice(3));
}

/** A blob file's name in a holder folder ({@link heldFiles}). */
const HELD_NAME = /^[0-9a-f]{64}(\.[0-9]{3}of[0-9]{3})?$/;

/** How many parts a file of `size` bytes is cut into under `max` (1: not cut). Pure. */
export function partCount(size: number, max: number): number {
  return size <= max ? 1 : Math.ceil(size / max);
}

/** The size of part `i` (0-based) of a blob of `size` bytes cut into `parts` parts. Pure. */
export function partSize(size: number, parts: number, i: number): number {
  const each = Math.ceil(size / parts);
  return Math.max(0, Math.min(each, size - i * each));
}

/** The store folder of a root. */
export function storeDir(root: string): string {
  return join(root, BLOB_DIR);
}

async function statSize(path: string): Promise<number | undefined> {
  try {
    const s = await Deno.stat(path);
    return s.isFile ? s.size : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether every file of a blob is in `dir` with the right sizes: a store folder, laid out as
 * {@link blobFiles} says, or with `held` a holder folder ({@link heldFiles}).
 */
export async function blobPresent(dir: string, b: BlobRef, held = false): Promise<boolean> {
  const files = held ? heldFiles(b) : blobFiles(b);
  for (let i = 0; i < files.length; i++) {
    const want = b.parts ? partSize(b.size, b.parts, i) : b.size;
    if (await statSize(join(dir, files[i])) !== want) return false;
  }
  return true;
}

/** Size and sha256 of bytes streamed through: what names a blob. */
export interface ContentDigest {
  bytes: number;
  sha256: string;
}

/** Size, sha256 and MD5 of bytes streamed through (the MD5 to check an ETag a server answers). */
export interface Digest extends ContentDigest {
  md5: string;
}

/** Buffers of {@link BUFFER} bytes that writers gave back, for the next writers (a few, not all). */
const spareBuffers: ArrayBuffer[] = [];

function takeBuffer(): ArrayBuffer {
  return spareBuffers.pop() ?? new ArrayBuffer(BUFFER);
}

function giveBack(b: ArrayBuffer | undefined): void {
  if (b && b.byteLength === BUFFER && !b.detached && spareBuffers.length < 8) spareBuffers.push(b);
}

/**
 * Writes one download into a holder folder: parts of at most `max` bytes under temporary names
 * (mode 0600), its sha256 computed on the way. Bytes go into a 1 MiB buffer ({@link
 * BlobWriter.pour} reads a byte stream straight into it; {@link BlobWriter.write} copies chunks in);
 * a full buffer is hashed on this thread while the file system's thread writes it to the part
 * file, and the other buffer fills meanwhile. {@link BlobWriter.finish} syncs the parts and renames them
 * to the blob's names; it is the slow step (one fsync a part), so a caller can start the next
 * download while it runs.
 */
export class BlobWriter {
  #dir: string;
  #max: number;
  #sha = createHash("sha256");
  #parts: string[] = [];
  #file?: Deno.FsFile;
  /** Parts written in full, still open: synced by {@link BlobWriter.finish}. */
  #written: Deno.FsFile[] = [];
  /** The buffer being filled (undefined while a read fills it, or before the first byte). */
  #buf?: ArrayBuffer;
  #used = 0;
  /** The other buffer while it is written: settles with it, handed back. */
  #inFlight?: Promise<ArrayBuffer>;
  /** Bytes of the current part, buffered ones included. */
  #inPart = 0;
  bytes = 0;

  /** `expected`: the file's size, which fixes the part size (a file is split in equal parts). */
  constructor(holder: string, max: number, expected: number) {
    this.#dir = holder;
    const parts = partCount(expected, max);
    this.#max = parts > 1 ? Math.ceil(expected / parts) : Number.MAX_SAFE_INTEGER;
  }

  async #openPart(): Promise<Deno.FsFile> {
    const p = join(this.#dir, `tmp-${crypto.randomUUID()}`);
    this.#parts.push(p);
    return this.#file = await Deno.open(p, { write: true, createNew: true, mode: 0o600 });
  }

  /**
   * Writes the filled buffer to the part file, hashing it meanwhile, without waiting for the write:
   * waits only for the previous buffer's write (one write at a time, in order), and fills that one
   * next.
   */
  async #flush(): Promise<void> {
    if (this.#used === 0) return;
    const previous = this.#inFlight;
    this.#inFlight = undefined;
    const next = previous ? await previous : takeBuffer();
    const buffer = this.#buf!, length = this.#used;
    this.#buf = next;
    this.#used = 0;
    const file = this.#file ?? await this.#openPart();
    const view = new Uint8Array(buffer, 0, length);
    const done = (async () => {
      for (let off = 0; off < length;) off += await file.write(view.subarray(off));
      return buffer;
    })();
    this.#sha.update(view); // while the file system's thread writes the same bytes (both only read them)
    done.catch(() => {}); // awaited by the next flush, close or discard
    this.#inFlight = done;
  }

  async #endPart(): Promise<void> {
    await this.#flush();
    if (this.#file) this.#written.push(this.#file);
    this.#file = undefined;
    this.#inPart = 0;
  }

  /** Appends bytes (copied into the buffer). */
  async write(chunk: Uint8Array): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      if (this.#inPart >= this.#max) await this.#endPart();
      const buf = this.#buf ??= takeBuffer();
      const n = Math.min(chunk.length - off, this.#max - this.#inPart, buf.byteLength - this.#used);
      new Uint8Array(buf, this.#used, n).set(chunk.subarray(off, off + n));
      this.#used += n;
      this.#inPart += n;
      off += n;
      if (this.#used === buf.byteLength) await this.#flush();
    }
    this.bytes += chunk.length;
  }

  /**
   * Appends `body` to its end: a byte stream (a fetch body) is read straight into the buffer,
   * another one chunk by chunk through {@link BlobWriter.write}. `count` gets each read's bytes.
   */
  async pour(body: ReadableStream<Uint8Array>, count: (n: number) => void): Promise<void> {
    let reader: ReadableStreamBYOBReader;
    try {
      reader = body.getReader({ mode: "byob" });
    } catch {
      for await (const chunk of body) {
        await this.write(chunk);
        count(chunk.length);
      }
      return;
    }
    try {
      for (;;) {
        if (this.#inPart >= this.#max) await this.#endPart();
        const buf = this.#buf ?? takeBuffer();
        this.#buf = undefined; // the read detaches it, and hands it back filled
        const room = Math.min(buf.byteLength - this.#used, this.#max - this.#inPart);
        const { value, done } = await reader.read(new Uint8Array(buf, this.#used, room));
        if (!value) throw new Error("the download stream was cancelled");
        this.#buf = value.buffer as ArrayBuffer;
        this.#used += value.length;
        this.#inPart += value.length;
        this.bytes += value.length;
        if (value.length) count(value.length);
        if (done) return;
        if (this.#used === this.#buf.byteLength) await this.#flush();
      }
    } finally {
      reader.releaseLock();
    }
  }

  /** Ends the last part and returns what was written (not yet synced, under temporary names). */
  async close(): Promise<ContentDigest> {
    if (this.#parts.length === 0 && this.#used === 0) await this.#openPart(); // an empty file is one empty part
    await this.#endPart();
    const last = this.#inFlight;
    this.#inFlight = undefined;
    if (last) giveBack(await last);
    giveBack(this.#buf);
    this.#buf = undefined;
    return { bytes: this.bytes, sha256: this.#sha.digest("hex") };
  }

  /** The number of parts written (1: not split); known after {@link BlobWriter.close}. */
  get parts(): number {
    return this.#parts.length;
  }

  /**
   * Syncs the parts and renames them to their blob names in the holder (or drops them when the
   * blob is already in `store` or the holder). Returns the number of parts (1: not split).
   *
   * `store` undefined: no store to look in (none when the run started; a blob another run puts
   * there meanwhile is left to {@link placeBlobs}, which keeps the one there). `held`: the blob
   * names ({@link heldFiles}, joined by commas) this run has put into the holder, which the run
   * alone writes: looked up instead of the holder, and added to.
   */
  async finish(sha256: string, store: string | undefined, held?: Set<string>): Promise<number> {
    const parts = this.#parts.length;
    const ref: BlobRef = { sha256, size: this.bytes, ...(parts > 1 ? { parts } : {}) };
    const names = heldFiles(ref);
    const key = names.join(",");
    if (
      (store !== undefined && await blobPresent(store, ref)) ||
      (held ? held.has(key) : await blobPresent(this.#dir, ref, true))
    ) {
      await this.discard();
      return parts;
    }
    while (this.#written.length) {
      const f = this.#written[0];
      await f.syncData();
      f.close();
      this.#written.shift();
    }
    for (let i = 0; i < parts; i++) await Deno.rename(this.#parts[i], join(this.#dir, names[i]));
    this.#parts = [];
    held?.add(key);
    return parts;
  }

  /** Removes what was written (after a failure or a change). */
  async discard(): Promise<void> {
    const last = this.#inFlight;
    this.#inFlight = undefined;
    if (last) giveBack(await last.catch(() => undefined));
    giveBack(this.#buf);
    this.#buf = undefined;
    for (const f of [...this.#written, ...(this.#file ? [this.#file] : [])]) {
      try {
        f.close();
      } catch {
        // already closed
      }
    }
    this.#written = [];
    this.#file = undefined;
    for (const p of this.#parts) await Deno.remove(p).catch(() => {});
    this.#parts = [];
  }
}

/**
 * Links (or, when a link is impossible, copies) the file `from` to `to`, replacing what is there,
 * stamped with the current time.
 */
async function placeFile(from: string, to: string): Promise<void> {
  const tmp = `${to}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await Deno.link(from, tmp);
  } catch {
    await Deno.copyFile(from, tmp);
  }
  await Deno.rename(tmp, to);
  const now = new Date();
  await Deno.utime(to, now, now);
}

/** The error for Storage files that cannot be written into `store` (or a holder folder). */
export function storeWriteError(store: string, e: unknown): BackupError {
  if (e instanceof BackupError) return e;
  return new BackupError(
    `cannot put Storage files into ${store}: ${(e as Error).message.split(" (os error")[0]}`,
    {
      hint: "check free disk space and that the backup root is writable; latest/ is unchanged",
      cause: e,
    },
  );
}

/**
 * Links every blob of the holder (named as {@link heldFiles} says) into the root's store (copying
 * when a link is impossible), leaving blobs the store has. Returns the number placed. Throws a
 * {@link BackupError} when the store cannot be written.
 */
export async function placeBlobs(holder: string, root: string): Promise<number> {
  const store = storeDir(root);
  let names: string[];
  try {
    names = (await Array.fromAsync(Deno.readDir(holder))).filter((e) => e.isFile && HELD_NAME.test(e.name))
      .map((e) => e.name).sort();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return 0;
    throw e;
  }
  // a few at a time (each is a few calls that wait on the file system), each prefix folder made once
  const made = new Map<string, Promise<void>>();
  const folder = (prefix: string) => {
    let p = made.get(prefix);
    if (!p) made.set(prefix, p = Deno.mkdir(join(store, prefix), { recursive: true, mode: 0o700 }));
    return p;
  };
  try {
    const placed = await runPool(
      names.map((name) => async () => {
        await folder(name.slice(0, 2));
        const from = join(holder, name);
        const to = join(store, name.slice(0, 2), name);
        const there = await statSize(to);
        if (there === undefined) {
          // the common case: a new blob, linked as it is (written by this run, its time is now)
          try {
            await Deno.link(from, to);
            return 1;
          } catch {
            // there meanwhile, or no link possible: as below
          }
        }
        if (there !== undefined && there === (await Deno.stat(from)).size) return 0;
        await placeFile(from, to);
        return 1;
      }),
      8,
    );
    return placed.reduce((a: number, b) => a + b, 0);
  } catch (e) {
    throw storeWriteError(store, e);
  }
}

/**
 * Puts one blob found in a dead run's holder (named as {@link heldFiles} says, or laid out like
 * the store, as runs before the flat holder left it) into the root's store, after hashing it:
 * returns false, placing nothing, when its files are missing or do not hold exactly the bytes its
 * name says. Throws a {@link BackupError} when the store cannot be written.
 */
export async function placeCheckedBlob(from: string, root: string, b: BlobRef): Promise<boolean> {
  const held = await blobPresent(from, b, true);
  if (!held && !(await blobPresent(from, b))) return false;
  const files = held ? heldFiles(b) : blobFiles(b);
  const d = await hashFiles(from, files, false).catch(() => undefined);
  if (!d || d.sha256 !== b.sha256 || d.bytes !== b.size) return false;
  const store = storeDir(root);
  const names = blobFiles(b);
  try {
    await Deno.mkdir(join(store, b.sha256.slice(0, 2)), { recursive: true, mode: 0o700 });
    for (let i = 0; i < files.length; i++) await placeFile(join(from, files[i]), join(store, names[i]));
  } catch (e) {
    throw storeWriteError(store, e);
  }
  return true;
}

/**
 * Opens a blob of the root's store as one stream (its parts in order). Each part is opened through
 * lib/store/safepath.ts: a symlink anywhere from the root down is refused, so a crafted store
 * cannot make a restore read another file of this machine.
 */
export function openBlob(root: string, b: BlobRef): ReadableStream<Uint8Array> {
  const files = blobFiles(b).map((f) => `${BLOB_DIR}/${f}`);
  let i = 0;
  let cur: Deno.FsFile | undefined;
  const buf = new Uint8Array(BUFFER);
  return new ReadableStream<Uint8Array>({
    async pull(ctl) {
      for (;;) {
        cur ??= await openInBackup(root, files[i]);
        const n = await cur.read(buf);
        if (n !== null) {
          ctl.enqueue(buf.slice(0, n));
          return;
        }
        cur.close();
        cur = undefined;
        if (++i >= files.length) {
          ctl.close();
          return;
        }
      }
    },
    cancel() {
      cur?.close();
    },
  });
}

/**
 * Hashes files under `base` in order, as one stream, each opened through lib/store/safepath.ts:
 * size and sha256, and the MD5 with `withMd5`.
 */
async function hashFiles(
  base: string,
  rels: string[],
  withMd5: boolean,
  buf = new Uint8Array(BUFFER),
): Promise<ContentDigest & { md5?: string }> {
  const sha = createHash("sha256");
  const md5 = withMd5 ? createHash("md5") : undefined;
  let bytes = 0;
  for (const rel of rels) {
    const file = await openInBackup(base, rel);
    try {
      for (;;) {
        const n = await file.read(buf);
        if (n === null) break;
        sha.update(buf.subarray(0, n));
        md5?.update(buf.subarray(0, n));
        bytes += n;
      }
    } finally {
      file.close();
    }
  }
  return { bytes, sha256: sha.digest("hex"), ...(md5 ? { md5: md5.digest("hex") } : {}) };
}

/**
 * Hashes a blob of the root's store (sha256 and MD5, through all its parts), opened as
 * {@link openBlob} opens it. Throws when a part is missing or is not a plain file.
 */
export async function hashBlob(root: string, b: BlobRef, buf = new Uint8Array(BUFFER)): Promise<Digest> {
  return await hashFiles(root, blobFiles(b).map((f) => `${BLOB_DIR}/${f}`), true, buf) as Digest;
}

/**
 * Removes blob files of the root's store that `referenced` (paths as {@link blobFiles} gives them)
 * does not hold, then empty folders. The caller holds the store to itself (lib/storage/gc.ts): no
 * running backup may need an unreferenced blob. Returns how many files and bytes went.
 */
export async function collectGarbage(
  root: string,
  referenced: ReadonlySet<string>,
): Promise<{ files: number; bytes: number }> {
  const store = storeDir(root);
  let files = 0, bytes = 0;
  let dirs: Deno.DirEntry[];
  try {
    dirs = await Array.fromAsync(Deno.readDir(store));
  } catch {
    return { files, bytes };
  }
  for (const d of dirs) {
    if (!d.isDirectory) continue;
    let left = 0;
    for await (const f of Deno.readDir(join(store, d.name))) {
      const rel = `${d.name}/${f.name}`;
      const path = join(store, rel);
      if (referenced.has(rel)) {
        left++;
        continue;
      }
      const info = await Deno.stat(path).catch(() => undefined);
      if (!info) {
        left++;
        continue;
      }
      try {
        await Deno.remove(path, { recursive: true });
        files++;
        bytes += info.size;
      } catch {
        left++;
      }
    }
    if (left === 0) await Deno.remove(join(store, d.name)).catch(() => {});
  }
  return { files, bytes };
}

/**
 * The backup root whose store holds the blobs of the backup in `backupDir`: the folder above it
 * (`<root>/latest`), or two above (`<root>/archive/<name>`), whichever has `storage/blobs` as a
 * real folder (not a symlink). Throws a {@link BackupError} when neither has.
 */
export async function blobRootOf(backupDir: string): Promise<string> {
  const up = dirname(backupDir);
  for (const root of [up, dirname(up)]) {
    try {
      const a = await Deno.lstat(join(root, "storage"));
      const b = await Deno.lstat(storeDir(root));
      if (a.isDirectory && b.isDirectory) return root;
    } catch {
      // not this one
    }
  }
  throw new BackupError(`no Storage blob store (storage/blobs) next to the backup ${backupDir}`, {
    hint: "restore from inside the backup root (latest/ or archive/<name>), where storage/blobs/ is",
  });
}
