/**
 * Backing up Storage files: from the object rows read in the snapshot (lib/storage/catalog.ts)
 * and the previous backup's map, plan which files to download and which to reuse
 * ({@link planFiles}, pure: an object whose ETag and size are those of the previous map, with its
 * blob in the store, is not downloaded again), then download the rest in parallel into the run's
 * holder folder, hashing on the way (lib/storage/blobs.ts), and build this backup's map.
 *
 * A download whose answer has another ETag or size than its row, or whose body has another length,
 * is reported as changed (the file was replaced after the snapshot) and left out of the map rather
 * than saved under the old row; one that is gone is reported as missing. The body's bytes are not
 * hashed against the ETag (an MD5, a third of the download path's CPU): an S3 GET serves the bytes
 * of the ETag it answers with, and over HTTPS TLS checks every byte on the way. A download that breaks
 * off is retried with backoff; when the endpoint stays away the run fails and latest/ is untouched.
 * @module
 */
import { join } from "node:path";
import { BackupError } from "../base/errors.ts";
import { abortSignal, throwIfInterrupted } from "../base/interrupt.ts";
import { runPool } from "../base/pool.ts";
import type { Sql } from "../pg/connect.ts";
import { type ManifestFile, type ManifestStorage, readManifest } from "../store/manifest.ts";
import { FileSink } from "../store/sink.ts";
import { backoffMs, endpointHost, type S3Client } from "../store/s3.ts";
import { type BucketSelection, type ObjectRow, readCatalog, type StorageCatalog } from "./catalog.ts";
import { MAP_FORMAT, type MapObject, readMap, serializeMap, STORAGE_MAP, type StorageMap } from "./map.ts";
import {
  blobFiles,
  blobPresent,
  type BlobRef,
  BlobWriter,
  type ContentDigest,
  storeDir,
  storeWriteError,
} from "./blobs.ts";
import {
  BLOB_INDEX,
  blobOf,
  fileKey,
  indexOfMap,
  readIndex,
  type Sealer,
  serializeIndex,
  type StoredBlob,
} from "./seal.ts";
import type { BackupSource } from "../store/reader.ts";
import { manifestOfSource } from "./remote.ts";

/** A file of the previous backup as planning needs it: from its map, or its blob index (encrypted). */
export interface PreviousFile {
  /** {@link fileKey} of its bucket and name. */
  key: string;
  etag: string;
  size: number;
  /** The plaintext's sha256. */
  sha256: string;
  parts?: number;
  /** Its encrypted blob, when the backup's files are encrypted. */
  stored?: StoredBlob;
}

/** The previous backup's files from its (plain) map entries. Pure. */
export function previousOfMap(objects: readonly MapObject[]): PreviousFile[] {
  return objects.map((o) => ({
    key: fileKey(o.bucket, o.name),
    etag: o.etag,
    size: o.size,
    sha256: o.sha256,
    ...(o.parts ? { parts: o.parts } : {}),
    ...(o.stored ? { stored: o.stored } : {}),
  }));
}

/** What to do with each object row. */
export interface FilePlan {
  /** Rows whose bytes are in the store already, with the previous backup's entry. */
  reuse: { row: ObjectRow; from: PreviousFile }[];
  /** Rows to download. */
  fetch: ObjectRow[];
}

/**
 * Splits the rows into reused and downloaded: a row is reused when the previous backup has the same
 * bucket and name with the same ETag and size, and `present` says its blob is in the store. Pure.
 */
export function planFiles(
  rows: readonly ObjectRow[],
  previous: readonly PreviousFile[],
  present: (b: BlobRef) => boolean,
): FilePlan {
  const prev = new Map(previous.map((e) => [e.key, e]));
  const plan: FilePlan = { reuse: [], fetch: [] };
  for (const row of rows) {
    const p = prev.get(fileKey(row.bucket, row.name));
    if (p && p.etag === row.etag && p.size === row.size && present(blobOf(p))) {
      plan.reuse.push({ row, from: p });
    } else plan.fetch.push(row);
  }
  return plan;
}

/** Counts against the previous backup's files: added, changed (other bytes), removed, unchanged. Pure. */
export function compareMaps(
  previous: readonly PreviousFile[],
  current: readonly MapObject[],
): { added: number; changed: number; removed: number; unchanged: number } {
  const prev = new Map(previous.map((e) => [e.key, e]));
  let added = 0, changed = 0, unchanged = 0;
  for (const e of current) {
    const key = fileKey(e.bucket, e.name);
    const p = prev.get(key);
    if (!p) added++;
    else if (p.sha256 !== e.sha256) changed++;
    else unchanged++;
    prev.delete(key);
  }
  return { added, changed, removed: prev.size, unchanged };
}

/** The plain MD5 inside an ETag (`"<32 hex>"`), or undefined for a multipart ETag. Pure. */
export function etagMd5(etag: string): string | undefined {
  const m = etag.match(/^"?([0-9a-f]{32})"?$/i);
  return m ? m[1].toLowerCase() : undefined;
}

function sameEtag(a: string, b: string): boolean {
  return a.replace(/"/g, "") === b.replace(/"/g, "");
}

/** Progress of the downloads. */
export interface FileProgress {
  files: number;
  totalFiles: number;
  bytes: number;
  totalBytes: number;
}

/**
 * Where a backup's blobs go, when not into the root's folder store: an object store
 * (lib/storage/remote.ts `StoreBlobSink`).
 */
export interface BlobSink {
  /** Whether the store has the blob (a file unchanged since the previous map is then not downloaded). */
  has(b: BlobRef): boolean;
  /** Stores a finished download (closed, hashed as `d`); returns its number of parts. */
  take(w: BlobWriter, d: ContentDigest): Promise<number>;
}

/** Everything {@link backupFiles} needs. */
export interface FileBackupOptions {
  s3: S3Client;
  /** The backup root (its store is read for reuse), unless `sink` is given. */
  root: string;
  /** Where the blobs go instead of the root's folder store. */
  sink?: BlobSink;
  /** The run's holder folder (downloads go here). */
  holder: string;
  jobs: number;
  /** Download attempts after the first when a body breaks off. */
  retries: number;
  maxFileSize: number;
  /** Encrypts every file to the backup's recipients (`--encrypt-to`, lib/storage/seal.ts). */
  seal?: Sealer;
  /** The previous backup's files; undefined when it has none (or none this run may reuse). */
  previous?: readonly PreviousFile[];
  log: (line: string) => void;
  onProgress?: (p: FileProgress) => void;
  /** Aborted: start no new download (the database dump failed). */
  stop?: AbortSignal;
}

/** What {@link backupFiles} produced. */
export interface FileBackup {
  map: StorageMap;
  /** The manifest's `storage` field. */
  summary: ManifestStorage;
}

/** An encrypted blob of a content, and its parts. */
type SealedBlob = { stored: StoredBlob; parts?: number };

/**
 * The encrypted blobs a run may give a download whose plaintext it already has a blob of, by the
 * plaintext's sha256: the previous backup's blobs (those the run reuses; any other once it is
 * found in the store, so a renamed or copied file takes its blob too), then those the run writes
 * (`set`).
 */
export function knownBlobs(
  previous: readonly PreviousFile[],
  plan: FilePlan,
  present: (b: BlobRef) => Promise<boolean>,
): { get(sha256: string): Promise<SealedBlob | undefined>; set(sha256: string, b: SealedBlob): void } {
  const sure = new Map<string, SealedBlob>();
  const maybe = new Map<string, SealedBlob>();
  const of = (f: PreviousFile): SealedBlob => ({ stored: f.stored!, ...(f.parts ? { parts: f.parts } : {}) });
  for (const f of previous) if (f.stored) maybe.set(f.sha256, of(f));
  for (const { from } of plan.reuse) if (from.stored) sure.set(from.sha256, of(from));
  return {
    async get(sha256) {
      const s = sure.get(sha256);
      if (s) return s;
      const m = maybe.get(sha256);
      maybe.delete(sha256);
      if (
        !m ||
        !(await present({
          sha256: m.stored.sha256,
          size: m.stored.bytes,
          ...(m.parts ? { parts: m.parts } : {}),
        }))
      ) {
        return undefined;
      }
      sure.set(sha256, m);
      return m;
    },
    set(sha256, b) {
      sure.set(sha256, b);
    },
  };
}

/**
 * Where a run's downloads are looked up before they are kept ({@link BlobWriter.finish}): the
 * root's store when it was there at the start (a new root has none: no stat of every download
 * there), and the blobs the run has put into its holder so far (no stat of the holder either).
 */
interface Placing {
  store?: string;
  held: Set<string>;
}

/** A download's result; `synced` settles once its blob is synced and named in the holder. */
type Fetched = { entry: MapObject; synced: Promise<void> } | { changed: string } | { missing: true };

/**
 * Downloads one object into the holder; retries a body that breaks off. Returns once the bytes
 * are written and checked; syncing and naming the blob goes on in `synced` (so the next download
 * need not wait for the fsync), which rejects with a {@link BackupError} when it fails.
 */
async function fetchOne(
  row: ObjectRow,
  o: FileBackupOptions,
  count: (n: number) => void,
  known: ReturnType<typeof knownBlobs>,
  place: Placing,
): Promise<Fetched> {
  for (let attempt = 1;; attempt++) {
    throwIfInterrupted();
    const got = await o.s3.get(row.bucket, row.name);
    if (!got) return { missing: true };
    const { head, body } = got;
    if (!sameEtag(head.etag, row.etag) || (Number.isFinite(head.size) && head.size !== row.size)) {
      await body.cancel().catch(() => {});
      return {
        changed:
          `its ETag or size is now ${head.etag}, ${head.size} bytes (the row says ${row.etag}, ${row.size})`,
      };
    }
    const w = new BlobWriter(o.holder, o.maxFileSize, o.seal ? o.seal.sealedSize(row.size) : row.size);
    let counted = 0;
    const tally = (n: number) => {
      counted += n;
      count(n);
    };
    try {
      // encrypted: the plaintext is hashed on its way into age, the blob is the encrypted bytes
      const sealed = o.seal ? await o.seal.seal(body, tally) : undefined;
      if (sealed) {
        for await (const chunk of sealed.stream) await w.write(chunk);
      } else {
        await w.pour(body, tally); // read straight into the writer's buffers
      }
      const d = await w.close();
      const plain = sealed ? sealed.digest() : d;
      if (!plain) throw new Error("the encrypted stream ended before its plaintext");
      if (o.seal && d.bytes !== o.seal.sealedSize(plain.bytes)) {
        throw new Error(
          `encrypted ${plain.bytes} bytes into ${d.bytes}, not ${o.seal.sealedSize(plain.bytes)}`,
        );
      }
      // the answer's ETag and size were the row's (above): the body must have that length
      if (plain.bytes !== row.size) {
        await w.discard();
        return { changed: `its body has ${plain.bytes} bytes (the row says ${row.size}, ${row.etag})` };
      }
      const same = sealed ? await known.get(plain.sha256) : undefined;
      if (same) {
        // encrypted bytes differ on every run: a content the run has a blob of takes that blob
        await w.discard();
        return {
          entry: {
            ...row,
            sha256: plain.sha256,
            ...(same.parts ? { parts: same.parts } : {}),
            stored: same.stored,
          },
          synced: Promise.resolve(),
        };
      }
      const stored = sealed ? { stored: { sha256: d.sha256, bytes: d.bytes } } : {};
      if (o.sink) {
        // an object store: the upload is the slow part, and take() waits for it
        const parts = await o.sink.take(w, d);
        if (sealed) known.set(plain.sha256, { stored: stored.stored!, ...(parts > 1 ? { parts } : {}) });
        return {
          entry: { ...row, sha256: plain.sha256, ...(parts > 1 ? { parts } : {}), ...stored },
          synced: Promise.resolve(),
        };
      }
      const parts = w.parts;
      if (sealed) known.set(plain.sha256, { stored: stored.stored!, ...(parts > 1 ? { parts } : {}) });
      const synced = w.finish(d.sha256, place.store, place.held).then(() => {}, async (e) => {
        await w.discard();
        throw storeWriteError(o.holder, e);
      });
      return { entry: { ...row, sha256: plain.sha256, ...(parts > 1 ? { parts } : {}), ...stored }, synced };
    } catch (e) {
      await w.discard();
      count(-counted);
      if (abortSignal.aborted) throw abortSignal.reason ?? e;
      if (e instanceof BackupError || attempt > o.retries) {
        if (e instanceof BackupError) throw e;
        throw new BackupError(
          `download of ${row.bucket}/${row.name} from ${
            endpointHost(o.s3.settings.endpoint)
          } broke off ${attempt} time(s): ${(e as Error).message.split("\n")[0]}`,
          {
            hint: "the Storage endpoint stopped answering; run the backup again (latest/ is unchanged)",
            cause: e,
          },
        );
      }
      const wait = backoffMs(attempt, Math.random());
      o.log(`download of ${row.bucket}/${row.name} broke off; retry ${attempt}/${o.retries} in ${wait} ms`);
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/**
 * Backs up the files of `catalog` (see the module doc): returns the map to write and the
 * manifest summary. Throws a {@link BackupError} when the endpoint fails beyond the retries.
 */
export async function backupFiles(catalog: StorageCatalog, o: FileBackupOptions): Promise<FileBackup> {
  const store = storeDir(o.root);
  const present = new Set<string>();
  const previous = o.previous ?? [];
  const candidates = planFiles(catalog.objects, previous, () => true).reuse;
  await runPool(
    candidates.map(({ from }) => async () => {
      const b = blobOf(from);
      if (o.sink ? o.sink.has(b) : await blobPresent(store, b)) present.add(blobFiles(b).join(","));
    }),
    8,
  );
  const plan = planFiles(catalog.objects, previous, (b) => present.has(blobFiles(b).join(",")));
  const totalBytes = plan.fetch.reduce((n, r) => n + r.size, 0);
  const progress: FileProgress = { files: 0, totalFiles: plan.fetch.length, bytes: 0, totalBytes };
  o.log(
    `storage: ${catalog.objects.length} file(s) in ${catalog.buckets.length} bucket(s); downloading ${plan.fetch.length}, reusing ${plan.reuse.length}`,
  );
  const entries: MapObject[] = plan.reuse.map(({ row, from }) => ({
    ...row,
    sha256: from.sha256,
    ...(from.parts ? { parts: from.parts } : {}),
    ...(from.stored ? { stored: from.stored } : {}),
  }));
  // encrypted blobs by their plaintext's sha256: those this run reuses, then those it writes
  const known = knownBlobs(
    previous,
    plan,
    (b) => o.sink ? Promise.resolve(o.sink.has(b)) : blobPresent(store, b),
  );
  const changed: string[] = [];
  const missing: string[] = [];
  let downloadedFiles = 0, downloadedBytes = 0;
  const count = (n: number) => {
    progress.bytes += n;
  };
  const place: Placing = { held: new Set() };
  if (await Deno.stat(store).then((i) => i.isDirectory, () => false)) place.store = store;
  // blobs still being synced: a few per job, so that a download does not wait for an fsync
  const syncing = new Set<Promise<void>>();
  let syncFailed: { error: unknown } | undefined;
  let results: Fetched[];
  try {
    results = await runPool(
      plan.fetch.map((row) => async () => {
        if (syncFailed) throw syncFailed.error;
        o.stop?.throwIfAborted();
        while (syncing.size >= 2 * o.jobs) await Promise.race(syncing);
        const r = await fetchOne(row, o, count, known, place);
        if ("synced" in r) {
          const p = r.synced.catch((e) => {
            syncFailed ??= { error: e };
          }).finally(() => syncing.delete(p));
          syncing.add(p);
        }
        progress.files++;
        o.onProgress?.({ ...progress });
        return r;
      }),
      o.jobs,
    );
  } finally {
    await Promise.all(syncing);
  }
  if (syncFailed) throw syncFailed.error;
  results.forEach((r, i) => {
    const row = plan.fetch[i];
    const name = `${row.bucket}/${row.name}`;
    if ("entry" in r) {
      entries.push(r.entry);
      downloadedFiles++;
      downloadedBytes += row.size;
    } else if ("missing" in r) {
      missing.push(name);
      o.log(
        `warning: storage: ${name} was deleted after the snapshot; its row is in the backup, its file is not`,
      );
    } else {
      changed.push(name);
      o.log(
        `warning: storage: ${name} changed after the snapshot (${r.changed}); not saved under the old row`,
      );
    }
  });
  const map: StorageMap = { format: MAP_FORMAT, buckets: catalog.buckets, objects: entries };
  const bytes = entries.reduce((n, e) => n + e.size, 0);
  return {
    map,
    summary: {
      map: STORAGE_MAP,
      endpoint: endpointHost(o.s3.settings.endpoint),
      buckets: catalog.buckets.length,
      files: entries.length,
      bytes,
      downloaded: { files: downloadedFiles, bytes: downloadedBytes },
      reused: { files: plan.reuse.length, bytes: plan.reuse.reduce((n, r) => n + r.row.size, 0) },
      changed,
      missing,
      ...(o.previous ? { sincePrevious: compareMaps(o.previous, entries) } : {}),
    },
  };
}

/**
 * The files of the previous backup this run may reuse: from its map when neither is encrypted, from
 * its blob index when both are encrypted to the same recipients (the map needs the identity, which
 * a backup run does not have). A plain blob never goes into an encrypted backup, nor the other way
 * round, nor a blob encrypted to other recipients: then every file is downloaded, and `log` says why.
 * Undefined when nothing can be reused.
 */
async function previousFiles(
  src: BackupSource,
  seal: Sealer | undefined,
  log: (line: string) => void,
): Promise<PreviousFile[] | undefined> {
  try {
    const m = await manifestOfSource(src, readManifest);
    if (!m.storage) return undefined;
    const sealed = m.storage.index !== undefined;
    if (!!seal !== sealed) {
      const how = sealed ? "encrypted and this one's are not" : "not encrypted and this one's are";
      log(`notice: storage: the previous backup's files are ${how}: downloading every file`);
      return undefined;
    }
    if (seal) {
      const ix = (await readIndex(src, m))!;
      if (ix.recipients !== seal.id) {
        log(
          "notice: storage: the previous backup's files are encrypted to other recipients: downloading every file",
        );
        return undefined;
      }
      return ix.objects;
    }
    return previousOfMap((await readMap(src, m))?.objects ?? []);
  } catch (e) {
    log(
      `warning: storage: the previous backup's map cannot be read (${
        (e as Error).message
      }); downloading every file`,
    );
    return undefined;
  }
}

/** Everything {@link storageStep} needs besides what {@link backupFiles} takes. */
export interface StorageStepOptions extends Omit<FileBackupOptions, "previous"> {
  selection: BucketSelection;
  /** The previous backup (latest/ of the root, or the store's latest), when there is one. */
  previousDir?: BackupSource;
}

/**
 * The Storage part of a backup (lib/backup/execute.ts `StorageStep`): `read` takes the buckets
 * and objects from the snapshot connection, `write` fetches the files and writes the map into the
 * staging folder. `result` holds what the last `write` produced.
 */
export function storageStep(o: StorageStepOptions): {
  read(conn: Sql): Promise<void>;
  write(
    stagingDir: string,
    stop?: AbortSignal,
  ): Promise<{ files: Record<string, ManifestFile>; storage: ManifestStorage }>;
  result?: FileBackup;
} {
  let catalog: StorageCatalog | undefined;
  const step = {
    result: undefined as FileBackup | undefined,
    async read(conn: Sql) {
      catalog = await readCatalog(conn, o.selection);
    },
    async write(stagingDir: string, stop?: AbortSignal) {
      if (!catalog) throw new Error("storageStep.write before read");
      const previous = o.previousDir ? await previousFiles(o.previousDir, o.seal, o.log) : undefined;
      const r = await backupFiles(catalog, { ...o, previous, ...(stop ? { stop } : {}) });
      step.result = r;
      const files: Record<string, ManifestFile> = {};
      const put = async (rel: string, text: string) => {
        const sink = await FileSink.open(join(stagingDir, rel));
        await sink.write(new TextEncoder().encode(text));
        files[rel] = await sink.close();
      };
      await put(STORAGE_MAP, serializeMap(r.map)); // encrypted with the other files when o.seal
      if (o.seal) await put(BLOB_INDEX, serializeIndex(indexOfMap(r.map.objects, o.seal.id)));
      return { files, storage: o.seal ? { ...r.summary, index: BLOB_INDEX } : r.summary };
    },
  };
  return step;
}
