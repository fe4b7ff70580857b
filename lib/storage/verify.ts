/**
 * Checking a backup's Storage files: every blob its map names is in the root's store (or, for a
 * backup in an object store, in the store's blob space) and hashes to its name (sha256) with the
 * map's size; an encrypted file's blob is also decrypted and its plaintext checked against the map
 * (with the identity; without it, the blob index names the blobs, lib/storage/seal.ts). Each blob
 * is read once, however many files share it, streamed.
 * @module
 */
import { runPool } from "../base/pool.ts";
import type { FileFault } from "../store/check.ts";
import type { Manifest } from "../store/manifest.ts";
import type { BackupSource } from "../store/reader.ts";
import { BackupError, ExitCode } from "../base/errors.ts";
import { decodeStream } from "../store/decode.ts";
import { type MapObject, readMap } from "./map.ts";
import { blobFiles, type BlobRef, blobRootOf, type ContentDigest } from "./blobs.ts";
import { type BlobSource, blobSourceOf, hashStream } from "./remote.ts";
import { blobOf, hashThrough, readIndex } from "./seal.ts";

/** What {@link verifyBlobs} found: blobs checked, and the faults (paths relative to the root). */
export interface BlobCheck {
  blobs: number;
  bytes: number;
  faults: FileFault[];
  /**
   * For a backup whose Storage files are encrypted: how many, and whether their contents were
   * decrypted and checked (with `--identity-file`) or only their encrypted blobs (without).
   */
  encrypted?: { files: number; decrypted: boolean };
}

/** The hashes of one blob: its stored bytes, and its plaintext when it was decrypted. */
type Hashed = { stored: ContentDigest; plain?: ContentDigest };

/**
 * What hashing each blob gave, by blob, shared by the backups of one verify run: a blob that
 * several backups name is read once (from an object store, each read is egress).
 */
export type BlobMemo = Map<string, Promise<Hashed | { error: Error }>>;

/** One blob to check: what it holds (`what`, for messages) and the plaintext to expect when decrypted. */
interface BlobToCheck {
  blob: BlobRef;
  what: string;
  /** A map entry with an encrypted blob, to decrypt (with the identity) and check. */
  sealed?: MapObject;
}

/**
 * The blobs of a backup to check: every blob its map names; for encrypted files without the
 * identity, every blob its blob index names (only their encrypted bytes can be checked).
 */
async function blobsToCheck(
  dir: BackupSource,
  m: Manifest,
  identityFile: string | undefined,
): Promise<{ list: BlobToCheck[]; encrypted?: BlobCheck["encrypted"] }> {
  if (m.storage?.index && !identityFile) {
    const ix = (await readIndex(dir, m))!;
    return {
      list: ix.objects.map((e) => ({ blob: blobOf(e), what: "an encrypted file" })),
      encrypted: { files: ix.objects.length, decrypted: false },
    };
  }
  const objects = (await readMap(dir, m, identityFile ? { identityFile } : {}))?.objects ?? [];
  const sealed = objects.filter((o) => o.stored).length;
  return {
    list: objects.map((o) => ({
      blob: blobOf(o),
      what: `${o.bucket}/${o.name}`,
      ...(o.stored ? { sealed: o } : {}),
    })),
    ...(sealed ? { encrypted: { files: sealed, decrypted: true } } : {}),
  };
}

/** Hashes a blob as stored and, for an encrypted one, its plaintext after decrypting (one read). */
async function hashBlobOf(blobs: BlobSource, c: BlobToCheck, identityFile?: string): Promise<Hashed> {
  const raw = await blobs.open(c.blob);
  if (!c.sealed) return { stored: await hashStream(raw) };
  const stored = hashThrough(raw);
  const o = c.sealed;
  const entry = {
    bytes: o.size,
    sha256: o.sha256,
    encrypted: true,
    ...(o.stored ? { stored: o.stored } : {}),
  };
  const plain = await hashStream(
    await decodeStream(
      stored.stream,
      `the Storage file ${c.what}`,
      entry,
      identityFile ? { identityFile } : {},
    ),
  );
  const d = stored.digest();
  if (!d) throw new Error("the blob's stream ended early");
  return { stored: d, plain };
}

/**
 * Checks the Storage files of the backup in `dir` (a folder or a reader; described by `m`); a
 * backup without them gives zero blobs. A damaged map or a missing store is one fault, not an
 * exception. With `memo`, a blob an earlier backup of the run had hashed is not read again (its
 * hash is checked against this backup's map all the same). Encrypted files (lib/storage/seal.ts)
 * are decrypted and their plaintext checked with `identityFile`; without it, only their blobs'
 * stored bytes are checked, against the blob index, and the result says so (`encrypted`).
 */
export async function verifyBlobs(
  dir: BackupSource,
  m: Manifest,
  opts: { jobs?: number; identityFile?: string; memo?: BlobMemo } = {},
): Promise<BlobCheck> {
  if (!m.storage) return { blobs: 0, bytes: 0, faults: [] };
  let blobs: BlobSource;
  let checks: Awaited<ReturnType<typeof blobsToCheck>>;
  try {
    checks = await blobsToCheck(dir, m, opts.identityFile);
    blobs = await blobSourceOf(dir, blobRootOf);
  } catch (e) {
    if (e instanceof BackupError && e.exitCode === ExitCode.usage) throw e;
    return {
      blobs: 0,
      bytes: 0,
      faults: [{ file: m.storage.map, problem: "unreadable", detail: (e as Error).message }],
    };
  }
  const unique = new Map<string, BlobToCheck>();
  for (const c of checks.list) unique.set(blobFiles(c.blob).join(","), c);
  const faults: FileFault[] = [];
  let bytes = 0;
  await runPool(
    [...unique.values()].map((c) => async () => {
      const file = blobs.name(c.blob);
      const id = `${blobs.local ?? ""}\u0000${blobFiles(c.blob).join(",")}${c.sealed ? "\u0000plain" : ""}`;
      let hashed = opts.memo?.get(id);
      if (!hashed) {
        hashed = hashBlobOf(blobs, c, opts.identityFile).catch((e: Error) => ({ error: e }));
        opts.memo?.set(id, hashed);
      }
      try {
        const d = await hashed;
        if ("error" in d) throw d.error;
        const want = c.blob;
        if (d.stored.bytes !== want.size) {
          faults.push({
            file,
            problem: "size",
            detail: `${c.what}: ${d.stored.bytes} bytes, map says ${want.size}`,
          });
        } else if (d.stored.sha256 !== want.sha256) {
          faults.push({ file, problem: "checksum", detail: `${c.what}: sha256 ${d.stored.sha256}` });
        } else if (c.sealed && (d.plain?.bytes !== c.sealed.size || d.plain?.sha256 !== c.sealed.sha256)) {
          faults.push({
            file,
            problem: "checksum",
            detail: `${c.what}: decrypted to ${d.plain?.bytes} bytes, sha256 ${d.plain?.sha256}`,
          });
        } else bytes += d.stored.bytes;
      } catch (e) {
        if (e instanceof BackupError && e.exitCode === ExitCode.usage) throw e;
        const missing = e instanceof Deno.errors.NotFound;
        faults.push({
          file,
          problem: missing ? "missing" : "unreadable",
          detail: `${c.what}: ${(e as Error).message.split("\n")[0]}`,
        });
      }
    }),
    opts.jobs ?? 4,
  );
  faults.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  return { blobs: unique.size, bytes, faults, ...(checks.encrypted ? { encrypted: checks.encrypted } : {}) };
}
