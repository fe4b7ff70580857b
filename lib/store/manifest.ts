/**
 * manifest.json: what one backup holds. Types, reading, writing and checksum checks.
 * The format is documented in docs/backup.md (manifest.json).
 * @module
 */
import { BackupError } from "../base/errors.ts";

/** Where a backup came from (GitHub context, flags, or `local`). */
export interface ManifestSource {
  repo: string;
  event: string;
  sha: string;
  ref?: string;
}

/** One table of a schema. */
export interface ManifestTable {
  name: string;
  /** Exact row count, read in the backup's snapshot (a partitioned table: the sum of its partitions). */
  rows: number | null;
  /** Path of schema.sql relative to the backup directory. */
  schemaFile: string;
  /** Paths of data.sql, or of its numbered parts in restore order. Empty when there is no data entry. */
  dataFiles: string[];
  /** Bytes of schemaFile plus dataFiles. */
  bytes: number;
  /** "r" (table) or "p" (partitioned table). */
  kind?: "r" | "p";
  /** Parent partitioned table ("schema.table"), when this table is a partition. */
  partitionOf?: string;
}

/** One schema: its custom-format dump and its tables. */
export interface ManifestSchema {
  name: string;
  /** Path of the custom-format dump, or the first of its chunks. */
  dump: string;
  /** Chunks of the dump in order, when it was split (absent otherwise). */
  dumpParts?: string[];
  dumpBytes: number;
  /** True for schemas Supabase manages (auth, storage, …). */
  managed?: boolean;
  tables: ManifestTable[];
}

/** An extension of the backed-up database (every one but plpgsql and those in pg_catalog). */
export interface ManifestExtension {
  name: string;
  /** The schema it was installed in (also when that schema is not in the backup). */
  schema: string;
  /** Its version in the source (informational: a restore creates the target's default version). */
  version: string;
}

/** A table whose data was not backed up, and why. */
export interface ManifestSkipped {
  schema: string;
  table: string;
  reason: string;
}

/** One file's size and checksum (of its plaintext when encrypted). */
export interface ManifestFile {
  bytes: number;
  sha256: string;
  /** Set when the stored file is compressed: its stored form. */
  compression?: "gzip" | "zstd";
  /** Set when the stored file is age-encrypted. */
  encrypted?: boolean;
  /**
   * Size and checksum of the stored bytes, when they differ from the plaintext (compressed or
   * encrypted): lets verify check an encrypted backup without its identity.
   */
  stored?: { bytes: number; sha256: string };
}

/** The whole manifest.json. */
export interface Manifest {
  format: number;
  createdAt: string;
  tool: string;
  environment?: string;
  source: ManifestSource;
  database: { name: string; serverVersion: string; sizeBytes: number; host: string };
  pgDumpVersion: string;
  snapshot: { consistent: boolean; id?: string; note?: string };
  status: "ok" | "partial";
  roles: string | null;
  schemas: ManifestSchema[];
  /**
   * Every extension of the database, in creation order, whether or not its schema is backed up.
   * Absent in backups made before the field existed (their dumps carry no `CREATE EXTENSION`, or
   * only in the dump of the extension's schema).
   */
  extensions?: ManifestExtension[];
  skipped: ManifestSkipped[];
  files: Record<string, ManifestFile>;
  durationMs: number;
}

/** The manifest's file name inside a backup directory. */
export const MANIFEST_NAME = "manifest.json";

/** Serialises a manifest deterministically (stable key order as declared, 2-space indent). */
export function serializeManifest(m: Manifest): string {
  const files: Record<string, ManifestFile> = {};
  for (const k of Object.keys(m.files).sort()) files[k] = m.files[k];
  return JSON.stringify({ ...m, files }, null, 2) + "\n";
}

/**
 * Parses manifest text and checks its shape. Throws a {@link BackupError} naming `where` when the
 * text is not a manifest this tool can read.
 */
export function parseManifest(text: string, where: string): Manifest {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (e) {
    throw new BackupError(`${where} is not valid JSON`, {
      hint: "the backup is damaged; restore from an archive or re-run the backup",
      cause: e,
    });
  }
  const o = m as Partial<Manifest>;
  if (
    typeof o !== "object" || o === null || typeof o.format !== "number" || typeof o.createdAt !== "string" ||
    !Array.isArray(o.schemas) || typeof o.files !== "object"
  ) {
    throw new BackupError(`${where} is not a supabase-backup manifest`, {
      hint: "point --from at a folder that holds a manifest.json written by supabase-backup",
    });
  }
  return o as Manifest;
}

/** Reads and parses `<dir>/manifest.json`. Throws when it is missing or damaged. */
export async function readManifest(dir: string): Promise<Manifest> {
  const path = `${dir}/${MANIFEST_NAME}`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new BackupError(`no manifest at ${path}`, {
      hint: "the folder is not a complete backup; run 'backup.ts list' to see the backups there",
      cause: e,
    });
  }
  return parseManifest(text, path);
}

/** Total rows and table count of a manifest. */
export function manifestTotals(m: Manifest): { tables: number; rows: number; bytes: number } {
  let tables = 0, rows = 0, bytes = 0;
  for (const s of m.schemas) {
    for (const t of s.tables) {
      tables++;
      rows += t.rows ?? 0;
    }
  }
  for (const f of Object.values(m.files)) bytes += f.bytes;
  return { tables, rows, bytes };
}
