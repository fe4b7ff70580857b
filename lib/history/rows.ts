/**
 * Comparing the rows of one table in two backups, by primary key (or by whole row when there is
 * none), in bounded memory: each side's data files are streamed once and their rows hash-partitioned
 * by key into temporary files, then the partitions are compared one at a time (one side's partition
 * in a map, the other's streamed past it). A table small enough for one partition is compared in
 * memory without temporary files. Rows are compared on the columns both sides have.
 * @module
 */
import { join } from "node:path";
import { dataEvents, type Expect, splitRow, streamLines } from "./copy.ts";

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
  /** Target bytes of one partition; default 8 MiB. */
  partBytes?: number;
}

const MAX_PARTS = 256;
const FLUSH_AT = 64 * 1024;

/** FNV-1a over the UTF-16 code units of `s`. Pure. */
export function hashKey(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** How many partitions a table of `bytes` (the larger side) gets. Pure. */
export function partitionCount(bytes: number, partBytes: number): number {
  return Math.max(1, Math.min(MAX_PARTS, Math.ceil(bytes / Math.max(1, partBytes))));
}

/** Streams the data events of every file of a side. */
async function* sideEvents(side: DataSide) {
  for (const f of side.files) {
    yield* dataEvents(streamLines(await side.open(f.rel), `${side.label}: ${f.rel}`, f.expect));
  }
}

/** The COPY columns of a side, read from the start of its first data file with a COPY block. */
async function peekColumns(side: DataSide): Promise<string[] | undefined> {
  for (const f of side.files) {
    for await (const ev of dataEvents(streamLines(await side.open(f.rel), `${side.label}: ${f.rel}`))) {
      if (ev.kind === "header") return ev.header.columns;
      if (ev.kind === "row") break;
    }
  }
  return undefined;
}

/** Turns a raw row into its compared projection and its key. */
interface Shape {
  project(fields: string[]): string;
  key(fields: string[]): string;
}

function shapeOf(columns: string[], compared: string[], key: string[]): Shape {
  const idx = compared.map((c) => columns.indexOf(c));
  const kidx = key.map((c) => columns.indexOf(c));
  const project = (f: string[]) => idx.map((i) => f[i] ?? "").join("\t");
  return {
    project,
    key: kidx.length ? (f) => kidx.map((i) => f[i] ?? "").join("\t") : project,
  };
}

/** Buffered line writers, one temporary file per partition. */
class PartitionFiles {
  readonly paths: string[];
  private bufs: string[];
  private files: Deno.FsFile[] = [];
  private enc = new TextEncoder();

  constructor(dir: string, prefix: string, n: number) {
    this.paths = Array.from({ length: n }, (_, i) => join(dir, `${prefix}-${i}.rows`));
    this.bufs = this.paths.map(() => "");
  }

  async open(): Promise<void> {
    for (const p of this.paths) {
      this.files.push(await Deno.open(p, { write: true, create: true, truncate: true, mode: 0o600 }));
    }
  }

  async add(part: number, line: string): Promise<void> {
    this.bufs[part] += line + "\n";
    if (this.bufs[part].length >= FLUSH_AT) await this.flush(part);
  }

  private async flush(part: number): Promise<void> {
    const data = this.enc.encode(this.bufs[part]);
    this.bufs[part] = "";
    for (let off = 0; off < data.length;) off += await this.files[part].write(data.subarray(off));
  }

  async close(): Promise<void> {
    for (let i = 0; i < this.files.length; i++) {
      await this.flush(i);
      this.files[i].close();
    }
  }
}

/** What a side's pass produced besides its rows. */
interface Pass {
  rows: number;
  after: string[];
}

/** Streams a side's rows into `sink` (with the side's columns known from its header). */
async function passSide(
  side: DataSide,
  sink: (fields: string[], line: string) => void | Promise<void>,
): Promise<Pass> {
  const pass: Pass = { rows: 0, after: [] };
  for await (const ev of sideEvents(side)) {
    if (ev.kind === "row") {
      pass.rows++;
      await sink(splitRow(ev.line), ev.line);
    } else if (ev.kind === "after") pass.after.push(ev.line);
  }
  return pass;
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

  holdFrom(fields: string[], line: string): void {
    if (this.keyed) this.byKey.set(this.a.key(fields), line);
    else {
      const p = this.a.project(fields);
      const c = this.counts.get(p);
      if (c) c.n++;
      else this.counts.set(p, { n: 1, line });
    }
  }

  async matchTo(fields: string[]): Promise<void> {
    if (this.keyed) {
      const k = this.b.key(fields);
      const line = this.byKey.get(k);
      if (line === undefined) {
        this.added++;
        await this.onChange?.({ kind: "added", to: fields });
        return;
      }
      this.byKey.delete(k);
      const from = splitRow(line);
      if (this.a.project(from) !== this.b.project(fields)) {
        this.changed++;
        await this.onChange?.({ kind: "changed", from, to: fields });
      }
      return;
    }
    const p = this.b.project(fields);
    const c = this.counts.get(p);
    if (c) {
      if (--c.n === 0) this.counts.delete(p);
      return;
    }
    this.added++;
    await this.onChange?.({ kind: "added", to: fields });
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

async function* fileLines(path: string): AsyncGenerator<string> {
  const f = await Deno.open(path, { read: true });
  yield* streamLines(f.readable, path);
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
  const sa = shapeOf(fromColumns, compared, key);
  const sb = shapeOf(toColumns, compared, key);
  const n = partitionCount(Math.max(a.bytes, b.bytes), opts.partBytes ?? 8 * 1024 * 1024);
  const m = new Matcher(sa, sb, key.length > 0, opts.onChange);
  let pa: Pass, pb: Pass;
  if (n === 1) {
    pa = await passSide(a, (f, line) => m.holdFrom(f, line));
    pb = await passSide(b, (f) => m.matchTo(f));
    await m.finish();
  } else {
    const id = crypto.randomUUID().slice(0, 8);
    const fa = new PartitionFiles(opts.tmpDir, `${id}-from`, n);
    const fb = new PartitionFiles(opts.tmpDir, `${id}-to`, n);
    await fa.open();
    await fb.open();
    try {
      pa = await passSide(a, (f, line) => fa.add(hashKey(sa.key(f)) % n, line));
      pb = await passSide(b, (f, line) => fb.add(hashKey(sb.key(f)) % n, line));
    } finally {
      await fa.close();
      await fb.close();
    }
    for (let i = 0; i < n; i++) {
      for await (const line of fileLines(fa.paths[i])) m.holdFrom(splitRow(line), line);
      await Deno.remove(fa.paths[i]);
      for await (const line of fileLines(fb.paths[i])) await m.matchTo(splitRow(line));
      await Deno.remove(fb.paths[i]);
      await m.finish();
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
