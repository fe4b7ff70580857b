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
import { patternIdent, tablePatterns } from "./plan.ts";

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
 * A round trip of at least this many milliseconds makes a dump of many tables wait on the network:
 * pg_dump reads each table's rows with a COPY of its own, one after another, so its time is about a
 * round trip per table whatever the data. Under it (a database on the same host or network) the
 * time is the CPU of pg_dump and the server, which more pg_dumps on the same cores do not shorten.
 */
export const NETWORK_BOUND_RTT_MS = 1;

/** Round trips measured one after another before the dump. */
export const RTT_SAMPLES = 10;

/**
 * A best round trip under this many milliseconds (but at least {@link NETWORK_BOUND_RTT_MS}) may be a
 * local server's on a busy machine, where every answer of a burst waited for a core: up to
 * {@link RTT_MORE_SAMPLES} more are taken, spaced out. A network's delay is there in every one of them.
 */
export const RTT_UNSURE_MS = 5;

/** The spaced-out round trips taken when the first ones' best is unsure ({@link RTT_UNSURE_MS}). */
export const RTT_MORE_SAMPLES = 20;

/**
 * The shortest round trip `probe` measures, in milliseconds: the best of {@link RTT_SAMPLES} in a
 * row, and when that is between {@link NETWORK_BOUND_RTT_MS} and {@link RTT_UNSURE_MS}, of up to
 * {@link RTT_MORE_SAMPLES} more, each after `pause` (which gives the cores to whatever else runs),
 * until one is under {@link NETWORK_BOUND_RTT_MS}. The shortest: on a busy machine a local server's
 * answer waits for a core now and then (at load 7 on 2 cores the best of three was over 1 ms and a local
 * backup was sliced); a network's delay is there every time.
 */
export async function bestRoundTrip(
  probe: () => Promise<number>,
  pause: () => Promise<void>,
): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < RTT_SAMPLES; i++) best = Math.min(best, await probe());
  for (let i = 0; i < RTT_MORE_SAMPLES && best >= NETWORK_BOUND_RTT_MS && best < RTT_UNSURE_MS; i++) {
    await pause();
    best = Math.min(best, await probe());
  }
  return best;
}

/**
 * What one more slice costs the backup, in milliseconds of the one pg_dump's queue: a pg_dump that
 * connects, reads the catalog and locks its tables again, on the same cores (estimated on the
 * benchmark's 2 cores: 200 tables of 250 KB through a 20 ms proxy were slower four ways than two,
 * 5,000 tables of 4 KB were faster four ways than one).
 */
export const SLICE_COST_MS = 1000;

/**
 * How many ways to read a schema's data: its share of the backup's work in `jobs` equal parts
 * (`weight` of `total`), at most `jobs`, and at most one slice per {@link MIN_SLICE_TABLES} tables.
 *
 * Two reasons to slice, the larger count wins:
 * - the rows (any round trip): at most {@link MAX_SLICES}, and none when its `bytes` of data are
 *   less than its tables' fixed cost ({@link TABLE_COST} each): every slice is a pg_dump that reads
 *   the catalog again on the same cores, which for many small tables costs more than reading their
 *   rows in parallel saves (5,000 tables of 4 KB were slower sliced directly, 200 of 250 KB faster);
 * - the round trips, when one (`rttMs`, measured on the snapshot's connection) is at least
 *   {@link NETWORK_BOUND_RTT_MS}: pg_dump reads each table with a COPY of its own, so `tables`
 *   cost about `tables × rttMs` one after another, whatever the data. `n` ways take that to a
 *   `n`th for {@link SLICE_COST_MS} per slice more: the best `n` is the square root of their ratio
 *   (5,000 tables at 20 ms: 10, so `jobs`; 200 tables: 2; under 50 tables: 1).
 */
export function sliceCount(
  weight: number,
  total: number,
  jobs: number,
  tables: number,
  bytes: number,
  rttMs = 0,
): number {
  if (total <= 0) return 1;
  const share = Math.round((weight / total) * jobs);
  const most = Math.min(jobs, share, Math.floor(tables / MIN_SLICE_TABLES));
  const forRows = bytes < tables * TABLE_COST ? 1 : MAX_SLICES;
  const forTrips = rttMs >= NETWORK_BOUND_RTT_MS
    ? Math.round(Math.sqrt((tables * rttMs) / SLICE_COST_MS))
    : 1;
  return Math.max(1, Math.min(most, Math.max(forRows, forTrips)));
}

/**
 * The tables of each slice but the first (which stays with the schema's own pg_dump), `count` slices
 * of about equal cost, each in the given order. Empty when `count` is 1.
 *
 * By bytes (`byName` false: the largest first, each into the lightest slice), or, when the time is
 * round trips per table (`byName`), as `count` runs of about equal cost (bytes and
 * {@link TABLE_COST} per table) of the tables sorted by name, so that each run is matched by a few
 * name prefixes ({@link slicePatterns}) instead of a pattern per hundred names.
 */
export function planSlices(tables: SliceTable[], count: number, byName = false): string[][] {
  if (count <= 1) return [];
  const order = new Map(tables.map((t, i) => [t.name, i]));
  if (byName) {
    const sorted = tables.map((t) => t.name).sort(compareNames);
    const cost = new Map(tables.map((t) => [t.name, t.bytes + TABLE_COST]));
    const total = tables.reduce((n, t) => n + t.bytes + TABLE_COST, 0);
    const runs: string[][] = [[]];
    let sum = 0;
    for (const name of sorted) {
      if (runs.length < count && sum >= (total * runs.length) / count && runs.at(-1)!.length) runs.push([]);
      runs.at(-1)!.push(name);
      sum += cost.get(name)!;
    }
    return runs.slice(1).map((r) => r.sort((x, y) => order.get(x)! - order.get(y)!));
  }
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

/** Code-point order (names with a common prefix sort together in it). */
function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** How many code points `a` and `b` have in common at their start. */
function commonPrefix(a: string[], b: string[] | undefined): number {
  if (!b) return 0;
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/**
 * pg_dump `--table` patterns of schema `schema` that match exactly the tables `names` among
 * `others` (every other table of the schema the catalog lists: those the plan leaves out, those of
 * extensions, partitioned tables): name prefixes (`"s"."t1"*`) where a prefix matches no other
 * table, whole names ({@link tablePatterns}) where none does. A table an extension owns is thus never
 * matched by a prefix: `--table` naming an extension's configuration table may make pg_dump dump its
 * rows, which the schema's dump holds already or leaves out (pg_dump 17.12 did not for a
 * `--data-only` slice, tests/scale.test.ts; nothing here relies on that). A prefix may match a sequence, view or foreign table: of
 * those a `--data-only` dump holds only sequences' values, which {@link mergeSlices} takes when the
 * schema's dump (excluding the same patterns' data) lacks them.
 */
export function slicePatterns(schema: string, names: string[], others: string[]): string[] {
  const mine = new Set(names);
  const all = [...new Set([...names, ...others])].sort(compareNames).map((n) => ({
    name: n,
    points: Array.from(n),
    mine: mine.has(n),
  }));
  const prefixes: string[] = [];
  const whole: string[] = [];
  for (let k = 0; k < all.length;) {
    if (!all[k].mine) {
      k++;
      continue;
    }
    let end = k;
    while (end + 1 < all.length && all[end + 1].mine) end++;
    // Names k..end are mine, k-1 and end+1 (when present) are not: a prefix of a name of the run
    // longer than what it shares with either matches only names inside the run (names with a
    // common prefix sort together).
    const before = all[k - 1]?.points;
    const after = all[end + 1]?.points;
    while (k <= end) {
      const p = all[k].points;
      const n = 1 + Math.max(commonPrefix(p, before), commonPrefix(p, after));
      if (n > p.length) {
        whole.push(all[k].name); // a prefix of another table's name: only the name itself
        k++;
        continue;
      }
      const prefix = p.slice(0, n).join("");
      let last = k;
      while (last + 1 <= end && all[last + 1].name.startsWith(prefix)) last++;
      if (last === k) whole.push(all[k].name);
      else prefixes.push(`${patternIdent(schema)}.${patternIdent(prefix)}*`);
      k = last + 1;
    }
  }
  return [...prefixes, ...tablePatterns(schema, whole)];
}

/** Entries a data-only pg_dump writes besides its data, left out of the merge. */
const SKIPPED = new Set(["ENCODING", "STDSTRINGS", "SEARCHPATH", "DATABASE"]);

/**
 * The entries of the schema's archive `main` with the data entries of the slices' archives put in
 * after its last data entry, renumbered after its highest dumpId: a TABLE DATA entry depending on the
 * TABLE entry of its table in `main`, a SEQUENCE SET entry (a sequence a slice's prefix matched, whose
 * value `main` then left out too) on its SEQUENCE entry, as pg_dump's own do; a sequence value that
 * `main` has too (a sequence its table owns) is kept once. Throws {@link ArchiveError} when a slice
 * holds anything else, a table or sequence that `main` does not define, or rows that `main` already
 * has, or when the archives differ in format.
 */
export function mergeSlices(main: Archive, slices: { path: string; archive: Archive }[]): OutEntry[] {
  const tables = new Map<number, ArchiveEntry>();
  const sequences = new Map<string, ArchiveEntry>();
  const withData = new Set<number>();
  const seqKey = (e: ArchiveEntry) => `${e.namespace}\u0000${e.tag}`;
  for (const e of main.entries) {
    if (e.desc === "TABLE") tables.set(e.objectOid, e);
    if (e.desc === "SEQUENCE") sequences.set(seqKey(e), e);
  }
  for (const e of main.entries) {
    if (e.desc === "TABLE DATA") withData.add(e.objectOid);
    if (e.desc === "SEQUENCE SET") {
      const seq = sequences.get(seqKey(e));
      if (seq) withData.add(seq.objectOid);
    }
  }
  let next = 0;
  for (const e of main.entries) next = Math.max(next, e.dumpId);
  const added: OutEntry[] = [];
  for (const { path, archive } of slices) {
    if (
      archive.version !== main.version || archive.intSize !== main.intSize || archive.offSize !== main.offSize
    ) {
      throw new ArchiveError("a slice's archive differs in format from its schema's");
    }
    for (const e of archive.entries) {
      if (SKIPPED.has(e.desc)) continue;
      const owner = e.desc === "TABLE DATA"
        ? tables.get(e.objectOid)
        : e.desc === "SEQUENCE SET"
        ? sequences.get(seqKey(e))
        : undefined;
      // A slice's pg_dump writes the value of every sequence its tables own, which the schema's
      // dump (leaving out only the tables' rows) also has, read in the same snapshot.
      if (e.desc === "SEQUENCE SET" && owner && withData.has(owner.objectOid)) continue;
      if (!owner || withData.has(owner.objectOid) || e.namespace !== owner.namespace) {
        throw new ArchiveError(
          `TOC entry ${e.dumpId} (${e.desc} ${e.tag}) of a slice does not fit its schema's dump`,
        );
      }
      withData.add(owner.objectOid);
      added.push({ entry: e, deps: [owner.dumpId], from: { path, dumpId: ++next } });
    }
  }
  const out: OutEntry[] = main.entries.map((entry) => ({ entry, deps: entry.deps }));
  let at = out.findLastIndex((e) => e.entry.desc === "TABLE DATA" || e.entry.section === 3) + 1;
  if (at === 0) at = out.findIndex((e) => e.entry.section === 4);
  if (at === -1) at = out.length;
  out.splice(at, 0, ...added);
  return out;
}
