/**
 * How big the git repository that holds a root is, how fast its backups make it grow, and when it
 * will pass the sizes GitHub recommends (under 1 GB, strongly under 5 GB). Pure: the record each
 * backup commit updates (`<root>/repository.json`, written by git.ts) is parsed, extended and
 * projected here; nothing runs git.
 *
 * The bytes counted are those of the objects a backup commit adds, as git stores them before
 * packing (zlib-compressed, no deltas): an upper bound of what the push adds, since GitHub packs
 * similar files as deltas. Pruning archives does not make a repository smaller: its history keeps
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

/** `<root>/repository.json`. */
export interface GrowthRecord {
  format: 1;
  /** The repository's size after the newest backup: its first measure plus every backup's bytes. */
  sizeBytes: number;
  /** How the first measure was taken: `count-objects` of a complete clone, or of a partial one (too low). */
  measuredBy: "count-objects" | "count-objects (partial clone: at least)";
  /** The newest backups, oldest first. */
  backups: GrowthEntry[];
}

/** A record from the file's text, or undefined when it is missing or not one (it is then started again). */
export function parseGrowth(text: string | undefined): GrowthRecord | undefined {
  if (text === undefined) return undefined;
  try {
    const r = JSON.parse(text);
    if (
      r?.format !== 1 || !Number.isSafeInteger(r.sizeBytes) || r.sizeBytes < 0 || !Array.isArray(r.backups) ||
      typeof r.measuredBy !== "string"
    ) return undefined;
    const backups: GrowthEntry[] = [];
    for (const b of r.backups) {
      if (typeof b?.at !== "string" || Number.isNaN(new Date(b.at).getTime())) return undefined;
      if (!Number.isSafeInteger(b.addedBytes) || b.addedBytes < 0) return undefined;
      backups.push({ at: b.at, addedBytes: b.addedBytes });
    }
    return { format: 1, sizeBytes: r.sizeBytes, measuredBy: r.measuredBy, backups };
  } catch {
    return undefined;
  }
}

/**
 * The record after one more backup commit: `previous` (or a first measure of `baseBytes` taken
 * before this commit's objects) plus `addedBytes`, keeping the newest {@link KEEP_BACKUPS} entries.
 */
export function addGrowth(
  previous: GrowthRecord | undefined,
  first: { baseBytes: number; partial: boolean },
  entry: GrowthEntry,
): GrowthRecord {
  const base = previous ?? {
    format: 1 as const,
    sizeBytes: first.baseBytes,
    measuredBy: first.partial ? "count-objects (partial clone: at least)" as const : "count-objects" as const,
    backups: [],
  };
  return {
    format: 1,
    sizeBytes: base.sizeBytes + entry.addedBytes,
    measuredBy: base.measuredBy,
    backups: [...base.backups, entry].slice(-KEEP_BACKUPS),
  };
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
  const out: GrowthProjection = { sizeBytes: r.sizeBytes, exact: r.measuredBy === "count-objects" };
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

/** `1 GB` / `5 GB`. */
const limitText = (bytes: number) => `${bytes / 1e9} GB`;

/**
 * The repository line of a summary or listing (pure), e.g.
 * `repository 120.4 MB, +1.2 MB per backup, about 2.1 MB a day (362.0 MB in 90 days)`.
 */
export function formatGrowth(p: GrowthProjection): string {
  const parts = [`${p.exact ? "" : "at least "}${formatBytes(p.sizeBytes)}`];
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
    return `the backup repository holds ${formatBytes(p.sizeBytes)}, more than the ${
      limitText(p.limit.bytes)
    } ${what} keeping it under`;
  }
  return `the backup repository (${formatBytes(p.sizeBytes)}) grows about ${
    formatBytes(p.perDayBytes ?? 0)
  } a day and will pass ${
    limitText(p.limit.bytes)
  }, the size ${what} keeping it under, in about ${p.limit.days} day${p.limit.days === 1 ? "" : "s"}`;
}
