/**
 * Storage files with an object store (`--store s3://…|azblob://…`): where a backup's Storage blobs
 * are read from, and how a backup puts new ones into the store.
 *
 * Storage blobs share the store's content-addressed blob space with the database files
 * (`blobs/<h0h1>/<sha256>`, lib/store/remotelayout.ts): a blob's key is the sha256 of its bytes,
 * which for a Storage file are its bytes unmodified, so one content is stored once whoever needs
 * it, and a blob is never cut into parts (an object store takes large objects in multipart
 * uploads). A backup's manifest lists its map (`storage-objects.json`, itself a blob); the map
 * names the files' blobs; `prune --store` keeps every blob a kept backup's map names
 * ({@link storageBlobRefs}).
 *
 * Reading: a {@link BlobSource} opens a blob from the root's folder store (lib/storage/blobs.ts)
 * or from the store through a backup reader (lib/store/reader.ts). A restore from the store
 * checks a blob's bytes as they stream ({@link checkedStream}) instead of reading it twice.
 *
 * Writing: {@link StoreBlobSink} takes each finished download (a file in the run's holder folder,
 * hashed on the way), uploads it unless the store has the blob, and removes the local file, so a
 * backup needs local disk for the downloads in flight only.
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { ObjectStore } from "../store/object.ts";
import type { BackupReader, BackupSource } from "../store/reader.ts";
import type { Manifest, ManifestFile } from "../store/manifest.ts";
import { blobKey, BLOBS, storedOf } from "../store/remotelayout.ts";
import {
  BLOB_DIR,
  blobFiles,
  type BlobRef,
  type BlobWriter,
  type ContentDigest,
  type Digest,
  heldFiles,
  openBlob,
} from "./blobs.ts";
import { backupBlobs } from "./seal.ts";

/** Where the blobs of a backup's Storage files are read from. */
export interface BlobSource {
  /**
   * A folder store on local disk: a restore hashes a blob before it sends it (reading it twice is
   * cheap). Unset for an object store: the bytes are checked as they stream.
   */
  readonly local?: string;
  /** The blob's name in messages: `storage/blobs/<aa>/<sha256>` or `blobs/<aa>/<sha256>`. */
  name(b: BlobRef): string;
  /** The blob's bytes (its parts in order). Throws Deno.errors.NotFound when it is missing. */
  open(b: BlobRef): Promise<ReadableStream<Uint8Array>>;
}

/** The blobs of a backup root's folder store (`<root>/storage/blobs`). */
export function localBlobs(root: string): BlobSource {
  return {
    local: root,
    name: (b) => `${BLOB_DIR}/${blobFiles(b)[0]}`,
    open: (b) => Promise.resolve(openBlob(root, b)),
  };
}

/** The manifest entry that makes a reader open the blob of `b` (its bytes are the file's). Pure. */
function blobEntry(b: BlobRef): ManifestFile {
  return { bytes: b.size, sha256: b.sha256 };
}

/** The blobs of a backup in an object store, read through its reader (lib/store/remoteread.ts). */
export function readerBlobs(reader: BackupReader): BlobSource {
  return {
    name: (b) => blobKey(b.sha256),
    open: (b) => reader.open(`Storage file of ${b.sha256.slice(0, 12)}…`, blobEntry(b)),
  };
}

/** Where the blobs of the backup `src` are: the folder store of its root, or its object store. */
export async function blobSourceOf(
  src: BackupSource,
  rootOf: (dir: string) => Promise<string>,
): Promise<BlobSource> {
  if (typeof src === "string") return localBlobs(await rootOf(src));
  return src.openRootFile ? rootFileBlobs(src.openRootFile.bind(src)) : readerBlobs(src);
}

/**
 * The blobs of a backup read from a git commit: the root's folder store as it was in that commit,
 * each blob's parts opened through `open` one after another.
 */
function rootFileBlobs(open: (rel: string) => Promise<ReadableStream<Uint8Array>>): BlobSource {
  return {
    name: (b) => `${BLOB_DIR}/${blobFiles(b)[0]}`,
    open: async (b) => {
      const parts = blobFiles(b).map((f) => `${BLOB_DIR}/${f}`);
      const first = await open(parts[0]); // a missing blob is NotFound now, not mid-stream
      let i = 0;
      let cur: ReadableStreamDefaultReader<Uint8Array> | undefined = first.getReader();
      return new ReadableStream<Uint8Array>({
        async pull(ctl) {
          for (;;) {
            cur ??= (await open(parts[i])).getReader();
            const r = await cur.read();
            if (!r.done) return ctl.enqueue(r.value);
            cur = undefined;
            if (++i >= parts.length) return ctl.close();
          }
        },
        cancel: (why) => cur?.cancel(why),
      });
    },
  };
}

/** The manifest of a backup source (read from its folder, or the reader's). */
export async function manifestOfSource(
  src: BackupSource,
  read: (dir: string) => Promise<Manifest>,
): Promise<Manifest> {
  return typeof src === "string" ? await read(src) : src.manifest;
}

/**
 * Size and sha256 of a stream, read to its end; with `withMd5` its MD5 too (which a restore
 * compares with the ETag the target answers, and `verify` never reads: an MD5 costs about as much
 * CPU as the sha256).
 */
export function hashStream(stream: ReadableStream<Uint8Array>, withMd5?: false): Promise<ContentDigest>;
export function hashStream(stream: ReadableStream<Uint8Array>, withMd5: true): Promise<Digest>;
export async function hashStream(
  stream: ReadableStream<Uint8Array>,
  withMd5 = false,
): Promise<ContentDigest | Digest> {
  const sha = createHash("sha256");
  const md5 = withMd5 ? createHash("md5") : undefined;
  let bytes = 0;
  for await (const chunk of stream) {
    sha.update(chunk);
    md5?.update(chunk);
    bytes += chunk.length;
  }
  const d = { bytes, sha256: sha.digest("hex") };
  return md5 ? { ...d, md5: md5.digest("hex") } : d;
}

/** A blob whose bytes are not the ones its map names. */
export class BlobMismatch extends Error {}

/**
 * Passes a blob's bytes through, hashing them, and fails the stream when they are not `want`
 * (more bytes than its size, or another sha256 at the end). The last chunk is held back until the
 * hash is known: a damaged blob never reaches the receiver whole, so an upload of it (with its
 * Content-Length) is cut short and stored by no server. `digest()` gives the hashes once the
 * stream has ended well; `failed()` says whether the check failed.
 */
export function checkedStream(
  source: ReadableStream<Uint8Array>,
  want: { sha256: string; size: number },
): { stream: ReadableStream<Uint8Array>; digest(): Digest | undefined; failed(): boolean } {
  const sha = createHash("sha256");
  const md5 = createHash("md5");
  let bytes = 0;
  let held: Uint8Array | undefined;
  let done: Digest | undefined;
  let failed = false;
  const reader = source.getReader();
  // read by hand rather than piped: a source that fails with a BlobMismatch (an encrypted blob
  // age refuses, lib/storage/seal.ts) fails the check too
  const stream = new ReadableStream<Uint8Array>({
    async pull(ctl) {
      for (;;) {
        let r: ReadableStreamReadResult<Uint8Array>;
        try {
          r = await reader.read();
        } catch (e) {
          if (e instanceof BlobMismatch) failed = true;
          ctl.error(e);
          return;
        }
        if (r.done) {
          const sha256 = sha.digest("hex");
          if (bytes !== want.size || sha256 !== want.sha256) {
            failed = true;
            ctl.error(new BlobMismatch(`${bytes} bytes, sha256 ${sha256}`));
            return;
          }
          if (held) ctl.enqueue(held);
          done = { bytes, sha256, md5: md5.digest("hex") };
          ctl.close();
          return;
        }
        const chunk = r.value;
        bytes += chunk.length;
        if (bytes > want.size) {
          failed = true;
          ctl.error(new BlobMismatch(`more than ${want.size} bytes`));
          await reader.cancel().catch(() => {});
          return;
        }
        sha.update(chunk);
        md5.update(chunk);
        const out = held;
        held = chunk;
        if (out) {
          ctl.enqueue(out);
          return;
        }
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return { stream, digest: () => done, failed: () => failed };
}

/**
 * The blob keys (`blobs/<aa>/<sha256>`) the Storage map of manifest `m` names (or, when its files
 * are encrypted, its blob index: lib/storage/seal.ts), read from `store` (an empty list for a
 * backup without Storage files). Throws when the map or index is missing or damaged: prune then
 * removes no blob.
 */
export function storageBlobRefs(store: ObjectStore): (m: Manifest) => Promise<string[]> {
  return async (m) => {
    if (!m.storage) return [];
    const reader: BackupReader = {
      where: store.display,
      manifest: m,
      open: async (rel, entry) => {
        const body = await store.get(blobKey(storedOf(entry).sha256));
        if (!body) {
          throw new Deno.errors.NotFound(`${rel}: blob ${blobKey(storedOf(entry).sha256)} is missing`);
        }
        return body;
      },
    };
    // without the identity: an encrypted backup's blobs are named by its blob index
    return (await backupBlobs(reader, m)).map((b) => blobKey(b.sha256));
  };
}

/** An endpoint URL as compared: scheme and host in lower case, the path without trailing slashes. Pure. */
function sameEndpoint(a: string, b: string): boolean {
  const norm = (t: string) => {
    try {
      const u = new URL(t);
      return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, "")}`.toLowerCase();
    } catch {
      return t;
    }
  };
  return norm(a) === norm(b);
}

/**
 * The bucket of the source project that holds the backup store itself (an S3 store on the same
 * endpoint as the Storage files being backed up), or undefined. A backup leaves that bucket out:
 * it would otherwise back up its own earlier backups. Pure.
 */
export function storeBucketOfSource(
  store: { endpoint: string; bucket: string } | undefined,
  sourceEndpoint: string,
): string | undefined {
  return store && sameEndpoint(store.endpoint, sourceEndpoint) ? store.bucket : undefined;
}

/** The keys of every blob in the store (to know what needs no upload). */
export async function presentBlobs(store: ObjectStore): Promise<Set<string>> {
  const present = new Set<string>();
  for await (const b of store.list(BLOBS)) present.add(b.key);
  return present;
}

/**
 * Puts a backup's downloaded Storage files into an object store (see the module doc). `present`
 * holds the keys of the blobs in the store when the run took its backup lock; uploads add to it.
 */
export class StoreBlobSink {
  #store: ObjectStore;
  #holder: string;
  #present: Set<string>;
  #inflight = new Map<string, Promise<void>>();
  /** Blobs this run uploaded, and their bytes. */
  uploaded = { files: 0, bytes: 0 };

  constructor(store: ObjectStore, holder: string, present: Set<string>) {
    this.#store = store;
    this.#holder = holder;
    this.#present = present;
  }

  /** Whether the store has the blob of `b` (a blob cut into parts is never in a store). */
  has(b: BlobRef): boolean {
    return !b.parts && this.#present.has(blobKey(b.sha256));
  }

  /**
   * Takes a finished download (closed, hashed as `d`, one part): uploads it unless the store has
   * its blob, then removes the local file. Returns the number of parts (1). Throws the store's
   * {@link BackupError} when the upload fails after its retries.
   */
  async take(w: BlobWriter, d: ContentDigest): Promise<number> {
    const parts = await w.finish(d.sha256, this.#holder); // into <holder>/<sha256>, once per content
    if (parts !== 1) throw new Error(`a Storage blob for an object store came in ${parts} parts`);
    const key = blobKey(d.sha256);
    if (this.#present.has(key)) {
      await this.#drop(d.sha256);
      return 1;
    }
    let upload = this.#inflight.get(key);
    if (!upload) {
      const path = join(this.#holder, heldFiles({ sha256: d.sha256 })[0]);
      upload = (async () => {
        await this.#store.put(key, { path, size: d.bytes }, {
          sha256: d.sha256,
          contentType: "application/octet-stream",
        });
        this.#present.add(key);
        this.uploaded.files++;
        this.uploaded.bytes += d.bytes;
        await this.#drop(d.sha256);
      })().finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, upload);
    }
    await upload;
    return 1;
  }

  async #drop(sha256: string): Promise<void> {
    await Deno.remove(join(this.#holder, heldFiles({ sha256 })[0])).catch(() => {});
  }
}
