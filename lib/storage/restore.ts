/**
 * Restoring Storage files into a project (the same or a new one) through its S3 endpoint: the
 * buckets are created (public ones `public-read`), every file of the backup's map is uploaded from
 * its blob with its content type, cache control and metadata, after its blob's sha256 is checked,
 * and the ETag the target answers must be the MD5 of what was sent. Files the target already has
 * are left alone (same ETag and size: nothing to do; other bytes: left unless `clean`).
 *
 * What the S3 protocol cannot set (a bucket's size limit and MIME types, a file's owner, user
 * metadata that is not plain text) is set through the target database when one is given
 * (`--target-url`, as `postgres`); otherwise the restore says what it left out.
 *
 * {@link planStorageRestore} is pure: it turns the map, the selection and what the target holds into
 * a list of actions, which `--dry-run` prints and {@link restoreFiles} carries out.
 * @module
 */
import { BackupError, usageError } from "../base/errors.ts";
import { runPool } from "../base/pool.ts";
import { formatBytes } from "../base/size.ts";
import type { Sql } from "../pg/connect.ts";
import { type Bucket, bucketSelected, type BucketSelection } from "./catalog.ts";
import { type MapObject, objectKey, type StorageMap } from "./map.ts";
import { type Digest, hashBlob } from "./blobs.ts";
import { BlobMismatch, type BlobSource, checkedStream, hashStream } from "./remote.ts";
import { endpointHost, type S3Client } from "../store/s3.ts";
import { etagMd5 } from "./backup.ts";

/** What the target already holds: bucket ids, and each object's ETag and size by bucket and name. */
export interface TargetFiles {
  buckets: Set<string>;
  objects: Map<string, { etag: string; size: number }>;
}

/** One file's action. */
export interface FileAction {
  object: MapObject;
  /** upload: not there; replace: there with other bytes and `clean`; keep: same bytes; differs: other bytes, left. */
  action: "upload" | "replace" | "keep" | "differs";
}

/** The whole Storage restore plan. */
export interface StorageRestorePlan {
  buckets: { bucket: Bucket; action: "create" | "exists" }[];
  files: FileAction[];
  /** Bytes to send. */
  bytes: number;
}

function sameEtag(a: string, b: string): boolean {
  return a.replace(/"/g, "") === b.replace(/"/g, "");
}

/**
 * Plans a Storage restore. Throws a usage error when `--bucket` names a bucket the backup lacks.
 * Pure.
 */
export function planStorageRestore(
  map: StorageMap,
  sel: BucketSelection,
  target: TargetFiles,
  opts: { clean: boolean },
): StorageRestorePlan {
  const unknown = sel.include.filter((id) => !map.buckets.some((b) => b.id === id));
  if (unknown.length > 0) {
    throw usageError(
      `--bucket '${unknown[0]}' is not in this backup's Storage files`,
      `the backup has: ${map.buckets.map((b) => b.id).join(", ") || "no buckets"}`,
    );
  }
  const buckets = map.buckets.filter((b) => bucketSelected(b.id, sel)).map((bucket) => ({
    bucket,
    action: target.buckets.has(bucket.id) ? "exists" as const : "create" as const,
  }));
  const ids = new Set(buckets.map((b) => b.bucket.id));
  const files: FileAction[] = [];
  let bytes = 0;
  for (const object of map.objects) {
    if (!ids.has(object.bucket)) continue;
    const there = target.objects.get(objectKey(object.bucket, object.name));
    let action: FileAction["action"] = "upload";
    if (there) {
      const md5 = etagMd5(object.etag);
      const same = there.size === object.size && (sameEtag(there.etag, object.etag) ||
        (md5 !== undefined && etagMd5(there.etag) === md5));
      action = same ? "keep" : opts.clean ? "replace" : "differs";
    }
    if (action === "upload" || action === "replace") bytes += object.size;
    files.push({ object, action });
  }
  return { buckets, files, bytes };
}

/** The plan as text for `--dry-run`: one line per bucket, counts, and the files left alone. Pure. */
export function formatStorageRestorePlan(p: StorageRestorePlan, target: string): string {
  const count = (a: FileAction["action"]) => p.files.filter((f) => f.action === a).length;
  const out = [`Storage files into ${target}:`];
  for (const b of p.buckets) {
    const n = p.files.filter((f) => f.object.bucket === b.bucket.id).length;
    out.push(
      `  bucket ${b.bucket.id}: ${b.action === "create" ? "create" : "exists"}${
        b.bucket.public ? " (public)" : ""
      }, ${n} file(s)`,
    );
  }
  out.push(
    `  upload ${count("upload")} file(s), replace ${count("replace")}, ${formatBytes(p.bytes)}; ` +
      `already there ${count("keep")}; left alone (other bytes, no --clean) ${count("differs")}`,
  );
  for (const f of p.files.filter((x) => x.action === "differs").slice(0, 20)) {
    out.push(`  left alone: ${f.object.bucket}/${f.object.name} (the target has other bytes)`);
  }
  return out.join("\n");
}

/**
 * Reads what the target holds in the selected buckets of the map. A listed object whose ETag and
 * size are the map's is also read (one byte): after a database restore the rows are there without
 * their files, and those count as absent.
 */
export async function readTarget(
  s3: S3Client,
  map: StorageMap,
  sel: BucketSelection,
  jobs: number,
): Promise<TargetFiles> {
  const buckets = new Set(await s3.listBuckets());
  const objects = new Map<string, { etag: string; size: number }>();
  const wanted = new Map(map.objects.map((o) => [objectKey(o.bucket, o.name), o]));
  const probes: (() => Promise<void>)[] = [];
  for (const b of map.buckets) {
    if (!buckets.has(b.id) || !bucketSelected(b.id, sel)) continue;
    for await (const o of s3.listObjects(b.id)) {
      const key = objectKey(b.id, o.key);
      objects.set(key, { etag: o.etag, size: o.size });
      const w = wanted.get(key);
      if (w && w.size === o.size && sameEtag(w.etag, o.etag)) {
        probes.push(async () => {
          if (!(await s3.readable(b.id, o.key, o.size))) objects.delete(key);
        });
      }
    }
  }
  await runPool(probes, jobs);
  return { buckets, objects };
}

/** `x-amz-meta-*` headers for user metadata: only plain-text values fit; the rest needs the database. */
export function metadataHeaders(meta: unknown): { headers: Record<string, string>; complete: boolean } {
  if (meta === null || meta === undefined) return { headers: {}, complete: true };
  if (typeof meta !== "object" || Array.isArray(meta)) return { headers: {}, complete: false };
  const headers: Record<string, string> = {};
  let complete = true;
  for (const [k, v] of Object.entries(meta as Record<string, unknown>)) {
    if (typeof v === "string" && /^[a-z0-9-]+$/.test(k) && /^[\x20-\x7e]*$/.test(v) && v.trim() === v) {
      headers[k] = v;
    } else complete = false;
  }
  return { headers, complete };
}

/** What {@link restoreFiles} did. */
export interface StorageRestoreResult {
  bucketsCreated: number;
  uploaded: number;
  bytes: number;
  kept: number;
  leftAlone: number;
  /** Set through the target database (bucket settings, owners, user metadata). */
  fixedInDatabase: boolean;
  warnings: string[];
}

const DAMAGED_HINT =
  "run 'backup.ts verify' on this backup; restore from another backup if its blobs are damaged";

/**
 * Uploads one file from its blob: from a folder store, the blob is hashed first and then sent;
 * from an object store it is read once, checked as it streams ({@link checkedStream}: a damaged
 * blob's upload is cut short before its last bytes). Returns the digest of what was sent and the
 * ETag the target gave. Throws a {@link BackupError} naming the file when the blob is missing or
 * damaged.
 */
async function uploadFromBlob(
  f: MapObject,
  s3: S3Client,
  blobs: BlobSource,
  meta: Record<string, string>,
): Promise<{ digest: Digest; etag: string }> {
  const where = `${f.bucket}/${f.name}`;
  const unreadable = (e: unknown) =>
    new BackupError(`the blob of ${where} cannot be read: ${(e as Error).message.split("\n")[0]}`, {
      hint: DAMAGED_HINT,
      cause: e,
    });
  const damaged = () =>
    new BackupError(`the blob of ${where} does not match the backup's map (sha256 or size)`, {
      hint: DAMAGED_HINT,
    });
  const opts = {
    size: f.size,
    sha256: f.sha256,
    ...(f.contentType ? { contentType: f.contentType } : {}),
    ...(f.cacheControl ? { cacheControl: f.cacheControl } : {}),
    metadata: meta,
  };
  // an encrypted blob (`stored`) is decrypted as it streams, and checked as an object store's is
  if ((blobs.local !== undefined && !f.stored) || f.size === 0) {
    const local = f.stored ? undefined : blobs.local;
    const hashed = local !== undefined ? hashBlob(local, f) : blobs.open(f).then((b) => hashStream(b, true));
    const d = await hashed.catch((e) => {
      throw unreadable(e);
    });
    if (d.sha256 !== f.sha256 || d.bytes !== f.size) throw damaged();
    return { digest: d, etag: await s3.put(f.bucket, f.name, () => blobs.open(f), opts) };
  }
  let bad: BackupError | undefined;
  let last: ReturnType<typeof checkedStream> | undefined;
  const open = async () => {
    if (last?.failed()) bad = damaged(); // put retries by opening again: a damaged blob stays damaged
    if (bad) throw bad;
    const body = await blobs.open(f).catch((e) => {
      throw bad = unreadable(e);
    });
    last = checkedStream(body, f);
    return last.stream;
  };
  let etag: string;
  try {
    etag = await s3.put(f.bucket, f.name, open, opts);
  } catch (e) {
    if (bad) throw bad;
    if (findMismatch(e) || last?.failed()) throw damaged();
    throw e;
  }
  const d = last?.digest();
  if (!d) throw damaged();
  return { digest: d, etag };
}

/** Whether `e` (or an error it was caused by) is a {@link BlobMismatch}. Pure. */
function findMismatch(e: unknown): boolean {
  for (let x = e, i = 0; x instanceof Error && i < 8; x = x.cause, i++) {
    if (x instanceof BlobMismatch) return true;
  }
  return false;
}

/**
 * Carries out a plan: creates buckets, uploads files (`jobs` at a time), each from its blob in
 * `blobs` after checking the blob's sha256, and checks the target's ETag; then, with `sql` (the
 * target database), sets bucket settings, owners and user metadata exactly. Throws a
 * {@link BackupError} naming the first file that fails.
 */
export async function restoreFiles(
  plan: StorageRestorePlan,
  o: {
    s3: S3Client;
    blobs: BlobSource;
    jobs: number;
    sql?: Sql;
    log: (line: string) => void;
  },
): Promise<StorageRestoreResult> {
  const warnings: string[] = [];
  let created = 0;
  for (const b of plan.buckets) {
    if (b.action !== "create") continue;
    await o.s3.createBucket(b.bucket.id, b.bucket.public);
    created++;
  }
  const todo = plan.files.filter((f) => f.action === "upload" || f.action === "replace");
  let done = 0, sent = 0, partialMeta = 0;
  let lastPct = -1;
  await runPool(
    todo.map(({ object: f }) => async () => {
      const where = `${f.bucket}/${f.name}`;
      const meta = metadataHeaders(f.userMetadata);
      if (!meta.complete) partialMeta++;
      const { digest: d, etag } = await uploadFromBlob(f, o.s3, o.blobs, meta.headers);
      if (etagMd5(etag) !== d.md5) {
        throw new BackupError(
          `the target stored other bytes for ${where} (ETag ${etag}, sent MD5 ${d.md5})`,
          {
            hint: `check the target's Storage (${
              endpointHost(o.s3.settings.endpoint)
            }) and run the restore again with --clean`,
          },
        );
      }
      done++;
      sent += f.size;
      const pct = Math.floor((done / Math.max(1, todo.length)) * 10);
      if (pct !== lastPct || done === todo.length) {
        lastPct = pct;
        o.log(`storage files ${done}/${todo.length}, ${formatBytes(sent)} of ${formatBytes(plan.bytes)}`);
      }
    }),
    o.jobs,
  );
  const uploaded = new Set(todo.map((t) => objectKey(t.object.bucket, t.object.name)));
  if (o.sql) {
    await fixInDatabase(o.sql, plan, uploaded);
  } else {
    const limits = plan.buckets.filter((b) =>
      b.bucket.fileSizeLimit !== null || b.bucket.allowedMimeTypes !== null
    );
    if (limits.length) {
      warnings.push(
        `bucket size limits and MIME types were not set (${
          limits.map((b) => b.bucket.id).join(", ")
        }): give --target-url, or set them in the dashboard`,
      );
    }
    const owned = todo.filter((t) => t.object.owner || t.object.ownerId).length;
    if (owned) {
      warnings.push(
        `${owned} file(s) have an owner in the backup that the S3 protocol cannot set: give --target-url`,
      );
    }
    if (partialMeta) {
      warnings.push(
        `${partialMeta} file(s) have user metadata that is not plain text and was not set: give --target-url`,
      );
    }
  }
  for (const w of warnings) o.log(`warning: ${w}`);
  return {
    bucketsCreated: created,
    uploaded: todo.length,
    bytes: sent,
    kept: plan.files.filter((f) => f.action === "keep").length,
    leftAlone: plan.files.filter((f) => f.action === "differs").length,
    fixedInDatabase: !!o.sql,
    warnings,
  };
}

/**
 * Sets through the target database what S3 cannot: each bucket's settings as in the backup, and
 * the owner and user metadata of the files this restore uploaded. Parameters only: no text from
 * the backup becomes SQL.
 */
async function fixInDatabase(sql: Sql, plan: StorageRestorePlan, uploaded: Set<string>): Promise<void> {
  const rows = plan.files.filter((f) => uploaded.has(objectKey(f.object.bucket, f.object.name))).map((
    { object: f },
  ) => ({
    bucket: f.bucket,
    name: f.name,
    owner: f.owner,
    owner_id: f.ownerId,
    user_metadata: f.userMetadata,
  }));
  const buckets = plan.buckets.map(({ bucket: b }) => ({
    id: b.id,
    public: b.public,
    file_size_limit: b.fileSizeLimit,
    allowed_mime_types: b.allowedMimeTypes,
    owner: b.owner,
    owner_id: b.ownerId,
  }));
  try {
    await sql.begin(async (tx) => {
      await tx`update storage.buckets t set public = x.public, file_size_limit = x.file_size_limit,
          allowed_mime_types = x.allowed_mime_types, owner = x.owner, owner_id = x.owner_id
        from jsonb_to_recordset(${
        tx.json(buckets as unknown as Parameters<typeof tx.json>[0])
      }) as x(id text, public boolean,
          file_size_limit bigint, allowed_mime_types text[], owner uuid, owner_id text)
        where t.id = x.id`;
      for (let i = 0; i < rows.length; i += 1000) {
        await tx`update storage.objects t set owner = x.owner, owner_id = x.owner_id,
            user_metadata = x.user_metadata
          from jsonb_to_recordset(${
          tx.json(rows.slice(i, i + 1000) as unknown as Parameters<typeof tx.json>[0])
        }) as x(bucket text,
            name text, owner uuid, owner_id text, user_metadata jsonb)
          where t.bucket_id = x.bucket and t.name = x.name`;
      }
    });
  } catch (e) {
    throw new BackupError(
      `cannot set bucket settings and file owners in the target database: ${
        (e as Error).message.split("\n")[0]
      }`,
      {
        hint: "the files are uploaded; connect as postgres (it may update the storage tables) and run again",
        cause: e,
      },
    );
  }
}
