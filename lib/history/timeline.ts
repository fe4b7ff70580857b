/**
 * A table through time (`history --table`): every backup of a root, on disk (latest/ and archive/)
 * and in the history of the git repository holding it, or every backup in an object store
 * (`--store`), read from the manifests alone, and the backups in which the table's files changed.
 * Finding the changes is pure.
 * @module
 */
import { join } from "node:path";
import { BackupError, usageError } from "../base/errors.ts";
import { runPool } from "../base/pool.ts";
import type { ObjectStore } from "../store/object.ts";
import { listBackups, readStoredManifest, type StoredBackup } from "../store/remoteread.ts";
import { readArchives } from "../store/listing.ts";
import { type Manifest, MANIFEST_NAME, parseManifest } from "../store/manifest.ts";
import { type GitBackup, gitTop, latestHistory, pathInRepo } from "../store/revision.ts";
import { ARCHIVE, LATEST } from "../store/rotation.ts";
import { sqlQualified } from "../pg/ident.ts";

/** One backup with its manifest. */
export interface KnownBackup {
  /** `latest`, `archive/<name>`, or `<commit7>:<path>` for one only in git history. */
  label: string;
  manifest: Manifest;
  /** Where it is: its folder on disk, or its commit when only git history still has it. */
  dir?: string;
  git?: GitBackup;
  /** Its manifest's object when it is in an object store. */
  stored?: StoredBackup;
}

/** One backup in which the table changed. */
export interface TimelineEntry {
  label: string;
  createdAt: string;
  /** `created` (first seen, or back after a gap), `schema`, `data`, `schema+data`, `dropped`. */
  change: "created" | "schema" | "data" | "schema+data" | "dropped";
  rows: number | null;
  /** Bytes of the table's files; null when dropped. */
  bytes: number | null;
}

/**
 * What tells one backup from another: its full creation time (milliseconds included), its source
 * and its files' checksums. The same backup seen twice (in latest/ and in the commit that added
 * it, or in archive/ after rotation) has the same manifest and so the same identity; two backups
 * taken in the same second do not (their archive names, cut to the second, may be equal). Pure.
 */
export function backupIdentity(m: Manifest): string {
  const files = Object.keys(m.files).sort().map((k) => `${k}=${m.files[k].sha256}`);
  return JSON.stringify([m.createdAt, m.source ?? null, files]);
}

/**
 * `found` (as {@link knownBackups} finds them: latest, the archives, then git history newest
 * commit first) with each backup once, under the first label it was found with, oldest first by
 * full creation time; backups of the same time keep git's order (the older commit first). A
 * manifest without a valid createdAt is left out: it cannot be placed in time. Pure.
 */
export function distinctBackups(found: readonly KnownBackup[]): KnownBackup[] {
  const seen = new Set<string>();
  const out: { b: KnownBackup; at: number; order: number }[] = [];
  found.forEach((b, i) => {
    const at = new Date(b.manifest.createdAt).getTime();
    if (Number.isNaN(at)) return;
    const id = backupIdentity(b.manifest);
    if (seen.has(id)) return;
    seen.add(id);
    // on disk first (latest is the newest, then archives newest first), then git newest first:
    // found later means older, among backups of the same time
    out.push({ b, at, order: -i });
  });
  return out.sort((x, y) => x.at - y.at || x.order - y.order).map((x) => x.b);
}

/**
 * The backups of `root`: latest, the archives, and (when the root is in a git repository) each
 * commit's latest/ that is neither of those any more, oldest first. The same backup is listed
 * once, under its name on disk when it is there; two backups taken in the same second are two
 * (see {@link distinctBackups}).
 */
export async function knownBackups(root: string): Promise<KnownBackup[]> {
  const found: KnownBackup[] = [];
  try {
    const path = join(root, LATEST, MANIFEST_NAME);
    found.push({
      label: LATEST,
      manifest: parseManifest(await Deno.readTextFile(path), path),
      dir: join(root, LATEST),
    });
  } catch {
    // no readable latest
  }
  for (const a of await readArchives(root)) {
    if (a.manifest) found.push({ label: `${ARCHIVE}/${a.name}`, manifest: a.manifest, dir: a.dir });
  }
  const top = await gitTop(root).catch(() => undefined);
  if (top) {
    for (const g of await latestHistory(top, await pathInRepo(top, root))) {
      found.push({ label: g.label, manifest: g.manifest, git: g });
    }
  }
  return distinctBackups(found);
}

/** Manifests read at once from an object store. */
const MANIFEST_READS = 8;

/** The manifest of a backup in an object store, or undefined when it is damaged or was pruned meanwhile. */
export async function manifestIfReadable(store: ObjectStore, b: StoredBackup): Promise<Manifest | undefined> {
  try {
    return (await readStoredManifest(store, b.key)).manifest;
  } catch (e) {
    if (e instanceof BackupError && e.exitCode >= 130) throw e; // interrupted
    return undefined;
  }
}

/**
 * The backups in the object store `store` (`--store`), oldest first, each with its manifest (read
 * a few at a time; one that does not read is left out): the newest labelled `latest`, the others
 * by name, as `list --store` shows them.
 */
export async function storedBackups(store: ObjectStore): Promise<KnownBackup[]> {
  const all = await listBackups(store);
  const manifests = await runPool(all.map((b) => () => manifestIfReadable(store, b)), MANIFEST_READS);
  const out: KnownBackup[] = [];
  all.forEach((b, i) => {
    const manifest = manifests[i];
    if (manifest) out.push({ label: b.name, manifest, stored: b });
  });
  if (out.length > 0) out[out.length - 1].label = LATEST;
  return out;
}

function findTable(m: Manifest, schema: string, table: string) {
  return m.schemas.find((s) => s.name === schema)?.tables.find((t) => t.name === table);
}

/**
 * The backups (oldest first) in which `schema.table` changed: first seen, schema.sql or data
 * changed (by the files' SHA-256 in the manifests), dropped, or back. Pure. Throws a usage error
 * when the table is in none of them.
 */
export function tableTimeline(backups: readonly KnownBackup[], schema: string, table: string, where: string) {
  const entries: TimelineEntry[] = [];
  let prev: { schema: string; data: string } | undefined;
  let present = 0;
  for (const b of backups) {
    const t = findTable(b.manifest, schema, table);
    const base = { label: b.label, createdAt: b.manifest.createdAt };
    if (!t) {
      if (prev) entries.push({ ...base, change: "dropped", rows: null, bytes: null });
      prev = undefined;
      continue;
    }
    present++;
    const sha = (rel: string) => b.manifest.files[rel]?.sha256 ?? `?${rel}`;
    const now = { schema: t.schemaFile ? sha(t.schemaFile) : "", data: t.dataFiles.map(sha).join(",") };
    const row = { ...base, rows: t.rows, bytes: t.bytes };
    if (!prev) entries.push({ ...row, change: "created" });
    else if (prev.schema !== now.schema && prev.data !== now.data) {
      entries.push({ ...row, change: "schema+data" });
    } else if (prev.schema !== now.schema) entries.push({ ...row, change: "schema" });
    else if (prev.data !== now.data) entries.push({ ...row, change: "data" });
    prev = now;
  }
  if (present === 0) {
    throw usageError(
      `table ${sqlQualified(schema, table)} is in none of the ${backups.length} backups in ${where}`,
      "check the name (SCHEMA.TABLE, quoted as in SQL when it needs it) and --out (or --store) and --env; 'backup.ts list' shows the backups",
    );
  }
  // seconds that more than one backup was taken in: the text shows those times to the millisecond
  const perSecond = new Map<string, number>();
  for (const b of backups) {
    const sec = secondOf(b.manifest.createdAt);
    perSecond.set(sec, (perSecond.get(sec) ?? 0) + 1);
  }
  const sharedSeconds = new Set([...perSecond].filter(([, n]) => n > 1).map(([sec]) => sec));
  return { entries, backups: backups.length, present, sharedSeconds };
}

/** An ISO time cut to its second (`2026-12-01T09:30:10.250Z` → `2026-12-01T09:30:10Z`). Pure. */
export function secondOf(iso: string): string {
  return iso.replace(/\.\d+Z$/, "Z");
}
