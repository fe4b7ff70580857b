/**
 * The Storage part of `verify --drill`: the backup's files are restored, with the restore's own
 * code (lib/storage/restore.ts), into new scratch buckets on the target Storage server
 * (`--target-storage-*` / `$RESTORE_S3_*`, never the source's), each file is read back and its
 * bytes (sha256 and size) and metadata (content type, cache control, plain-text user metadata) are
 * compared with the backup's map, and the scratch buckets are emptied and deleted whatever happened.
 *
 * Scratch buckets are private (a public bucket's files would be readable by anyone during the
 * drill) and named `drill-<8 hex>-<n>`: they must not exist before, and only they are ever
 * deleted. What the S3 protocol cannot set (bucket limits, owners, JSON user metadata) is checked
 * by a restore with `--target-url`, not here.
 * @module
 */
import { createHash } from "node:crypto";
import { BackupError } from "../base/errors.ts";
import { runPool } from "../base/pool.ts";
import { endpointHost, type ObjectHead, type S3Client } from "../store/s3.ts";
import type { MapObject, StorageMap } from "./map.ts";
import { metadataHeaders, planStorageRestore, restoreFiles } from "./restore.ts";
import type { BlobSource } from "./remote.ts";

/** One file that did not come back as backed up. */
export interface FileMismatch {
  /** `bucket/name` as in the backup. */
  file: string;
  problem: string;
}

/** What {@link drillFiles} found. */
export interface FilesDrillResult {
  /** Scheme and host of the Storage server drilled into. */
  endpoint: string;
  buckets: number;
  files: number;
  bytes: number;
  matched: number;
  mismatches: FileMismatch[];
  /** Set when a scratch bucket could not be removed (its name and why): remove it by hand. */
  cleanup?: string;
}

/** Scratch bucket names for the map's buckets, in the map's order: `drill-<tag>-<n>`. Pure. */
export function scratchBuckets(map: StorageMap, tag: string): Map<string, string> {
  if (!/^[0-9a-f]{8}$/.test(tag)) throw new Error(`not a drill tag: ${tag}`);
  return new Map(map.buckets.map((b, i) => [b.id, `drill-${tag}-${i + 1}`]));
}

/**
 * The map with each bucket renamed to its scratch bucket, private, without the settings S3 cannot
 * set (they are not drilled). Pure.
 */
export function scratchMap(map: StorageMap, names: ReadonlyMap<string, string>): StorageMap {
  return {
    format: map.format,
    buckets: map.buckets.map((b) => ({
      ...b,
      id: names.get(b.id)!,
      name: names.get(b.id)!,
      public: false,
      fileSizeLimit: null,
      allowedMimeTypes: null,
    })),
    objects: map.objects.map((o) => ({ ...o, bucket: names.get(o.bucket)! })),
  };
}

/**
 * What differs between a file as backed up and as read back (`got`: the read's head, and the
 * sha256 and length of its bytes), or undefined when nothing does. Content type and cache
 * control are compared when the backup has them, user metadata for its plain-text part (what
 * S3 carries). Pure.
 */
export function fileDifference(
  o: MapObject,
  got: { head: ObjectHead; sha256: string; bytes: number },
): string | undefined {
  if (got.bytes !== o.size || got.sha256 !== o.sha256) {
    return `other bytes: ${got.bytes} bytes, sha256 ${got.sha256} (backed up: ${o.size}, ${o.sha256})`;
  }
  if (o.contentType && got.head.contentType !== o.contentType) {
    return `content type ${got.head.contentType ?? "none"} (backed up: ${o.contentType})`;
  }
  if (o.cacheControl && got.head.cacheControl !== o.cacheControl) {
    return `cache control ${got.head.cacheControl ?? "none"} (backed up: ${o.cacheControl})`;
  }
  for (const [k, v] of Object.entries(metadataHeaders(o.userMetadata).headers)) {
    if (got.head.metadata[k] !== v) {
      return `user metadata ${k}: ${JSON.stringify(got.head.metadata[k] ?? null)} (backed up: ${
        JSON.stringify(v)
      })`;
    }
  }
  return undefined;
}

/** Reads a file back and hashes it. */
async function readBack(
  s3: S3Client,
  bucket: string,
  name: string,
): Promise<{ head: ObjectHead; sha256: string; bytes: number } | undefined> {
  const got = await s3.get(bucket, name);
  if (!got) return undefined;
  const sha = createHash("sha256");
  let bytes = 0;
  for await (const chunk of got.body) {
    sha.update(chunk);
    bytes += chunk.length;
  }
  return { head: got.head, sha256: sha.digest("hex"), bytes };
}

/** Empties and deletes the scratch buckets that exist; returns what could not be removed. */
async function removeScratch(s3: S3Client, names: string[], jobs: number): Promise<string | undefined> {
  const failed: string[] = [];
  const existing = new Set(await s3.listBuckets().catch(() => names));
  for (const b of names) {
    if (!existing.has(b)) continue;
    try {
      const keys: string[] = [];
      for await (const o of s3.listObjects(b)) keys.push(o.key);
      await runPool(keys.map((k) => () => s3.delete(b, k)), jobs);
      await s3.deleteBucket(b);
    } catch (e) {
      failed.push(`${b} (${(e as Error).message.split("\n")[0]})`);
    }
  }
  return failed.length ? failed.join(", ") : undefined;
}

/**
 * Drills the backup's Storage files (see the module doc): `blobs` is where the backup's blobs
 * are (its root's folder store, or its object store), `s3` the target server. Differences are returned, not thrown; a failing upload or read
 * throws its {@link BackupError} after the cleanup. `tag` (8 hex digits) names the scratch buckets.
 */
export async function drillFiles(
  map: StorageMap,
  o: { s3: S3Client; blobs: BlobSource; jobs: number; log: (line: string) => void; tag?: string },
): Promise<FilesDrillResult> {
  const tag = o.tag ??
    Array.from(crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, "0")).join("");
  const names = scratchBuckets(map, tag);
  const existing = new Set(await o.s3.listBuckets());
  const clash = [...names.values()].find((n) => existing.has(n));
  if (clash) {
    throw new BackupError(
      `the drill's scratch bucket ${clash} exists already on ${endpointHost(o.s3.settings.endpoint)}`,
      {
        hint: "run the drill again (it picks new names); remove drill-* buckets left by an earlier drill",
      },
    );
  }
  const scratch = scratchMap(map, names);
  const plan = planStorageRestore(scratch, { include: [], exclude: [] }, {
    buckets: existing,
    objects: new Map(),
  }, { clean: false });
  const result: FilesDrillResult = {
    endpoint: endpointHost(o.s3.settings.endpoint),
    buckets: map.buckets.length,
    files: map.objects.length,
    bytes: map.objects.reduce((n, f) => n + f.size, 0),
    matched: 0,
    mismatches: [],
  };
  o.log(
    `drill: Storage files into scratch bucket(s) ${[...names.values()].join(", ")} on ${result.endpoint}`,
  );
  try {
    // what S3 cannot set is not drilled: the restore's warnings about it would only mislead here
    await restoreFiles(plan, {
      s3: o.s3,
      blobs: o.blobs,
      jobs: o.jobs,
      log: (l) => l.startsWith("warning: ") ? undefined : o.log(l),
    });
    const original = new Map([...names].map(([from, to]) => [to, from]));
    await runPool(
      scratch.objects.map((f) => async () => {
        const file = `${original.get(f.bucket)}/${f.name}`;
        const got = await readBack(o.s3, f.bucket, f.name);
        const problem = got ? fileDifference(f, got) : "not found after the upload";
        if (problem) result.mismatches.push({ file, problem });
        else result.matched++;
      }),
      o.jobs,
    );
  } finally {
    result.cleanup = await removeScratch(o.s3, [...names.values()], o.jobs);
    if (result.cleanup) o.log(`warning: drill: remove the scratch bucket(s) by hand: ${result.cleanup}`);
  }
  result.mismatches.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  return result;
}
