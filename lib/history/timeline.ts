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
import { ARCHIVE, archiveName, LATEST } from "../store/rotation.ts";

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
 * The backups of `root`: latest, the archives, and (when the root is in a git repository) each
 * commit's latest/ that is neither of those any more, oldest first. The same backup is listed
 * once (by its archive name), under its name on disk when it is there.
 */
export async function knownBackups(root: string): Promise<KnownBackup[]> {
  const out: KnownBackup[] = [];
  const seen = new Set<string>();
  const add = (label: string, manifest: Manifest, at: { dir?: string; git?: GitBackup }) => {
    let id: string;
    try {
      id = archiveName(manifest);
    } catch {
      return; // no valid createdAt: cannot be placed in time
    }
    if (seen.has(id)) return;
    seen.add(id);
    out.push({ label, manifest, ...at });
  };
  try {
    const path = join(root, LATEST, MANIFEST_NAME);
    add(LATEST, parseManifest(await Deno.readTextFile(path), path), { dir: join(root, LATEST) });
  } catch {
    // no readable latest
  }
  for (const a of await readArchives(root)) {
    if (a.manifest) add(`${ARCHIVE}/${a.name}`, a.manifest, { dir: a.dir });
  }
  const top = await gitTop(root).catch(() => undefined);
  if (top) {
    for (const g of await latestHistory(top, await pathInRepo(top, root))) {
      add(g.label, g.manifest, { git: g });
    }
  }
  return out.sort((a, b) =>
    new Date(a.manifest.createdAt).getTime() - new Date(b.manifest.createdAt).getTime()
  );
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
      `table ${schema}.${table} is in none of the ${backups.length} backups in ${where}`,
      "check the name (SCHEMA.TABLE, quoted as in SQL when it needs it) and --out (or --store) and --env; 'backup.ts list' shows the backups",
    );
  }
  return { entries, backups: backups.length, present };
}
