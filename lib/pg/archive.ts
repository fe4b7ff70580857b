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

class Cursor {
  at = 0;
  intSize = 4;
  offSize = 8;
  constructor(readonly buf: Uint8Array, readonly complete: boolean) {}

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

  str(): string | null {
    const n = this.int();
    if (n === -1) return null;
    if (n < 0) throw new ArchiveError("bad string length in the archive");
    this.#need(n);
    const s = new TextDecoder().decode(this.buf.subarray(this.at, this.at + n));
    this.at += n;
    return s;
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

/**
 * Parses the header and TOC at the start of `buf`. Returns "more" when `buf` ends before the TOC
 * does and `complete` is false (read more of the file and call again). Throws {@link ArchiveError}
 * for anything that is not a custom-format archive of a version this module knows.
 */
export function parseArchive(buf: Uint8Array, complete: boolean): Archive | "more" {
  const c = new Cursor(buf, complete);
  try {
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
    for (let i = 0; i < 3; i++) c.str(); // database name, server and pg_dump versions
    const header = buf.slice(0, c.at);
    const count = c.int();
    if (count < 0) throw new ArchiveError("bad TOC entry count");
    const entries: ArchiveEntry[] = [];
    for (let i = 0; i < count; i++) {
      const start = c.at;
      const dumpId = c.int();
      if (dumpId <= 0) throw new ArchiveError(`TOC entry id ${dumpId} out of range`);
      c.int(); // hadDumper
      const catalogOid = Number(c.str());
      const objectOid = Number(c.str());
      const tag = c.str();
      const desc = c.str() ?? "";
      const section = c.int();
      for (let i = 0; i < 3; i++) c.str(); // definition, drop and copy statements
      const namespace = c.str();
      c.str(); // tablespace
      if (v >= version(1, 14, 0)) c.str(); // table access method
      if (v >= version(1, 16, 0)) c.int(); // relkind
      c.str(); // owner
      c.str(); // with oids
      const head = buf.slice(start, c.at);
      const deps: number[] = [];
      for (let d = c.str(); d !== null; d = c.str()) {
        if (!/^\d+$/.test(d)) throw new ArchiveError(`bad dependency '${d}' in TOC entry ${dumpId}`);
        deps.push(Number(d));
      }
      const { flag, pos } = c.offset();
      if (flag === POS_NOT_SET) {
        throw new ArchiveError(`TOC entry ${dumpId} has data but no offset (archive written to a pipe)`);
      }
      entries.push({
        dumpId,
        catalogOid,
        objectOid,
        tag,
        desc,
        section,
        namespace,
        deps,
        head,
        hasData: flag === POS_SET,
        dataPos: flag === POS_SET ? pos : 0,
      });
    }
    return { version: v, intSize: c.intSize, offSize: c.offSize, header, entries, tocEnd: c.at };
  } catch (e) {
    if (e instanceof NeedMore) return "more";
    throw e;
  }
}

/** Reads the header and TOC of the archive at `path` (only as much of the file as they take). */
export async function readArchive(path: string): Promise<Archive> {
  using f = await Deno.open(path, { read: true });
  let buf = new Uint8Array(0);
  let size = 64 * 1024;
  for (;;) {
    const next = new Uint8Array(size);
    next.set(buf);
    let len = buf.length;
    let eof = false;
    while (len < size) {
      const n = await f.read(next.subarray(len));
      if (n === null) {
        eof = true;
        break;
      }
      len += n;
    }
    buf = next.subarray(0, len);
    const a = parseArchive(buf, eof);
    if (a !== "more") return a;
    size *= 2;
  }
}

function encodeInt(v: number, intSize: number): Uint8Array {
  const out = new Uint8Array(1 + intSize);
  out[0] = v < 0 ? 1 : 0;
  let a = Math.abs(v);
  for (let i = 0; i < intSize; i++) {
    out[1 + i] = a % 256;
    a = Math.floor(a / 256);
  }
  return out;
}

function encodeStr(s: string | null, intSize: number): Uint8Array {
  if (s === null) return encodeInt(-1, intSize);
  const b = new TextEncoder().encode(s);
  const out = new Uint8Array(1 + intSize + b.length);
  out.set(encodeInt(b.length, intSize));
  out.set(b, 1 + intSize);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
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

/** The TOC bytes for `entries`, each with its dependencies and its new data offset. */
function tocBytes(a: Archive, entries: OutEntry[], pos: Map<OutEntry, number>) {
  const parts: Uint8Array[] = [encodeInt(entries.length, a.intSize)];
  for (const e of entries) {
    const { entry, deps } = e;
    if (e.from) {
      parts.push(encodeInt(e.from.dumpId, a.intSize), entry.head.subarray(1 + a.intSize));
    } else parts.push(entry.head);
    for (const d of deps) parts.push(encodeStr(String(d), a.intSize));
    parts.push(encodeStr(null, a.intSize));
    const off = new Uint8Array(1 + a.offSize);
    off[0] = entry.hasData ? POS_SET : NO_DATA;
    let p = entry.hasData ? pos.get(e) ?? 0 : 0;
    for (let i = 0; i < a.offSize; i++) {
      off[1 + i] = p % 256;
      p = Math.floor(p / 256);
    }
    parts.push(off);
  }
  return concat(parts);
}

/** Reads a file sequentially from a position, through a fixed buffer. */
class BlockReader {
  #buf = new Uint8Array(1 << 20);
  #len = 0;
  #at = 0;
  constructor(readonly file: Deno.FsFile) {}

  async seek(pos: number): Promise<void> {
    await this.file.seek(pos, Deno.SeekMode.Start);
    this.#len = this.#at = 0;
  }

  /** Up to `max` bytes (at least one), a view valid until the next call. */
  async some(max: number): Promise<Uint8Array> {
    if (this.#at === this.#len) {
      const n = await this.file.read(this.#buf);
      if (n === null) throw new ArchiveError("the archive ends inside a data block");
      this.#len = n;
      this.#at = 0;
    }
    const n = Math.min(max, this.#len - this.#at);
    const out = this.#buf.subarray(this.#at, this.#at + n);
    this.#at += n;
    return out;
  }

  /** Exactly `n` bytes, copied. */
  async exact(n: number): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const b = await this.some(n - at);
      out.set(b, at);
      at += b.length;
    }
    return out;
  }
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
 * other archives (`from`, the block renumbered). Returns the bytes written.
 */
export async function writeArchive(
  src: string,
  a: Archive,
  entries: OutEntry[],
  dest: string,
): Promise<number> {
  const pos = new Map<OutEntry, number>();
  const toc = tocBytes(a, entries, pos);
  using out = await Deno.open(dest, { write: true, createNew: true, mode: 0o600 });
  const writeAll = async (b: Uint8Array) => {
    for (let at = 0; at < b.length;) at += await out.write(b.subarray(at));
  };
  await writeAll(a.header);
  await writeAll(toc);
  let at = a.header.length + toc.length;
  const bySource = new Map<string, OutEntry[]>();
  for (const e of entries) {
    if (!e.entry.hasData) continue;
    const path = e.from?.path ?? src;
    bySource.set(path, [...(bySource.get(path) ?? []), e]);
  }
  const intLen = 1 + a.intSize;
  for (const [path, list] of bySource) {
    using input = await Deno.open(path, { read: true });
    const reader = new BlockReader(input);
    for (const oe of list.sort((x, y) => x.entry.dataPos - y.entry.dataPos)) {
      const e = oe.entry;
      await reader.seek(e.dataPos);
      const head = await reader.exact(1 + intLen);
      if (head[0] !== BLK_DATA || decodeInt(head.subarray(1), a.intSize) !== e.dumpId) {
        throw new ArchiveError(`the data block of TOC entry ${e.dumpId} is not where its offset says`);
      }
      pos.set(oe, at);
      if (oe.from) head.set(encodeInt(oe.from.dumpId, a.intSize), 1);
      await writeAll(head);
      at += head.length;
      at += await copyChunks(reader, a.intSize, e.dumpId, writeAll);
    }
  }
  await out.seek(a.header.length, Deno.SeekMode.Start);
  await writeAll(tocBytes(a, entries, pos));
  return at;
}

/** Copies one data block's chunks (through its zero length) from `reader`; returns the bytes. */
async function copyChunks(
  reader: BlockReader,
  intSize: number,
  dumpId: number,
  writeAll: (b: Uint8Array) => Promise<void>,
): Promise<number> {
  const intLen = 1 + intSize;
  let at = 0;
  for (;;) {
    const lenBytes = await reader.exact(intLen);
    const len = decodeInt(lenBytes, intSize);
    if (len < 0) throw new ArchiveError(`bad chunk length in the data of TOC entry ${dumpId}`);
    await writeAll(lenBytes);
    at += lenBytes.length;
    if (len === 0) return at;
    for (let left = len; left > 0;) {
      const b = await reader.some(left);
      await writeAll(b);
      left -= b.length;
    }
    at += len;
  }
}
