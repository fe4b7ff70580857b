/**
 * Where a backup's files are read from: a directory on disk (a path), or a {@link BackupReader}
 * (a backup in an object store, lib/store/remoteread.ts). Restore, drill and verify read through
 * lib/store/decode.ts and lib/store/check.ts, which take either.
 * @module
 */
import type { Manifest, ManifestFile } from "./manifest.ts";

/** A backup whose files are not in a directory. */
export interface BackupReader {
  /** Where the backup is, for messages: `s3://bucket/prefix/backups/<name>`. */
  readonly where: string;
  /** Its manifest (already read and checked). */
  readonly manifest: Manifest;
  /**
   * The stored bytes of backup file `rel` (listed in the manifest as `entry`). Throws
   * Deno.errors.NotFound when they are missing.
   */
  open(rel: string, entry: ManifestFile): Promise<ReadableStream<Uint8Array>>;
  /**
   * For a backup read from a git commit: a file of its backup root (`rel` relative to the root, e.g.
   * a Storage blob `storage/blobs/<aa>/<sha256>`) as it was in the same commit. Throws
   * Deno.errors.NotFound when the commit lacks it. Unset for other readers.
   */
  openRootFile?(rel: string): Promise<ReadableStream<Uint8Array>>;
}

/** A backup directory or a reader. */
export type BackupSource = string | BackupReader;

/** The source for messages. Pure. */
export function sourceName(src: BackupSource): string {
  return typeof src === "string" ? src : src.where;
}
