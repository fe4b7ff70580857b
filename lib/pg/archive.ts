/**
 * pg_dump's custom-format archive (`--format=custom`): reading its header and table of contents, and
 * writing a new archive that holds some of its entries, with their data blocks copied byte for byte
 * (compressed as they were). This is how one pg_dump over several schemas is cut into one archive
 * per schema (lib/backup/group.ts) that pg_restore reads as it reads pg_dump's own.
 *
 * The layout, as pg_dump writes it (integers are a sign byte and `intSize` little-endian bytes,
 * strings an integer length, -1 for none, and the bytes; offsets a flag byte and `offSize` bytes):
 *
 * ```
 * header   "PGDMP", version (3 bytes), intSize, offSize, format, compression, creation time (7 ints),
 *          database name, server version, pg_dump version
 * TOC      count, then per entry: dumpId, hadDumper, table oid, oid, tag, desc, section, defn, drop,
 *          copy statement, namespace, tablespace, table AM (1.14), relkind (1.16), owner, "false",
 *          dependency ids (strings, ended by none), data state and offset
 * data     per entry with data: block type 1, dumpId, chunks (length, bytes) ended by length 0
 * ```
 *
 * Parsing is pure ({@link parseArchive}); {@link writeArchive} streams the data blocks from the
 * source file with a fixed buffer, whatever their size. Anything unexpected is an
 * {@link ArchiveError}, never a guess.
 * @module
 */

/** The archive is not one this module can read or cut; nothing written from it should be kept. */
export class ArchiveError extends Error {
  override name = "ArchiveError";
}

const MAGIC = [0x50, 0x47, 0x44, 0x4d, 0x50]; // PGDMP
const FORMAT_CUSTOM = 1;
const BLK_DATA = 1;
/** Data offset flags (pg_backup_archiver.h). */
const POS_NOT_SET = 1;
const POS_SET = 2;
const NO_DATA = 3;
/** Archive versions read here: 1.12 (PostgreSQL 11) to 1.16 (PostgreSQL 17). */
const MIN_VERSION = version(1, 12, 0);
const MAX_VERSION = version(1, 16, 0);

function version(major: number, minor: number, rev: number): number {
  return (major * 256 + minor) * 256 + rev;
}

/** One TOC entry. */
export interface ArchiveEntry {
  dumpId: number;
  catalogOid: number;
  objectOid: number;
  tag: string | null;
  desc: string;
  /** pg_dump's section: 1 none, 2 pre-data, 3 data, 4 post-data. */
  section: number;
  namespace: string | null;
  /** The dumpIds it depends on. */
  deps: number[];
  /** Its bytes from the start up to its dependency list, written again as they are. */
  head: Uint8Array;
  /** Whether it has a data block ({@link ArchiveEntry.dataPos} is where it starts). */
  hasData: boolean;
  dataPos: number;
}

/** A parsed header and table of contents. */
export interface Archive {
  /** `(major * 256 + minor) * 256 + rev`. */
  version: number;
  intSize: number;
  offSize: number;
  /** The header's bytes (everything before the TOC count). */
  header: Uint8Array;
  entries: ArchiveEntry[];
  /** Where the TOC ends (the data blocks follow). */
  tocEnd: number;
}

/** Thrown inside the parser when the buffer ends before the TOC does. */
class NeedMore extends Error {}

const DECODER = new TextDecoder();

class Cursor {
  at = 0;
  intSize = 4;
  offSize = 8;
  constructor(public buf: Uint8Array, public complete: boolean) {}

  #need(n: number): void {
    if (this.at + n <= this.buf.length) return;
    if (this.complete) throw new ArchiveError("the archive ends inside its table of contents");
    throw new NeedMore();
  }

  byte(): number {
    this.#need(1);
    return this.buf[this.at++];
  }

  int(): number {
    this.#need(1 + this.intSize);
    const sign = this.buf[this.at++];
    let v = 0;
    for (let i = 0; i < this.intSize; i++) v += this.buf[this.at++] * 2 ** (8 * i);
    if (sign > 1 || !Number.isSafeInteger(v)) throw new ArchiveError("bad integer in the archive");
    return sign ? -v : v;
  }

  /** A string's length (-1 for none), its bytes skipped over. */
  skip(): number {
    const n = this.int();
    if (n === -1) return -1;
    if (n < 0) throw new ArchiveError("bad string length in the archive");
    this.#need(n);
    this.at += n;
    return n;
  }

  str(): string | null {
    const n = this.skip();
    return n === -1 ? null : DECODER.decode(this.buf.subarray(this.at - n, this.at));
  }

  /** A string of decimal digits (an oid or a dependency) as its number, `NaN` for anything else. */
  num(): number | null {
    const n = this.skip();
    if (n === -1) return null;
    let v = 0;
    for (let i = this.at - n; i < this.at; i++) {
      const d = this.buf[i] - 0x30;
      if (d < 0 || d > 9) return NaN;
      v = v * 10 + d;
    }
    return n === 0 || !Number.isSafeInteger(v) ? NaN : v;
  }

  offset(): { flag: number; pos: number } {
    const flag = this.byte();
    this.#need(this.offSize);
    let pos = 0;
    for (let i = 0; i < this.offSize; i++) pos += this.buf[this.at++] * 2 ** (8 * i);
    if (![POS_NOT_SET, POS_SET, NO_DATA].includes(flag)) {
      throw new ArchiveError(`unexpected data offset flag ${flag}`);
    }
    if (!Number.isSafeInteger(pos)) throw new ArchiveError("data offset too large");
    return { flag, pos };
  }
}

/** The header: its version and sizes, its bytes (copied) and the TOC's entry count. */
function parseHeader(c: Cursor) {
  for (const b of MAGIC) {
    if (c.byte() !== b) throw new ArchiveError("not a pg_dump custom-format archive");
  }
  const v = version(c.byte(), c.byte(), c.byte());
  if (v < MIN_VERSION || v > MAX_VERSION) {
    throw new ArchiveError(`archive version ${v >> 16}.${(v >> 8) & 255}.${v & 255} is not supported`);
  }
  c.intSize = c.byte();
  c.offSize = c.byte();
  if (c.intSize < 1 || c.intSize > 6 || c.offSize < 1 || c.offSize > 8) {
    throw new ArchiveError("bad integer or offset size in the archive header");
  }
  if (c.byte() !== FORMAT_CUSTOM) throw new ArchiveError("not a custom-format archive");
  if (v >= version(1, 15, 0)) c.byte();
  else c.int();
  for (let i = 0; i < 7; i++) c.int();
  for (let i = 0; i < 3; i++) c.skip(); // database name, server and pg_dump versions
  const header = c.buf.slice(0, c.at);
  const count = c.int();
  if (count < 0) throw new ArchiveError("bad TOC entry count");
  return { version: v, header, count };
}

/** The largest chunk of a {@link HeadStore}; a head longer than a quarter of it gets its own copy. */
const HEAD_CHUNK = 1 << 20;

/**
 * Where the heads of one archive's entries are copied: into shared chunks (4 KiB, doubling up to
 * {@link HEAD_CHUNK}), each head a view of one. A copy of its own for every head cost an
 * ArrayBuffer and its allocation each: for the tens of thousands of entries of a schema of 5,000
 * tables, megabytes more than their bytes.
 */
class HeadStore {
  #chunk = new Uint8Array(0);
  #used = 0;
  #next = 1 << 12;

  copy(src: Uint8Array): Uint8Array {
    if (src.length > HEAD_CHUNK / 4) return src.slice();
    if (this.#used + src.length > this.#chunk.length) {
      this.#chunk = new Uint8Array(this.#next);
      this.#next = Math.min(this.#next * 2, HEAD_CHUNK);
      this.#used = 0;
    }
    const out = this.#chunk.subarray(this.#used, this.#used + src.length);
    out.set(src);
    this.#used += src.length;
    return out;
  }
}

/**
 * One TOC entry at the cursor; only its head's bytes are copied (into `heads`, once the whole entry
 * is in the buffer: an entry parsed again after more of the file is read copies nothing twice).
 */
function parseEntry(c: Cursor, v: number, heads: HeadStore): ArchiveEntry {
  const start = c.at;
  const dumpId = c.int();
  if (dumpId <= 0) throw new ArchiveError(`TOC entry id ${dumpId} out of range`);
  c.int(); // hadDumper
  const catalogOid = Number(c.num());
  const objectOid = Number(c.num());
  const tag = c.str();
  const desc = c.str() ?? "";
  const section = c.int();
  for (let i = 0; i < 3; i++) c.skip(); // definition, drop and copy statements
  const namespace = c.str();
  c.skip(); // tablespace
  if (v >= version(1, 14, 0)) c.skip(); // table access method
  if (v >= version(1, 16, 0)) c.int(); // relkind
  c.skip(); // owner
  c.skip(); // with oids
  const headEnd = c.at;
  const deps: number[] = [];
  for (let d = c.num(); d !== null; d = c.num()) {
    if (Number.isNaN(d)) throw new ArchiveError(`bad dependency in TOC entry ${dumpId}`);
    deps.push(d);
  }
  const { flag, pos } = c.offset();
  if (flag === POS_NOT_SET) {
    throw new ArchiveError(`TOC entry ${dumpId} has data but no offset (archive written to a pipe)`);
  }
  return {
    dumpId,
    catalogOid,
    objectOid,
    tag,
    desc,
    section,
    namespace,
    deps,
    head: heads.copy(c.buf.subarray(start, headEnd)),
    hasData: flag === POS_SET,
    dataPos: flag === POS_SET ? pos : 0,
  };
}

/**
 * Parses the header and TOC at the start of `buf`. Returns "more" when `buf` ends before the TOC
 * does and `complete` is false (read more of the file and call again). Throws {@link ArchiveError}
 * for anything that is not a custom-format archive of a version this module knows.
 */
export function parseArchive(buf: Uint8Array, complete: boolean): Archive | "more" {
  const c = new Cursor(buf, complete);
  try {
    const { version: v, header, count } = parseHeader(c);
    const entries: ArchiveEntry[] = [];
    const heads = new HeadStore();
    for (let i = 0; i < count; i++) entries.push(parseEntry(c, v, heads));
    return { version: v, intSize: c.intSize, offSize: c.offSize, header, entries, tocEnd: c.at };
  } catch (e) {
    if (e instanceof NeedMore) return "more";
    throw e;
  }
}

/** The TOC is read through a window of this many bytes (larger only for an entry that is). */
const WINDOW = 1 << 20;

/**
 * Reads the header and TOC of the archive at `path` (only as much of the file as they take),
 * through a window of {@link WINDOW} bytes: an entry that ends past the window's end is parsed again
 * once the window has moved on to its start, so a large TOC is never held whole as bytes.
 */
export async function readArchive(path: string): Promise<Archive> {
  using f = await Deno.open(path, { read: true });
  let buf = new Uint8Array(WINDOW);
  let len = 0;
  let eof = false;
  /** File offset of buf[0]. */
  let base = 0;
  const fill = async () => {
    if (len === buf.length) {
      const bigger = new Uint8Array(buf.length * 2);
      bigger.set(buf);
      buf = bigger;
    }
    while (len < buf.length && !eof) {
      const n = await f.read(buf.subarray(len));
      if (n === null) eof = true;
      else len += n;
    }
  };
  await fill();
  const c = new Cursor(buf.subarray(0, len), eof);
  /** Runs `step` at the cursor, moving the window and growing it until it fits. */
  const parse = async <T>(step: () => T): Promise<T> => {
    for (;;) {
      const start = c.at;
      try {
        return step();
      } catch (e) {
        if (!(e instanceof NeedMore)) throw e;
      }
      buf.copyWithin(0, start, len);
      len -= start;
      base += start;
      await fill();
      c.buf = buf.subarray(0, len);
      c.complete = eof;
      c.at = 0;
    }
  };
  const { version: v, header, count } = await parse(() => {
    c.at = 0;
    return parseHeader(c);
  });
  const entries: ArchiveEntry[] = [];
  const heads = new HeadStore();
  for (let i = 0; i < count; i++) entries.push(await parse(() => parseEntry(c, v, heads)));
  return { version: v, intSize: c.intSize, offSize: c.offSize, header, entries, tocEnd: base + c.at };
}

/**
 * One entry of an archive to write: its entry, its dependencies there, and, when it comes from
 * another archive (of the same pg_dump, in the same snapshot: lib/backup/slice.ts), that file and the
 * dumpId it gets.
 */
export interface OutEntry {
  entry: ArchiveEntry;
  deps: number[];
  from?: { path: string; dumpId: number };
}

/** Writes `v` as an archive integer into `out` at `at`; returns where it ends. */
function putInt(out: Uint8Array, at: number, v: number, intSize: number): number {
  out[at++] = v < 0 ? 1 : 0;
  let a = Math.abs(v);
  for (let i = 0; i < intSize; i++) {
    out[at++] = a % 256;
    a = Math.floor(a / 256);
  }
  return at;
}

/** Decimal digits of `v` (a dumpId, at least 1). */
function digits(v: number): number {
  let n = 1;
  while (v >= 10 ** n) n++;
  return n;
}

/** Writes a dependency, `v` as a decimal string, into `out` at `at`; returns where it ends. */
function putDep(out: Uint8Array, at: number, v: number, intSize: number): number {
  const n = digits(v);
  at = putInt(out, at, n, intSize);
  for (let i = n - 1; i >= 0; i--, v = Math.floor(v / 10)) out[at + i] = 0x30 + (v % 10);
  return at + n;
}

/**
 * The TOC for `entries` in one buffer (its count, then each entry with its dependencies), and where
 * each entry's data offset is in it, for {@link setOffset} once the data are written.
 */
function tocBytes(a: Archive, entries: OutEntry[]): { toc: Uint8Array; offsets: Float64Array } {
  const intLen = 1 + a.intSize;
  let size = intLen;
  for (const { entry, deps } of entries) {
    size += entry.head.length + 1 + a.offSize + intLen;
    for (const d of deps) size += intLen + digits(d);
  }
  const toc = new Uint8Array(size);
  const offsets = new Float64Array(entries.length);
  let at = putInt(toc, 0, entries.length, a.intSize);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (e.from) {
      at = putInt(toc, at, e.from.dumpId, a.intSize);
      toc.set(e.entry.head.subarray(intLen), at);
      at += e.entry.head.length - intLen;
    } else {
      toc.set(e.entry.head, at);
      at += e.entry.head.length;
    }
    for (const d of e.deps) at = putDep(toc, at, d, a.intSize);
    at = putInt(toc, at, -1, a.intSize);
    offsets[i] = at;
    toc[at] = e.entry.hasData ? POS_SET : NO_DATA;
    at += 1 + a.offSize; // position 0 until set
  }
  return { toc, offsets };
}

/** Sets the data offset at `at` of a TOC made by {@link tocBytes}. */
function setOffset(toc: Uint8Array, at: number, pos: number, offSize: number): void {
  for (let i = 0; i < offSize; i++) {
    toc[at + 1 + i] = pos % 256;
    pos = Math.floor(pos / 256);
  }
}

/** Reads a file sequentially from a position, through a fixed buffer. */
class BlockReader {
  #buf = new Uint8Array(1 << 20);
  #len = 0;
  #at = 0;
  /** File offset of the buffer's first byte. */
  #base = 0;
  #scratch = new Uint8Array(16);
  constructor(readonly file: Deno.FsFile) {}

  /** Moves to `pos`: within the buffer when it holds it (blocks mostly follow each other). */
  async seek(pos: number): Promise<void> {
    if (pos >= this.#base && pos <= this.#base + this.#len) {
      this.#at = pos - this.#base;
      return;
    }
    await this.file.seek(pos, Deno.SeekMode.Start);
    this.#base = pos;
    this.#len = this.#at = 0;
  }

  /** Up to `max` bytes (at least one), a view valid until the next call. */
  async some(max: number): Promise<Uint8Array> {
    if (this.#at === this.#len) {
      const n = await this.file.read(this.#buf);
      if (n === null) throw new ArchiveError("the archive ends inside a data block");
      this.#base += this.#len;
      this.#len = n;
      this.#at = 0;
    }
    const n = Math.min(max, this.#len - this.#at);
    const out = this.#buf.subarray(this.#at, this.#at + n);
    this.#at += n;
    return out;
  }

  /** Exactly `n` (at most 16) bytes, a view valid until the next call. */
  async exact(n: number): Promise<Uint8Array> {
    if (this.#len - this.#at >= n) {
      this.#at += n;
      return this.#buf.subarray(this.#at - n, this.#at);
    }
    const out = this.#scratch.subarray(0, n);
    let at = 0;
    while (at < n) {
      const b = await this.some(n - at);
      out.set(b, at);
      at += b.length;
    }
    return out;
  }
}

/** Writes a file sequentially through a fixed buffer; counts the bytes. */
class BlockWriter {
  #buf = new Uint8Array(1 << 20);
  #len = 0;
  written = 0;
  constructor(readonly file: Deno.FsFile) {}

  async write(b: Uint8Array): Promise<void> {
    this.written += b.length;
    if (this.#len + b.length > this.#buf.length) {
      await this.flush();
      if (b.length >= this.#buf.length) return await writeAll(this.file, b);
    }
    this.#buf.set(b, this.#len);
    this.#len += b.length;
  }

  async flush(): Promise<void> {
    await writeAll(this.file, this.#buf.subarray(0, this.#len));
    this.#len = 0;
  }
}

async function writeAll(file: Deno.FsFile, b: Uint8Array): Promise<void> {
  for (let at = 0; at < b.length;) at += await file.write(b.subarray(at));
}

function decodeInt(b: Uint8Array, intSize: number): number {
  let v = 0;
  for (let i = 0; i < intSize; i++) v += b[1 + i] * 2 ** (8 * i);
  if (b[0] > 1) throw new ArchiveError("bad integer in a data block");
  return b[0] ? -v : v;
}

/**
 * Writes to `dest` (created, mode 0600; it must not exist) an archive of `entries` of the archive
 * `a` read from `src`: the same header, the entries in the given order with the given dependencies,
 * and their data blocks copied from `src` (in the order they have there), then those of entries from
 * other archives (`from`, the block renumbered). Returns the bytes written. The TOC is one buffer,
 * written twice (its data offsets set the second time); the data go through fixed buffers.
 */
export async function writeArchive(
  src: string,
  a: Archive,
  entries: OutEntry[],
  dest: string,
): Promise<number> {
  const { toc, offsets } = tocBytes(a, entries);
  using out = await Deno.open(dest, { write: true, createNew: true, mode: 0o600 });
  const w = new BlockWriter(out);
  await w.write(a.header);
  await w.write(toc);
  const bySource = new Map<string, number[]>();
  for (let i = 0; i < entries.length; i++) {
    if (!entries[i].entry.hasData) continue;
    const path = entries[i].from?.path ?? src;
    const list = bySource.get(path);
    if (list) list.push(i);
    else bySource.set(path, [i]);
  }
  const intLen = 1 + a.intSize;
  const head = new Uint8Array(1 + intLen);
  for (const [path, list] of bySource) {
    using input = await Deno.open(path, { read: true });
    const reader = new BlockReader(input);
    list.sort((x, y) => entries[x].entry.dataPos - entries[y].entry.dataPos);
    for (const i of list) {
      const oe = entries[i];
      const e = oe.entry;
      await reader.seek(e.dataPos);
      head.set(await reader.exact(1 + intLen));
      if (head[0] !== BLK_DATA || decodeInt(head.subarray(1), a.intSize) !== e.dumpId) {
        throw new ArchiveError(`the data block of TOC entry ${e.dumpId} is not where its offset says`);
      }
      setOffset(toc, offsets[i], w.written, a.offSize);
      if (oe.from) putInt(head, 1, oe.from.dumpId, a.intSize);
      await w.write(head);
      await copyChunks(reader, a.intSize, e.dumpId, w);
    }
  }
  await w.flush();
  await out.seek(a.header.length, Deno.SeekMode.Start);
  await writeAll(out, toc);
  return w.written;
}

/** Copies one data block's chunks (through its zero length) from `reader` to `w`. */
async function copyChunks(
  reader: BlockReader,
  intSize: number,
  dumpId: number,
  w: BlockWriter,
): Promise<void> {
  const intLen = 1 + intSize;
  for (;;) {
    const lenBytes = await reader.exact(intLen);
    const len = decodeInt(lenBytes, intSize);
    if (len < 0) throw new ArchiveError(`bad chunk length in the data of TOC entry ${dumpId}`);
    await w.write(lenBytes);
    if (len === 0) return;
    for (let left = len; left > 0;) {
      const b = await reader.some(left);
      await w.write(b);
      left -= b.length;
    }
  }
}
