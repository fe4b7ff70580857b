/**
 * A table through time (`history --table`): every backup of a root, on disk (latest/ and archive/)
 * and in the history of the git repository holding it, read from the manifests alone, and the
 * backups in which the table's files changed. Finding the changes is pure.
 * @module
 */
import { join } from "node:path";
import { usageError } from "../base/errors.ts";
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
      "check the name (SCHEMA.TABLE, quoted as in SQL when it needs it) and --out/--env; 'backup.ts list' shows the backups",
    );
  }
  return { entries, backups: backups.length, present };
}
