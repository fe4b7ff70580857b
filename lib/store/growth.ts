/**
 * How big the git repository that holds a root is, how fast its backups make it grow, and when it
 * will pass the sizes GitHub recommends (under 1 GB, strongly under 5 GB). Pure: the record each
 * backup commit updates (`<root>/repository.json`, written by git.ts) is parsed, extended and
 * projected here, and the input of the pack that measures a commit is planned here; nothing runs git.
 *
 * The bytes counted for a backup commit are those of a pack of the objects it adds, each stored as
 * a delta against the previous commit's object at the same place when git finds one
 * ({@link planMeasurePack}): what the repository holds for the commit once it is packed, which
 * GitHub does. (Counting the objects as git first writes them, zlib-compressed one by one, gave
 * about 25 times that.) Pruning archives does not make a repository smaller: its history keeps
 * every object.
 * @module
 */
import { formatBytes } from "../base/size.ts";

/** The file in a git root that records its repository's size and growth. */
export const GROWTH_FILE = "repository.json";

/** GitHub's recommended limits for a repository: under 1 GB, strongly under 5 GB. */
export const GITHUB_LIMITS = [1e9, 5e9] as const;

/** How far ahead the projection looks, in days. */
export const PROJECTION_DAYS = 90;

/** How many backups the record keeps. */
const KEEP_BACKUPS = 100;

/** One backup commit's share of the repository. */
export interface GrowthEntry {
  /** When it was committed (ISO time). */
  at: string;
  /** Bytes of the objects it added. */
  addedBytes: number;
}

/**
 * The record's format. 2: the bytes of a backup are packed bytes. Format 1 counted loose objects
 * (about 25 times too many), and such a record is started again.
 */
const FORMAT = 2;

/** How the first measure was taken: the packed size of a complete clone, or of a partial or shallow one (too low). */
export type MeasuredBy =
  | "packed"
  | "packed (partial clone: at least)"
  | "packed (shallow clone: at least)";

/** `<root>/repository.json`. */
export interface GrowthRecord {
  format: typeof FORMAT;
  /** The repository's size after the newest backup: its first measure plus every backup's bytes. */
  sizeBytes: number;
  /** How the first measure was taken. */
  measuredBy: MeasuredBy;
  /** The newest backups, oldest first. */
  backups: GrowthEntry[];
}

/**
 * A record from the file's text, or undefined when it is missing, not one, or of format 1 (it is
 * then started again).
 */
export function parseGrowth(text: string | undefined): GrowthRecord | undefined {
  if (text === undefined) return undefined;
  try {
    const r = JSON.parse(text);
    if (
      r?.format !== FORMAT || !Number.isSafeInteger(r.sizeBytes) || r.sizeBytes < 0 ||
      !Array.isArray(r.backups) ||
      typeof r.measuredBy !== "string"
    ) return undefined;
    const backups: GrowthEntry[] = [];
    for (const b of r.backups) {
      if (typeof b?.at !== "string" || Number.isNaN(new Date(b.at).getTime())) return undefined;
      if (!Number.isSafeInteger(b.addedBytes) || b.addedBytes < 0) return undefined;
      backups.push({ at: b.at, addedBytes: b.addedBytes });
    }
    return { format: FORMAT, sizeBytes: r.sizeBytes, measuredBy: r.measuredBy, backups };
  } catch {
    return undefined;
  }
}

/** A first measure of the repository, taken before this commit's objects. */
export interface FirstMeasure {
  baseBytes: number;
  /** A partial (blobless) clone: it lacks objects, so the measure is too low. */
  partial: boolean;
  /** A shallow clone (`fetch-depth: 1`): it lacks history, so the measure is too low. */
  shallow?: boolean;
  /**
   * In a complete clone (neither partial nor shallow), with a record to go on from: the bytes of its
   * packs as git reports them (`git count-objects -v`, `size-pack`) before this commit's objects.
   * A repository kept with `git gc` stores more than the record counts (git's default pairing
   * misses many previous versions), and the record then takes that size.
   */
  packsBytes?: number;
}

/**
 * The record after one more backup commit: `previous` (or a first measure of `baseBytes` taken
 * before this commit's objects) plus `addedBytes`, keeping the newest {@link KEEP_BACKUPS} entries.
 * When the clone's packs (`packsBytes`) hold more than `previous` counts, the record goes on from
 * them.
 */
export function addGrowth(
  previous: GrowthRecord | undefined,
  first: FirstMeasure,
  entry: GrowthEntry,
): GrowthRecord {
  const measuredBy: MeasuredBy = first.partial
    ? "packed (partial clone: at least)"
    : first.shallow
    ? "packed (shallow clone: at least)"
    : "packed";
  const base = previous ?? { format: FORMAT, sizeBytes: first.baseBytes, measuredBy, backups: [] };
  return {
    format: FORMAT,
    sizeBytes: Math.max(base.sizeBytes, first.packsBytes ?? 0) + entry.addedBytes,
    // the packs of a complete clone measure the whole repository: no longer "at least"
    measuredBy: (first.packsBytes ?? 0) > base.sizeBytes ? "packed" : base.measuredBy,
    backups: [...base.backups, entry].slice(-KEEP_BACKUPS),
  };
}

/** The bytes of the packs in a `git count-objects -v` report (`size-pack`, in KiB). Pure. */
export function packsOf(counts: string): number {
  return Number(counts.match(/^size-pack: (\d+)$/m)?.[1] ?? 0) * 1024;
}

/**
 * git's name hash of a path (`pack_name_hash` of pack-objects, version 1): pack-objects sorts the
 * objects by it and tries each against its neighbours as a delta base, and looks up one preferred
 * base per hash. It sums the characters, each shifted two bits further right per character after
 * it, so that many paths share one hash (`t11/data.sql` and `t50/data.sql` do). Pure.
 */
export function packNameHash(name: string): number {
  let hash = 0;
  for (const c of new TextEncoder().encode(name)) {
    if (c === 0x20 || (c >= 0x09 && c <= 0x0d)) continue;
    hash = ((hash >>> 2) + (c << 24)) >>> 0;
  }
  return hash;
}

/**
 * Where an object of a backup root sits, for pairing it with the previous commit's (pure): its
 * path, with `archive/<name>/` read as `latest/` and each run of digits in its last segment as
 * `#` (a schema's dump is named by its time: `public_schema_20260101_031700.dump`).
 */
export function deltaKey(path: string): string {
  const segs = path.split("/");
  if (segs[0] === "archive" && segs.length >= 2) segs.splice(0, 2, "latest");
  segs[segs.length - 1] = segs[segs.length - 1].replace(/\d+/g, "#");
  return segs.join("/");
}

/**
 * The `n`th of a series of names whose {@link packNameHash}es all differ (pure): twelve characters
 * of `@ A B C` (0x40 to 0x43), the base-4 digits of `n`. Each character's two low bits land on
 * bits of the hash no other character's do, and the rest adds the same for every name.
 */
export function hashName(n: number): string {
  let name = "";
  for (let i = 0; i < 12; i++) {
    name = String.fromCharCode(0x40 + (n % 4)) + name;
    n = Math.floor(n / 4);
  }
  return name;
}

/** An object of a tree listing: its id and path under the root (type and mode when known). */
export interface ListedObject {
  oid: string;
  path: string;
  /** `ls-tree`'s mode (`100644`, `040000`, …) and type, for objects of the previous commit. */
  mode?: string;
  type?: string;
}

/** The input of {@link planMeasurePack}'s pack: a preferred-base tree and the objects to pack. */
export interface MeasurePack {
  /** The entries of a tree (`mktree -z` lines without the NUL) holding each chosen delta base. */
  baseEntries: string[];
  /** `pack-objects` stdin lines: `<oid> <name>`, each object named like its base. */
  objects: string[];
}

/**
 * Plans the pack that measures what a commit adds (pure). `added` are its new objects; `previous`
 * the previous commit's objects present in this clone. Each added object gets as its delta base
 * the previous object at its place: the same path, else the same {@link deltaKey} (an object in
 * `latest/` first, then the last in path order). pack-objects takes one preferred base per name
 * hash, and its default window often misses the right base among many files named `data.sql`;
 * so each base is put in a flat tree under a name whose {@link packNameHash} is its own, and the
 * added object is given the same name: pack-objects then puts the two side by side. Objects without
 * a base come last, under their own paths.
 */
export function planMeasurePack(
  added: readonly ListedObject[],
  previous: readonly ListedObject[],
): MeasurePack {
  const byPath = new Map<string, ListedObject>();
  const byKey = new Map<string, ListedObject>();
  const sorted = [...previous].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const o of sorted) {
    if (!o.mode || !o.type) continue;
    byPath.set(o.path, o);
    const key = deltaKey(o.path);
    const had = byKey.get(key);
    if (!had || !had.path.startsWith("latest/") || o.path.startsWith("latest/")) byKey.set(key, o);
  }
  let next = 0;
  const freshName = () => hashName(next++);
  const baseName = new Map<string, string>();
  const baseEntries: string[] = [];
  const objects: string[] = [];
  const unpaired: string[] = [];
  for (const o of added) {
    const base = byPath.get(o.path) ?? byKey.get(deltaKey(o.path));
    if (!base || base.oid === o.oid) {
      unpaired.push(`${o.oid} ${o.path.replace(/[\r\n]/g, "_")}`.trimEnd());
      continue;
    }
    let name = baseName.get(base.oid);
    if (name === undefined) {
      name = freshName();
      baseName.set(base.oid, name);
      baseEntries.push(`${base.mode} ${base.type} ${base.oid}\t${name}`);
    }
    objects.push(`${o.oid} ${name}`);
  }
  // after the others: git looks up a preferred base once per name hash, the first time it sees it
  return { baseEntries, objects: [...objects, ...unpaired] };
}

/** A repository's size, its growth, and where the growth leads. */
export interface GrowthProjection {
  sizeBytes: number;
  /** False when the first measure came from a partial clone (the size is then a lower bound). */
  exact: boolean;
  /** The newest backup's bytes. */
  lastAddedBytes?: number;
  /** The average bytes per backup over the last 30 days' backups (or the newest ten). */
  perBackupBytes?: number;
  /** Bytes a day over that span; undefined with fewer than two backups a day apart or more. */
  perDayBytes?: number;
  /** The size {@link PROJECTION_DAYS} days from now at that rate. */
  projectedBytes?: number;
  /** The first GitHub limit the repository is over, or that it passes within the projection. */
  limit?: { bytes: number; days: number };
}

const DAY = 86_400_000;

/**
 * Projects a record at time `now` (pure). The rate is that of the last 30 days' backups (at least
 * the newest two, at most the newest ten when the last 30 days hold fewer), from the first of them
 * to `now`: the bytes they added over the days they span.
 */
export function projectGrowth(r: GrowthRecord, now: Date): GrowthProjection {
  const out: GrowthProjection = { sizeBytes: r.sizeBytes, exact: r.measuredBy === "packed" };
  const n = r.backups.length;
  if (n === 0) return withLimit(out);
  out.lastAddedBytes = r.backups[n - 1].addedBytes;
  const recent = r.backups.filter((b) => now.getTime() - new Date(b.at).getTime() <= 30 * DAY);
  const window = recent.length >= 2 ? recent : r.backups.slice(-10);
  out.perBackupBytes = Math.round(window.reduce((s, b) => s + b.addedBytes, 0) / window.length);
  const first = new Date(window[0].at).getTime();
  const spanDays = (now.getTime() - first) / DAY;
  if (window.length >= 2 && spanDays >= 1) {
    // the first backup's own bytes happened at the start: the rate counts what came after it
    const after = window.slice(1).reduce((s, b) => s + b.addedBytes, 0);
    out.perDayBytes = Math.round(after / spanDays);
    out.projectedBytes = r.sizeBytes + Math.round(out.perDayBytes * PROJECTION_DAYS);
  }
  return withLimit(out);
}

/**
 * The limit to warn about: the next one the projection passes (with the days until then), else
 * the largest one the repository is already over (days 0).
 */
function withLimit(p: GrowthProjection): GrowthProjection {
  const next = GITHUB_LIMITS.find((l) => l > p.sizeBytes);
  if (next !== undefined && p.projectedBytes !== undefined && p.projectedBytes >= next && p.perDayBytes) {
    return {
      ...p,
      limit: { bytes: next, days: Math.max(1, Math.ceil((next - p.sizeBytes) / p.perDayBytes)) },
    };
  }
  const over = GITHUB_LIMITS.filter((l) => l <= p.sizeBytes).at(-1);
  return over === undefined ? p : { ...p, limit: { bytes: over, days: 0 } };
}

/** The hint of a growth warning (docs/troubleshooting.md). */
export const GROWTH_HINT =
  "move the backups to an object store (--store s3://… or azblob://…), or start the repository's history again; pruning archives does not shrink git history (docs/storage.md#git-at-scale)";

/**
 * What the size and the rate are not: they count each backup as packed against the previous
 * version of each file, as `git repack -a -d -f --window=250` stores it, while `git gc` (and GitHub,
 * which by default packs with git's default pairing) can keep more for a later backup: git's default window
 * misses the previous version of many files of one name (4.3× for the bench database, 1.1× to 1.7×
 * for 100 small tables; docs/storage.md#growth). A complete clone's own packs, as
 * `git count-objects` reports them, replace the size when larger ({@link addGrowth}).
 */
export const GC_NOTE = "git gc may keep more";

/** `1 GB` / `5 GB`. */
const limitText = (bytes: number) => `${bytes / 1e9} GB`;

/**
 * The repository line of a summary or listing (pure), e.g. `120.4 MB packed (git gc may keep more),
 * this backup added 1.2 MB, 1.2 MB per backup on average, about 1.2 MB a day (228.4 MB in 90 days)`.
 */
export function formatGrowth(p: GrowthProjection): string {
  const parts = [`${p.exact ? "" : "at least "}${formatBytes(p.sizeBytes)} packed (${GC_NOTE})`];
  if (p.lastAddedBytes !== undefined) parts.push(`this backup added ${formatBytes(p.lastAddedBytes)}`);
  if (p.perBackupBytes !== undefined) parts.push(`${formatBytes(p.perBackupBytes)} per backup on average`);
  if (p.perDayBytes !== undefined && p.projectedBytes !== undefined) {
    parts.push(
      `about ${formatBytes(p.perDayBytes)} a day (${
        formatBytes(p.projectedBytes)
      } in ${PROJECTION_DAYS} days)`,
    );
  }
  return parts.join(", ");
}

/** The warning when the repository is over, or will pass within 90 days, a GitHub limit; else undefined. */
export function growthWarning(p: GrowthProjection): string | undefined {
  if (!p.limit) return undefined;
  const what = p.limit.bytes === GITHUB_LIMITS[0] ? "GitHub recommends" : "GitHub strongly recommends";
  if (p.limit.days === 0) {
    return `the backup repository holds ${formatBytes(p.sizeBytes)} packed, more than the ${
      limitText(p.limit.bytes)
    } ${what} keeping it under`;
  }
  return `the backup repository (${formatBytes(p.sizeBytes)} packed) grows about ${
    formatBytes(p.perDayBytes ?? 0)
  } a day and will pass ${
    limitText(p.limit.bytes)
  }, the size ${what} keeping it under, in about ${p.limit.days} day${
    p.limit.days === 1 ? "" : "s"
  } (sooner if git gc keeps more)`;
}
