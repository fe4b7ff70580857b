/**
 * Checking a backup's Storage files: every blob its map names is in the root's store (or, for a
 * backup in an object store, in the store's blob space) and hashes to its name (sha256) with the
 * map's size. Each blob is read once, however many files share it, streamed.
 * @module
 */
import { runPool } from "../base/pool.ts";
import type { FileFault } from "../store/check.ts";
import type { Manifest } from "../store/manifest.ts";
import type { BackupSource } from "../store/reader.ts";
import { readMap } from "./map.ts";
import { blobFiles, blobRootOf, type Digest } from "./blobs.ts";
import { type BlobSource, blobSourceOf, hashStream } from "./remote.ts";

/** What {@link verifyBlobs} found: blobs checked, and the faults (paths relative to the root). */
export interface BlobCheck {
  blobs: number;
  bytes: number;
  faults: FileFault[];
}

/**
 * What hashing each blob gave, by blob, shared by the backups of one verify run: a blob that
 * several backups name is read once (from an object store, each read is egress).
 */
export type BlobMemo = Map<string, Promise<Digest | { error: Error }>>;

/**
 * Checks the Storage files of the backup in `dir` (a folder or a reader; described by `m`); a
 * backup without them gives zero blobs. A damaged map or a missing store is one fault, not an
 * exception. With `memo`, a blob an earlier backup of the run had hashed is not read again (its
 * hash is checked against this backup's map all the same).
 */
export async function verifyBlobs(
  dir: BackupSource,
  m: Manifest,
  opts: { jobs?: number; identityFile?: string; memo?: BlobMemo } = {},
): Promise<BlobCheck> {
  if (!m.storage) return { blobs: 0, bytes: 0, faults: [] };
  let blobs: BlobSource;
  let objects;
  try {
    objects = (await readMap(dir, m, opts))?.objects ?? [];
    blobs = await blobSourceOf(dir, blobRootOf);
  } catch (e) {
    return {
      blobs: 0,
      bytes: 0,
      faults: [{ file: m.storage.map, problem: "unreadable", detail: (e as Error).message }],
    };
  }
  const unique = new Map<string, (typeof objects)[number]>();
  for (const o of objects) unique.set(blobFiles(o).join(","), o);
  const faults: FileFault[] = [];
  let bytes = 0;
  await runPool(
    [...unique.values()].map((o) => async () => {
      const file = blobs.name(o);
      const what = `${o.bucket}/${o.name}`;
      const id = `${blobs.local ?? ""}\u0000${blobFiles(o).join(",")}`;
      let hashed = opts.memo?.get(id);
      if (!hashed) {
        hashed = blobs.open(o).then(hashStream).catch((e: Error) => ({ error: e }));
        opts.memo?.set(id, hashed);
      }
      try {
        const d = await hashed;
        if ("error" in d) throw d.error;
        if (d.bytes !== o.size) {
          faults.push({ file, problem: "size", detail: `${what}: ${d.bytes} bytes, map says ${o.size}` });
        } else if (d.sha256 !== o.sha256) {
          faults.push({ file, problem: "checksum", detail: `${what}: sha256 ${d.sha256}` });
        } else bytes += d.bytes;
      } catch (e) {
        const missing = e instanceof Deno.errors.NotFound;
        faults.push({
          file,
          problem: missing ? "missing" : "unreadable",
          detail: `${what}: ${(e as Error).message.split("\n")[0]}`,
        });
      }
    }),
    opts.jobs ?? 4,
  );
  faults.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  return { blobs: unique.size, bytes, faults };
}
