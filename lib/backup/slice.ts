/**
 * One large schema's data over several connections, still one `.dump`: the schema's pg_dump leaves
 * out the data of some tables (`--exclude-table-data`), which `--data-only --table` pg_dumps read at
 * the same time over connections of their own, in the same exported snapshot; their TABLE DATA
 * entries are then put into the schema's archive (lib/pg/archive.ts), after its own data entries,
 * each depending on its table's entry as pg_dump's own do. Pure.
 * @module
 */
import { type Archive, type ArchiveEntry, ArchiveError, type OutEntry } from "../pg/archive.ts";
import { TABLE_COST } from "./group.ts";

/** A table whose data may go to a slice. */
export interface SliceTable {
  name: string;
  bytes: number;
}

/** Tables per slice at least: below that, a connection of its own costs more than it saves. */
export const MIN_SLICE_TABLES = 10;

/**
 * The most ways one schema's data is read: every slice is a pg_dump that reads the whole catalog
 * again, and on the benchmark's 2 cores four ways were slower than one while two were faster
 * (docs/performance.md).
 */
export const MAX_SLICES = 2;

/**
 * How many ways to read a schema's data: its share of the backup's work in `jobs` equal parts
 * (`weight` of `total`), at most `jobs` and {@link MAX_SLICES}, and at most one slice per
 * {@link MIN_SLICE_TABLES} tables. One way when its `bytes` of data are less than its tables' fixed
 * cost ({@link TABLE_COST} each): a slice's pg_dump reads the catalog and locks its tables again,
 * which for many small tables costs more than reading their rows in parallel saves (5,000 tables of
 * 4 KB were slower sliced, 200 of 250 KB faster).
 */
export function sliceCount(
  weight: number,
  total: number,
  jobs: number,
  tables: number,
  bytes: number,
): number {
  if (total <= 0 || bytes < tables * TABLE_COST) return 1;
  const share = Math.round((weight / total) * jobs);
  return Math.max(1, Math.min(jobs, MAX_SLICES, share, Math.floor(tables / MIN_SLICE_TABLES)));
}

/**
 * The tables of each slice but the first (which stays with the schema's own pg_dump), `count` slices
 * of about equal bytes (the largest first, each into the lightest slice), each in the given order.
 * Empty when `count` is 1.
 */
export function planSlices(tables: SliceTable[], count: number): string[][] {
  if (count <= 1) return [];
  const order = new Map(tables.map((t, i) => [t.name, i]));
  const bins = Array.from({ length: count }, () => ({ bytes: 0, names: [] as string[] }));
  for (const t of [...tables].sort((a, b) => b.bytes - a.bytes || order.get(a.name)! - order.get(b.name)!)) {
    const bin = bins.reduce((best, b) => (b.bytes < best.bytes ? b : best));
    // A table counts at least a page, so that empty tables spread too.
    bin.bytes += Math.max(t.bytes, 8192);
    bin.names.push(t.name);
  }
  return bins.slice(1).map((b) => b.names.sort((x, y) => order.get(x)! - order.get(y)!)).filter((n) =>
    n.length
  );
}

/** Entries a data-only pg_dump writes besides TABLE DATA, left out of the merge. */
const SKIPPED = new Set(["ENCODING", "STDSTRINGS", "SEARCHPATH", "DATABASE", "SEQUENCE SET"]);

/**
 * The entries of the schema's archive `main` with the TABLE DATA entries of the slices' archives put
 * in after its last data entry, renumbered after its highest dumpId, each depending on the TABLE entry
 * of its table in `main`. Throws {@link ArchiveError} when a slice holds anything else, a table that
 * `main` does not define, or one whose data `main` already has, or when the archives differ in format.
 */
export function mergeSlices(main: Archive, slices: { path: string; archive: Archive }[]): OutEntry[] {
  const tables = new Map<number, ArchiveEntry>();
  const withData = new Set<number>();
  for (const e of main.entries) {
    if (e.desc === "TABLE") tables.set(e.objectOid, e);
    if (e.desc === "TABLE DATA") withData.add(e.objectOid);
  }
  let next = Math.max(0, ...main.entries.map((e) => e.dumpId));
  const added: OutEntry[] = [];
  for (const { path, archive } of slices) {
    if (
      archive.version !== main.version || archive.intSize !== main.intSize || archive.offSize !== main.offSize
    ) {
      throw new ArchiveError("a slice's archive differs in format from its schema's");
    }
    for (const e of archive.entries) {
      if (SKIPPED.has(e.desc)) continue;
      const table = tables.get(e.objectOid);
      if (e.desc !== "TABLE DATA" || !table || withData.has(e.objectOid) || e.namespace !== table.namespace) {
        throw new ArchiveError(
          `TOC entry ${e.dumpId} (${e.desc} ${e.tag}) of a slice does not fit its schema's dump`,
        );
      }
      withData.add(e.objectOid);
      added.push({ entry: e, deps: [table.dumpId], from: { path, dumpId: ++next } });
    }
  }
  const out: OutEntry[] = main.entries.map((entry) => ({ entry, deps: entry.deps }));
  let at = out.findLastIndex((e) => e.entry.desc === "TABLE DATA" || e.entry.section === 3) + 1;
  if (at === 0) at = out.findIndex((e) => e.entry.section === 4);
  if (at === -1) at = out.length;
  out.splice(at, 0, ...added);
  return out;
}
