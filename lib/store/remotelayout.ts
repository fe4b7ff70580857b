/**
 * The layout of backups in an object store (`--store`), and the pure decisions of publishing,
 * reading and pruning them. Under the store's prefix (and `<environment>/` with `--env`):
 *
 * ```
 * blobs/<h0h1>/<sha256>      the stored bytes of one backup file, named by their SHA-256
 * backups/<name>.json        one backup's manifest.json; written last, in one PUT: the backup exists
 * locks/<kind>-<id>.json     a run that is writing (backup) or deleting blobs (prune)
 * ```
 *
 * `<name>` is the archive name of the backup (its time to the second first), the milliseconds of
 * that time and a random suffix, so that no two runs write the same manifest. Backups are ordered
 * by their time to the millisecond ({@link compareBackupNames}; names of earlier versions, without
 * the milliseconds, count as `.000`), then by name: two backups taken in the same second are in the
 * order they were taken, whatever their source or suffix. The latest backup is the last in that
 * order: a pointer that moves only when a complete backup's manifest appears, and that two racing
 * backups cannot clobber (there is nothing to overwrite). See docs/storage.md, "Object stores".
 * @module
 */
import type { Manifest, ManifestFile } from "./manifest.ts";
import { archiveName, timeFromArchiveName } from "./rotation.ts";

/** Folder of the blobs. */
export const BLOBS = "blobs/";
/** Folder of the manifests. */
export const BACKUPS = "backups/";
/** Folder of the locks. */
export const LOCKS = "locks/";
/** A lock not refreshed for this long belongs to a dead run. */
export const LOCK_STALE_MS = 30 * 60_000;
/** How often a live run refreshes its lock. */
export const LOCK_REFRESH_MS = 5 * 60_000;

/** The key of the blob with this SHA-256. Pure. */
export function blobKey(sha256: string): string {
  return `${BLOBS}${sha256.slice(0, 2)}/${sha256}`;
}

/** The SHA-256 a blob key names, or undefined for another key. Pure. */
export function blobHash(key: string): string | undefined {
  const m = key.match(/^blobs\/([0-9a-f]{2})\/([0-9a-f]{64})$/);
  return m && m[2].startsWith(m[1]) ? m[2] : undefined;
}

/** The stored form of a manifest entry: what its blob holds. Pure. */
export function storedOf(f: ManifestFile): { bytes: number; sha256: string } {
  return f.stored ?? { bytes: f.bytes, sha256: f.sha256 };
}

/**
 * A backup's manifest key, from its manifest and a random suffix (8 hex digits):
 * `backups/<archive name>--<milliseconds of createdAt>-<suffix>.json`. Pure.
 */
export function manifestKey(m: Pick<Manifest, "createdAt" | "source">, suffix: string): string {
  const ms = String(new Date(m.createdAt).getUTCMilliseconds()).padStart(3, "0");
  return `${BACKUPS}${archiveName(m)}--${ms}-${suffix}.json`;
}

/**
 * The time of a backup name to the millisecond: the archive name's second and the milliseconds
 * after it (`…--123-0badcafe`); `.000` for a name of an earlier version (`…--0badcafe`). Undefined
 * when the name does not start with a time. Pure.
 */
export function backupNameTime(name: string): number | undefined {
  const second = timeFromArchiveName(name);
  if (!second) return undefined;
  const ms = name.match(/--(\d{3})-[0-9a-f]{8}$/);
  return second.getTime() + (ms ? Number(ms[1]) : 0);
}

/**
 * The order of a store's backups (pure): by {@link backupNameTime}, a name without a time first,
 * then by name (racing runs in one millisecond: by their random suffix, the same for every reader).
 */
export function compareBackupNames(a: string, b: string): number {
  const ta = backupNameTime(a) ?? -Infinity, tb = backupNameTime(b) ?? -Infinity;
  if (ta !== tb) return ta < tb ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The backup name of a manifest key (`backups/<name>.json`), or undefined for another key. Pure. */
export function backupName(key: string): string | undefined {
  const m = key.match(/^backups\/([^/]+)\.json$/);
  return m ? m[1] : undefined;
}

/**
 * What the store keeps beside the manifest fields, in the same object (`"objects"`), to find
 * unchanged files of the next backup: the recipients the files were encrypted to (a SHA-256 of
 * the sorted list), and the SHA-256 of each schema's dump (by schema name) without pg_dump's
 * creation time.
 */
export interface StoreIndex {
  recipients?: string;
  dumps: Record<string, string>;
}

/**
 * The manifest as stored: manifest.json's fields (a reader of manifests sees a normal one) and the
 * {@link StoreIndex} under `objects`. Pure.
 */
export function storedManifestText(serialized: string, index: StoreIndex): string {
  const obj = JSON.parse(serialized);
  obj.objects = index;
  return JSON.stringify(obj, null, 2) + "\n";
}

/** The index of a stored manifest's text (empty for one without). Pure; never throws. */
export function indexOf(text: string): StoreIndex {
  try {
    const o = JSON.parse(text)?.objects;
    if (o && typeof o === "object") {
      const dumps: Record<string, string> = {};
      for (const [k, v] of Object.entries(o.dumps ?? {})) if (typeof v === "string") dumps[k] = v;
      return { ...(typeof o.recipients === "string" ? { recipients: o.recipients } : {}), dumps };
    }
  } catch {
    // not JSON: parseManifest reports it
  }
  return { dumps: {} };
}

/**
 * Where pg_dump's creation time lies in the head of a custom-format archive: `[start, end)`, or
 * undefined when `head` is not one (or too short). Format: `PGDMP`, version (3 bytes), int size,
 * offset size, format, compression (one byte from 1.15, an int before), then the time as 7 ints
 * (a sign byte and `intSize` bytes each). Pure.
 */
export function dumpTimeRange(head: Uint8Array): [number, number] | undefined {
  if (head.length < 12 || new TextDecoder().decode(head.subarray(0, 5)) !== "PGDMP") return undefined;
  const [major, minor] = [head[5], head[6]];
  const intSize = head[8];
  if (major !== 1 || intSize < 1 || intSize > 8) return undefined;
  const start = 11 + (minor >= 15 ? 1 : 1 + intSize);
  const end = start + 7 * (1 + intSize);
  return end <= head.length ? [start, end] : undefined;
}

/**
 * Reuses files of the previous backup that are unchanged (pure): a file at the same path with the
 * same plaintext, encoding and recipients, or a schema's dump whose plaintext differs only in
 * pg_dump's creation time (same `dumps` hash), takes the previous entry, so its blob is not
 * uploaded again. Only entries whose blob is `present` are reused. Returns the new manifest and
 * the paths whose entries were taken.
 */
export function reuseUnchanged(
  m: Manifest,
  index: StoreIndex,
  prev: { manifest: Manifest; index: StoreIndex } | undefined,
  present: ReadonlySet<string>,
): { manifest: Manifest; reused: string[] } {
  if (!prev || prev.index.recipients !== index.recipients) return { manifest: m, reused: [] };
  const files = { ...m.files };
  const reused: string[] = [];
  const sameForm = (a: ManifestFile, b: ManifestFile) =>
    a.bytes === b.bytes && a.compression === b.compression && !!a.encrypted === !!b.encrypted;
  const take = (path: string, from: ManifestFile) => {
    if (!present.has(blobKey(storedOf(from).sha256))) return;
    files[path] = from;
    reused.push(path);
  };
  for (const [path, f] of Object.entries(m.files)) {
    const p = prev.manifest.files[path];
    if (p && sameForm(f, p) && p.sha256 === f.sha256 && (f.encrypted || f.compression)) take(path, p);
  }
  for (const s of m.schemas) {
    const ps = prev.manifest.schemas.find((x) => x.name === s.name);
    const now = index.dumps[s.name];
    if (!ps || !now || now !== prev.index.dumps[ps.name]) continue;
    // The same dump but for its creation time: each of its files (its parts, cut at the same sizes)
    // is taken from the previous backup, so only the manifest changes.
    const parts = s.dumpParts ?? [s.dump];
    const before = ps.dumpParts ?? [ps.dump];
    if (parts.length !== before.length) continue;
    const pairs = parts.map((rel, i) => [rel, m.files[rel], prev.manifest.files[before[i]]] as const);
    if (pairs.every(([, f, p]) => f && p && sameForm(f, p))) {
      for (const [rel, f, p] of pairs) if (p!.sha256 !== f!.sha256) take(rel, p!);
    }
  }
  return { manifest: { ...m, files }, reused };
}

/** A lock's kind and owner id, from its key; undefined for another key. Pure. */
export function parseLockKey(key: string): { kind: "backup" | "prune"; id: string } | undefined {
  const m = key.match(/^locks\/(backup|prune)-([0-9a-f]{16})\.json$/);
  return m ? { kind: m[1] as "backup" | "prune", id: m[2] } : undefined;
}

/** Whether a lock last written at `modified` is stale at the store's time `now`. Pure. */
export function lockStale(modified: Date | undefined, now: Date): boolean {
  return modified !== undefined && now.getTime() - modified.getTime() > LOCK_STALE_MS;
}

/**
 * The blobs no kept backup references (pure): every blob key of `blobs` that no manifest in
 * `manifests` names. Manifests that could not be read must be passed as `unreadable > 0`: then
 * nothing is unreferenced (a blob might be one of theirs).
 */
export function unreferencedBlobs(
  blobs: readonly string[],
  manifests: readonly Manifest[],
  unreadable: number,
): string[] {
  if (unreadable > 0) return [];
  const used = new Set<string>();
  for (const m of manifests) for (const f of Object.values(m.files)) used.add(blobKey(storedOf(f).sha256));
  return blobs.filter((k) => blobHash(k) !== undefined && !used.has(k));
}
