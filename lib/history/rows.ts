/**
 * Comparing the rows of one table in two backups, by primary key (or by whole row when there is
 * none), in bounded memory: each side's data files are streamed once and their rows hash-partitioned
 * by key into temporary files, then the partitions are compared one at a time (one side's partition
 * in a map, the other's streamed past it); a partition that is still too big is split again, so the
 * memory held is about one partition whatever the table's size. A table small enough for one
 * partition is compared in memory without temporary files. Rows are compared on the columns both
 * sides have: as whole lines when both sides have the same columns in the same order (the usual
 * case), field by field otherwise. Lines are handled a chunk at a time, with no promise, array or
 * string made per row beyond its key.
 * @module
 */
import { join } from "node:path";
import { DataReader, eachByteLine, type Expect, splitRow, streamLineBatches } from "./copy.ts";

/** One side's data of a table: its data files in order and how to open them. */
export interface DataSide {
  /** Data files (relative paths) with the size and checksum each must have. */
  files: { rel: string; expect?: Expect }[];
  /** Plaintext bytes of the data files (for sizing the partitions). */
  bytes: number;
  /** Opens one file's plaintext. */
  open(rel: string): Promise<ReadableStream<Uint8Array>>;
  /** The backup's name, for error messages. */
  label: string;
}

/** One row difference; rows are raw COPY fields in their side's column order. */
export interface RowChange {
  kind: "added" | "removed" | "changed";
  /** The row in FROM (removed, changed). */
  from?: string[];
  /** The row in TO (added, changed). */
  to?: string[];
}

/** The outcome of {@link diffRows}. */
export interface RowDiff {
  /** Columns of FROM's and TO's COPY data (empty for a side without data). */
  fromColumns: string[];
  toColumns: string[];
  /** Columns the rows were compared on (both sides have them). */
  compared: string[];
  /** Key columns; empty when rows were matched whole. */
  key: string[];
  fromRows: number;
  toRows: number;
  added: number;
  removed: number;
  changed: number;
  /** True when the `setval` lines after the rows differ (sequence positions moved). */
  sequencesChanged: boolean;
}

/** Options of {@link diffRows}. */
export interface RowDiffOptions {
  /** Key columns to match rows by (the primary key); ignored unless both sides have all of them. */
  key?: string[];
  /** Where temporary partition files go (a private directory the caller removes). */
  tmpDir: string;
  /** Called for each difference, in no particular order. */
  onChange?: (c: RowChange) => void | Promise<void>;
  /** Called once the columns and key are known, before any {@link RowDiffOptions.onChange}. */
  onColumns?: (fromColumns: string[], toColumns: string[], key: string[]) => void;
  /** Target bytes of one partition; default 4 MiB. */
  partBytes?: number;
}

const MAX_PARTS = 256;
/** Bytes of a partition's write buffer. */
const BUFFER_BYTES = 16 * 1024;
/** A partition this many times its target is split again (at most {@link MAX_DEPTH} times). */
const SPLIT_FACTOR = 2;
const MAX_DEPTH = 4;

const FNV_PRIME = 0x01000193;
const FNV_SEED = 0x811c9dc5;

/** Where field `i` of the line `buf[s..e)` is (tab-separated), as [start, end); empty past its end. Pure. */
function fieldRange(buf: Uint8Array, s: number, e: number, i: number): [number, number] {
  let start = s;
  for (let n = 0; n < i; n++) {
    const t = buf.indexOf(9, start);
    if (t < 0 || t >= e) return [e, e];
    start = t + 1;
  }
  const end = buf.indexOf(9, start);
  return [start, end < 0 || end > e ? e : end];
}

/**
 * A hash of a row line's key, from its bytes (FNV-1a from `seed`): of the fields `fields` in that
 * order, tab-separated, or of the whole line. Rows with equal keys hash alike. Pure.
 */
export function rowHasher(
  fields: readonly number[] | undefined,
  seed = FNV_SEED,
): (buf: Uint8Array, s: number, e: number) => number {
  return (buf, s, e) => {
    let h = seed;
    if (!fields) {
      for (let i = s; i < e; i++) h = Math.imul(h ^ buf[i], FNV_PRIME);
      return h >>> 0;
    }
    for (let j = 0; j < fields.length; j++) {
      if (j > 0) h = Math.imul(h ^ 9, FNV_PRIME);
      const [a, b] = fieldRange(buf, s, e, fields[j]);
      for (let i = a; i < b; i++) h = Math.imul(h ^ buf[i], FNV_PRIME);
    }
    return h >>> 0;
  };
}

/** How many partitions a table of `bytes` (the larger side) gets. Pure. */
export function partitionCount(bytes: number, partBytes: number): number {
  return Math.max(1, Math.min(MAX_PARTS, Math.ceil(bytes / Math.max(1, partBytes))));
}

/** The `i`-th tab-separated field of `line` (as {@link splitRow} would give it), without splitting. Pure. */
export function fieldAt(line: string, i: number): string {
  let start = 0;
  for (let n = 0; n < i; n++) {
    const t = line.indexOf("\t", start);
    if (t < 0) return "";
    start = t + 1;
  }
  const end = line.indexOf("\t", start);
  return end < 0 ? line.slice(start) : line.slice(start, end);
}

/**
 * Streams the row lines of every data file of a side as bytes (`row(buf, start, end)`, no string per
 * row); the lines around the rows (header, `setval`) go through a {@link DataReader} as text.
 */
async function scanSide(
  side: DataSide,
  row: (buf: Uint8Array, s: number, e: number) => void | Promise<void>,
): Promise<Pass> {
  const pass: Pass = { rows: 0, after: [] };
  const dec = new TextDecoder();
  for (const f of side.files) {
    const reader = new DataReader();
    await eachByteLine(await side.open(f.rel), `${side.label}: ${f.rel}`, f.expect, (buf, s, e) => {
      if (!reader.inRows) return reader.push([dec.decode(buf.subarray(s, e))], () => {});
      if (e - s === 2 && buf[s] === 92 && buf[s + 1] === 46) return reader.endRows();
      pass.rows++;
      return row(buf, s, e);
    });
    pass.after.push(...reader.after);
  }
  return pass;
}

/** The COPY columns of a side, read from the start of its first data file with a COPY block. */
async function peekColumns(side: DataSide): Promise<string[] | undefined> {
  for (const f of side.files) {
    const reader = new DataReader();
    let rows = false;
    for await (const batch of streamLineBatches(await side.open(f.rel), `${side.label}: ${f.rel}`)) {
      reader.push(batch, () => (rows = true));
      if (reader.header) return reader.header.columns;
      if (rows) break;
    }
  }
  return undefined;
}

/** Turns a raw row into what it is compared as, and its key; which fields its key hash covers. */
interface Shape {
  project(line: string): string;
  key(line: string): string;
  /** Field positions the key is made of, in key order (undefined: the whole line). */
  hashFields?: number[];
}

function shapeOf(columns: string[], compared: string[], key: string[], whole: boolean): Shape {
  const idx = compared.map((c) => columns.indexOf(c));
  const kidx = key.map((c) => columns.indexOf(c));
  const project = whole ? (line: string) => line : (line: string) => {
    const f = splitRow(line);
    return idx.map((i) => f[i] ?? "").join("\t");
  };
  const keyOf = kidx.length === 0
    ? project
    : kidx.length === 1
    ? (line: string) => fieldAt(line, kidx[0])
    : (line: string) => kidx.map((i) => fieldAt(line, i)).join("\t");
  return { project, key: keyOf, hashFields: kidx.length ? kidx : whole ? undefined : idx };
}

/** Row lines copied, as bytes, into one temporary file per partition through a buffer each. */
class PartitionFiles {
  readonly paths: string[];
  private bufs: Uint8Array[];
  private lens: number[];
  private files: Deno.FsFile[] = [];

  constructor(dir: string, prefix: string, n: number) {
    this.paths = Array.from({ length: n }, (_, i) => join(dir, `${prefix}-${i}.rows`));
    this.bufs = this.paths.map(() => new Uint8Array(BUFFER_BYTES));
    this.lens = this.paths.map(() => 0);
  }

  async open(): Promise<void> {
    for (const p of this.paths) {
      this.files.push(await Deno.open(p, { write: true, create: true, truncate: true, mode: 0o600 }));
    }
  }

  /** Adds the line `buf[s..e)` (and a newline) to partition `part`. */
  add(part: number, buf: Uint8Array, s: number, e: number): Promise<void> | undefined {
    const need = e - s + 1;
    if (this.lens[part] + need <= BUFFER_BYTES) {
      this.bufs[part].set(buf.subarray(s, e), this.lens[part]);
      this.bufs[part][this.lens[part] + need - 1] = 10;
      this.lens[part] += need;
      return undefined;
    }
    return this.spill(part, buf.slice(s, e));
  }

  private async spill(part: number, line: Uint8Array): Promise<void> {
    await this.flush(part);
    if (line.length + 1 <= BUFFER_BYTES) {
      this.bufs[part].set(line);
      this.bufs[part][line.length] = 10;
      this.lens[part] = line.length + 1;
    } else {
      await this.write(part, line);
      await this.write(part, NEWLINE);
    }
  }

  private async write(part: number, data: Uint8Array): Promise<void> {
    for (let off = 0; off < data.length;) off += await this.files[part].write(data.subarray(off));
  }

  private async flush(part: number): Promise<void> {
    if (this.lens[part] === 0) return;
    await this.write(part, this.bufs[part].subarray(0, this.lens[part]));
    this.lens[part] = 0;
  }

  async close(): Promise<void> {
    for (let i = 0; i < this.files.length; i++) {
      await this.flush(i);
      this.files[i].close();
    }
    this.bufs = [];
  }
}

const NEWLINE = new Uint8Array([10]);

/** What a side's pass produced besides its rows. */
interface Pass {
  rows: number;
  after: string[];
}

/** Matches TO's rows against FROM's rows held in a map, reporting differences. */
class Matcher {
  private byKey = new Map<string, string>();
  private counts = new Map<string, { n: number; line: string }>();
  added = 0;
  removed = 0;
  changed = 0;

  constructor(
    private readonly a: Shape,
    private readonly b: Shape,
    private readonly keyed: boolean,
    private readonly onChange?: (c: RowChange) => void | Promise<void>,
  ) {}

  holdFrom(line: string): void {
    if (this.keyed) this.byKey.set(this.a.key(line), line);
    else {
      const p = this.a.project(line);
      const c = this.counts.get(p);
      if (c) c.n++;
      else this.counts.set(p, { n: 1, line });
    }
  }

  matchTo(line: string): Promise<void> | undefined {
    if (this.keyed) {
      const k = this.b.key(line);
      const from = this.byKey.get(k);
      if (from === undefined) {
        this.added++;
        return this.onChange?.({ kind: "added", to: splitRow(line) }) ?? undefined;
      }
      this.byKey.delete(k);
      if (from === line || this.a.project(from) === this.b.project(line)) return undefined;
      this.changed++;
      return this.onChange?.({ kind: "changed", from: splitRow(from), to: splitRow(line) }) ?? undefined;
    }
    const p = this.b.project(line);
    const c = this.counts.get(p);
    if (c) {
      if (--c.n === 0) this.counts.delete(p);
      return undefined;
    }
    this.added++;
    return this.onChange?.({ kind: "added", to: splitRow(line) }) ?? undefined;
  }

  /** Reports what is left of FROM as removed, and empties the maps. */
  async finish(): Promise<void> {
    for (const line of this.byKey.values()) {
      this.removed++;
      await this.onChange?.({ kind: "removed", from: splitRow(line) });
    }
    for (const { n, line } of this.counts.values()) {
      for (let i = 0; i < n; i++) {
        this.removed++;
        await this.onChange?.({ kind: "removed", from: splitRow(line) });
      }
    }
    this.byKey.clear();
    this.counts.clear();
  }
}

/** Writes each row line given into one of `n` partition files of `dir` by the hash of its key. */
async function partition(
  dir: string,
  prefix: string,
  n: number,
  hash: (buf: Uint8Array, s: number, e: number) => number,
  feed: (add: (buf: Uint8Array, s: number, e: number) => Promise<void> | undefined) => Promise<unknown>,
): Promise<PartitionFiles> {
  const files = new PartitionFiles(dir, prefix, n);
  await files.open();
  try {
    await feed((buf, s, e) => files.add(hash(buf, s, e) % n, buf, s, e));
  } finally {
    await files.close();
  }
  return files;
}

/** Feeds the lines of one of our partition files. */
async function fileRows(
  path: string,
  add: (buf: Uint8Array, s: number, e: number) => Promise<void> | void,
): Promise<void> {
  const f = await Deno.open(path, { read: true });
  await eachByteLine(f.readable, path, undefined, add);
}

/** What compares the rows of one partition: FROM's held, TO's streamed past them. */
interface RowMatcher {
  added: number;
  removed: number;
  changed: number;
  hold(buf: Uint8Array, s: number, e: number): void;
  matchTo(buf: Uint8Array, s: number, e: number): Promise<void> | undefined;
  /** Reports what is left of FROM as removed, and empties the matcher for the next partition. */
  finish(): Promise<void>;
}

const decoder = new TextDecoder();
const text = (buf: Uint8Array, s: number, e: number) => decoder.decode(buf.subarray(s, e));
/** Another seed than the partitions', so that one partition's rows spread over the whole table. */
const TABLE_SEED = 0x2545f491;

/**
 * The matcher for the usual case, both sides with the same columns in the same order: FROM's rows
 * are held as bytes in one buffer with an open-addressing table of their key hashes, TO's rows are
 * compared byte for byte. No object is made per row (only for a difference), and the buffers are
 * reused from partition to partition, so memory is about one partition and leaves no garbage.
 */
class ByteMatcher implements RowMatcher {
  added = 0;
  removed = 0;
  changed = 0;
  private buf = new Uint8Array(1 << 16);
  private len = 0;
  private rows = 0;
  private starts = new Int32Array(1024);
  private ends = new Int32Array(1024);
  private hashes = new Uint32Array(1024);
  private matched = new Uint8Array(1024);
  private table = new Int32Array(0);
  private mask = 0;
  private built = false;
  private readonly hash: (buf: Uint8Array, s: number, e: number) => number;

  /** `fields`: the key's field positions (undefined: rows are matched whole, as a multiset). */
  constructor(
    private readonly fields: readonly number[] | undefined,
    private readonly onChange?: (c: RowChange) => void | Promise<void>,
  ) {
    this.hash = rowHasher(fields, TABLE_SEED);
  }

  hold(b: Uint8Array, s: number, e: number): void {
    const n = e - s;
    if (this.len + n > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
    }
    if (this.rows === this.starts.length) {
      const grow = <T extends Int32Array | Uint32Array | Uint8Array>(a: T, make: (n: number) => T) => {
        const next = make(a.length * 2);
        next.set(a);
        return next;
      };
      this.starts = grow(this.starts, (k) => new Int32Array(k));
      this.ends = grow(this.ends, (k) => new Int32Array(k));
      this.hashes = grow(this.hashes, (k) => new Uint32Array(k));
      this.matched = grow(this.matched, (k) => new Uint8Array(k));
    }
    this.buf.set(b.subarray(s, e), this.len);
    this.starts[this.rows] = this.len;
    this.ends[this.rows] = this.len + n;
    this.len += n;
    this.rows++;
  }

  private build(): void {
    let size = 16;
    while (size < this.rows * 2) size *= 2;
    if (this.table.length < size) this.table = new Int32Array(size);
    const table = this.table.subarray(0, size);
    table.fill(-1);
    this.mask = size - 1;
    for (let i = 0; i < this.rows; i++) {
      const h = this.hash(this.buf, this.starts[i], this.ends[i]);
      this.hashes[i] = h;
      this.matched[i] = 0;
      let slot = h & this.mask;
      while (table[slot] !== -1) slot = (slot + 1) & this.mask;
      table[slot] = i;
    }
    this.built = true;
  }

  private sameBytes(a0: number, a1: number, b: Uint8Array, b0: number, b1: number): boolean {
    if (a1 - a0 !== b1 - b0) return false;
    const buf = this.buf;
    for (let i = 0; i < a1 - a0; i++) if (buf[a0 + i] !== b[b0 + i]) return false;
    return true;
  }

  private sameKey(i: number, b: Uint8Array, s: number, e: number): boolean {
    const [a0, a1] = [this.starts[i], this.ends[i]];
    if (!this.fields) return this.sameBytes(a0, a1, b, s, e);
    for (const f of this.fields) {
      const [x0, x1] = fieldRange(this.buf, a0, a1, f);
      const [y0, y1] = fieldRange(b, s, e, f);
      if (!this.sameBytes(x0, x1, b, y0, y1)) return false;
    }
    return true;
  }

  matchTo(b: Uint8Array, s: number, e: number): Promise<void> | undefined {
    if (!this.built) this.build();
    const h = this.hash(b, s, e);
    const table = this.table;
    for (let slot = h & this.mask; table[slot] !== -1; slot = (slot + 1) & this.mask) {
      const i = table[slot];
      if (this.hashes[i] !== h || this.matched[i] || !this.sameKey(i, b, s, e)) continue;
      this.matched[i] = 1;
      if (!this.fields || this.sameBytes(this.starts[i], this.ends[i], b, s, e)) return undefined;
      this.changed++;
      return this.onChange?.({
        kind: "changed",
        from: splitRow(text(this.buf, this.starts[i], this.ends[i])),
        to: splitRow(text(b, s, e)),
      }) ?? undefined;
    }
    this.added++;
    return this.onChange?.({ kind: "added", to: splitRow(text(b, s, e)) }) ?? undefined;
  }

  async finish(): Promise<void> {
    if (!this.built) this.build();
    for (let i = 0; i < this.rows; i++) {
      if (this.matched[i]) continue;
      this.removed++;
      await this.onChange?.({
        kind: "removed",
        from: splitRow(text(this.buf, this.starts[i], this.ends[i])),
      });
    }
    this.rows = 0;
    this.len = 0;
    this.built = false;
  }
}

/** The matcher for sides whose columns differ: rows as text, compared on the shared columns. */
class TextMatcher implements RowMatcher {
  constructor(private readonly m: Matcher) {}
  get added() {
    return this.m.added;
  }
  get removed() {
    return this.m.removed;
  }
  get changed() {
    return this.m.changed;
  }
  hold(b: Uint8Array, s: number, e: number): void {
    this.m.holdFrom(text(b, s, e));
  }
  matchTo(b: Uint8Array, s: number, e: number): Promise<void> | undefined {
    return this.m.matchTo(text(b, s, e));
  }
  finish(): Promise<void> {
    return this.m.finish();
  }
}

/**
 * Compares one pair of partition files (FROM's and TO's rows of the same key hashes), splitting it
 * again first when FROM's file is too big to hold.
 */
async function comparePair(
  fromPath: string,
  toPath: string,
  m: RowMatcher,
  sa: Shape,
  sb: Shape,
  ctx: { tmpDir: string; partBytes: number; depth: number },
): Promise<void> {
  const size = (await Deno.stat(fromPath)).size;
  if (size > SPLIT_FACTOR * ctx.partBytes && ctx.depth < MAX_DEPTH) {
    const n = partitionCount(size, ctx.partBytes);
    // Another seed than the level above, or every row would fall into the same partition again.
    const seed = (FNV_SEED ^ Math.imul(ctx.depth + 1, 0x9e3779b9)) >>> 0;
    const id = crypto.randomUUID().slice(0, 8);
    const fa = await partition(
      ctx.tmpDir,
      `${id}-from`,
      n,
      rowHasher(sa.hashFields, seed),
      (add) => fileRows(fromPath, add),
    );
    await Deno.remove(fromPath);
    const fb = await partition(
      ctx.tmpDir,
      `${id}-to`,
      n,
      rowHasher(sb.hashFields, seed),
      (add) => fileRows(toPath, add),
    );
    await Deno.remove(toPath);
    for (let i = 0; i < n; i++) {
      await comparePair(fa.paths[i], fb.paths[i], m, sa, sb, { ...ctx, depth: ctx.depth + 1 });
    }
    return;
  }
  await fileRows(fromPath, (buf, s, e) => m.hold(buf, s, e));
  await Deno.remove(fromPath);
  await fileRows(toPath, (buf, s, e) => m.matchTo(buf, s, e));
  await Deno.remove(toPath);
  await m.finish();
}

/**
 * Compares the rows of one table between `a` (FROM) and `b` (TO). A side without data files has
 * no rows. Rows are matched by `opts.key` when both sides have all its columns, else as whole rows
 * (as a multiset: duplicates count). Throws a {@link BackupError} when a data file does not match
 * its size or checksum.
 */
export async function diffRows(a: DataSide, b: DataSide, opts: RowDiffOptions): Promise<RowDiff> {
  const fromColumns = (await peekColumns(a)) ?? [];
  const toColumns = (await peekColumns(b)) ?? [];
  const compared = a.files.length === 0 || fromColumns.length === 0
    ? toColumns
    : b.files.length === 0 || toColumns.length === 0
    ? fromColumns
    : fromColumns.filter((c) => toColumns.includes(c));
  const key = opts.key && opts.key.length > 0 && opts.key.every((k) => compared.includes(k)) ? opts.key : [];
  opts.onColumns?.(fromColumns, toColumns, key);
  // Both sides have exactly the compared columns in the same order: a row is its line.
  const same = (cols: string[]) => cols.length === compared.length && cols.every((c, i) => c === compared[i]);
  const whole = (a.files.length === 0 || same(fromColumns)) && (b.files.length === 0 || same(toColumns));
  const sa = shapeOf(fromColumns, compared, key, whole);
  const sb = shapeOf(toColumns, compared, key, whole);
  const partBytes = opts.partBytes ?? 4 * 1024 * 1024;
  const n = partitionCount(Math.max(a.bytes, b.bytes), partBytes);
  const m: RowMatcher = whole
    ? new ByteMatcher(sa.hashFields, opts.onChange)
    : new TextMatcher(new Matcher(sa, sb, key.length > 0, opts.onChange));
  let pa: Pass, pb: Pass;
  if (n === 1) {
    pa = await scanSide(a, (buf, s, e) => m.hold(buf, s, e));
    pb = await scanSide(b, (buf, s, e) => m.matchTo(buf, s, e));
    await m.finish();
  } else {
    const id = crypto.randomUUID().slice(0, 8);
    let passA: Pass | undefined, passB: Pass | undefined;
    const fa = await partition(opts.tmpDir, `${id}-from`, n, rowHasher(sa.hashFields), async (add) => {
      passA = await scanSide(a, add);
    });
    const fb = await partition(opts.tmpDir, `${id}-to`, n, rowHasher(sb.hashFields), async (add) => {
      passB = await scanSide(b, add);
    });
    pa = passA!;
    pb = passB!;
    for (let i = 0; i < n; i++) {
      await comparePair(fa.paths[i], fb.paths[i], m, sa, sb, { tmpDir: opts.tmpDir, partBytes, depth: 0 });
    }
  }
  return {
    fromColumns,
    toColumns,
    compared,
    key,
    fromRows: pa.rows,
    toRows: pb.rows,
    added: m.added,
    removed: m.removed,
    changed: m.changed,
    sequencesChanged: pa.after.slice().sort().join("\n") !== pb.after.slice().sort().join("\n"),
  };
}
