/**
 * What Storage holds, read from the database: `storage.buckets` and `storage.objects`, in the
 * backup's snapshot, so the list of files is the one the database backup describes (never a
 * bucket listing). Rows are read as `to_jsonb(row)`, so the columns that a project's Storage
 * version lacks or adds do not matter; {@link bucketFromRow} and {@link objectFromRow} (pure) pick
 * the fields a backup keeps and check their types.
 * @module
 */
import type { Sql } from "../pg/connect.ts";
import { BackupError, usageError } from "../base/errors.ts";

/** A bucket and its settings. */
export interface Bucket {
  id: string;
  name: string;
  public: boolean;
  /** Bytes; null: the project's limit. */
  fileSizeLimit: number | null;
  /** null: any type. */
  allowedMimeTypes: string[] | null;
  owner: string | null;
  ownerId: string | null;
}

/** One object row: what its file should be, and its metadata. */
export interface ObjectRow {
  bucket: string;
  name: string;
  size: number;
  /** As Storage records it: the quoted MD5 of the bytes (or of the parts, with `-N`). */
  etag: string;
  contentType: string | null;
  cacheControl: string | null;
  /** `user_metadata` as stored (any JSON value), null when none. */
  userMetadata: unknown;
  owner: string | null;
  ownerId: string | null;
}

/** Which buckets to take: all but `exclude`, or only `include` when it is not empty. */
export interface BucketSelection {
  include: string[];
  exclude: string[];
}

/** The buckets and objects a backup takes. */
export interface StorageCatalog {
  buckets: Bucket[];
  objects: ObjectRow[];
}

function str(v: unknown): string | null {
  return typeof v === "string" ? v : null;
}

function num(v: unknown): number | null {
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return v;
  if (typeof v === "string" && /^\d+$/.test(v) && Number.isSafeInteger(Number(v))) return Number(v);
  return null;
}

/** A bucket from its `to_jsonb` row. Pure; throws when id or name is not text. */
export function bucketFromRow(row: Record<string, unknown>): Bucket {
  const id = str(row.id);
  if (id === null) throw new BackupError(`a storage.buckets row has no id`, { hint: "report this as a bug" });
  const mimes = Array.isArray(row.allowed_mime_types)
    ? row.allowed_mime_types.filter((m): m is string => typeof m === "string")
    : null;
  return {
    id,
    name: str(row.name) ?? id,
    public: row.public === true,
    fileSizeLimit: num(row.file_size_limit),
    allowedMimeTypes: mimes,
    owner: str(row.owner),
    ownerId: str(row.owner_id),
  };
}

/**
 * An object from its `to_jsonb` row, or undefined for a row that is not a current file (a delete
 * marker or an archived version) or has no size and ETag yet (an upload in progress). Pure.
 */
export function objectFromRow(row: Record<string, unknown>): ObjectRow | undefined {
  if (row.is_delete_marker === true || (row.archived_at !== undefined && row.archived_at !== null)) return;
  const bucket = str(row.bucket_id);
  const name = str(row.name);
  const meta = (typeof row.metadata === "object" && row.metadata !== null ? row.metadata : {}) as Record<
    string,
    unknown
  >;
  const size = num(meta.size) ?? num(meta.contentLength);
  const etag = str(meta.eTag);
  if (bucket === null || name === null || size === null || etag === null) return;
  const user = row.user_metadata;
  return {
    bucket,
    name,
    size,
    etag,
    contentType: str(meta.mimetype),
    cacheControl: str(meta.cacheControl),
    userMetadata: user === undefined ? null : user,
    owner: str(row.owner),
    ownerId: str(row.owner_id),
  };
}

/** Whether a bucket is selected. Pure. */
export function bucketSelected(id: string, sel: BucketSelection): boolean {
  if (sel.include.length > 0 && !sel.include.includes(id)) return false;
  return !sel.exclude.includes(id);
}

/**
 * Reads the selected buckets and their objects through `conn` (the backup's snapshot
 * connection), objects in bucket and name order. Throws a usage error when the database has no
 * Storage tables or a `--bucket` names a bucket it does not have, and a {@link BackupError} when
 * they cannot be read.
 */
export async function readCatalog(conn: Sql, sel: BucketSelection): Promise<StorageCatalog> {
  const [{ ok }] = await conn<{ ok: boolean }[]>`
    select to_regclass('storage.objects') is not null and to_regclass('storage.buckets') is not null as ok`;
  if (!ok) {
    throw usageError(
      "the database has no storage.objects table, so it has no Storage files to back up",
      "drop --storage (it is for Supabase projects)",
    );
  }
  let bucketRows: { b: Record<string, unknown> }[];
  const objects: ObjectRow[] = [];
  try {
    bucketRows = await conn<{ b: Record<string, unknown> }[]>`
      select to_jsonb(b) as b from storage.buckets b order by b.id collate "C"`;
    const all = bucketRows.map((r) => bucketFromRow(r.b));
    const unknown = sel.include.filter((id) => !all.some((b) => b.id === id));
    if (unknown.length > 0) {
      throw usageError(
        `--bucket '${unknown[0]}' is not a bucket of this project`,
        `the project has: ${all.map((b) => b.id).join(", ") || "no buckets"}`,
      );
    }
    const ids = all.filter((b) => bucketSelected(b.id, sel)).map((b) => b.id);
    if (ids.length > 0) {
      const cursor = conn<{ o: Record<string, unknown> }[]>`
        select to_jsonb(o) - 'path_tokens' as o from storage.objects o
        where o.bucket_id = any(${ids}) order by o.bucket_id collate "C", o.name collate "C"`.cursor(2000);
      for await (const rows of cursor) {
        for (const r of rows) {
          const obj = objectFromRow(r.o);
          if (obj) objects.push(obj);
        }
      }
    }
    return { buckets: all.filter((b) => ids.includes(b.id)), objects };
  } catch (e) {
    if (e instanceof BackupError) throw e;
    const msg = (e as Error).message.split("\n")[0];
    throw new BackupError(`cannot read storage.buckets/storage.objects: ${msg}`, {
      hint: "back up as postgres (it reads the storage schema on Supabase), or drop --storage",
      cause: e,
    });
  }
}
