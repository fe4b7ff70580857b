/**
 * Storage files of an encrypted backup (`--storage --encrypt-to`): every downloaded file is
 * encrypted with age to the backup's recipients as it streams to disk, and its blob is named by
 * the sha256 of the **encrypted** bytes. So `sha256sum` of any blob, encrypted or not, prints its
 * name; a plain blob and an encrypted one of the same content never share a name (a backup with
 * and one without encryption can use the same root or store); blobs encrypted to other recipients
 * never share one either; and the name tells nothing about the content.
 *
 * The map (`storage-objects.json.age`) is a backup file and is encrypted like the others: it holds
 * each file's plaintext sha256 and size (what restore and drill check after decrypting) and its
 * blob (`stored`: the encrypted blob's sha256 and size). What a run without the identity needs
 * is in the blob index ({@link BLOB_INDEX}, `storage-blobs.json`, never encrypted, like
 * manifest.json): per file a key that hides its bucket and name ({@link fileKey}), its ETag,
 * size, plaintext sha256 and blob, and the recipients' id. The next backup reuses an unchanged
 * file's blob from it (same key, ETag and size, same recipients), and a downloaded file whose
 * plaintext has an encrypted blob already (a copy, a renamed file) takes that blob (encryption is
 * randomised, so the bytes alone would not find it: lib/storage/backup.ts); `verify` without the identity
 * hashes every blob against it; prune and the blob sweep keep every blob it names.
 *
 * Pure parts: naming, sizes, the index's form and checks. {@link Sealer} streams (age's 64 KiB
 * chunks): no file is ever held in memory whole.
 * @module
 */
import { createHash } from "node:crypto";
import { Encrypter } from "age-encryption";
import { BackupError } from "../base/errors.ts";
import type { Manifest, ManifestFile } from "../store/manifest.ts";
import { type BackupSource, sourceName } from "../store/reader.ts";
import { type DecodeOptions, decodeStream, openPlaintext } from "../store/decode.ts";
import type { BlobRef, ContentDigest } from "./blobs.ts";
import { mapFromText, type MapObject, readMap } from "./map.ts";
import { BlobMismatch, type BlobSource } from "./remote.ts";

/** The blob index's file name in a backup (listed in the manifest, never encoded). */
export const BLOB_INDEX = "storage-blobs.json";

/** The index format this tool writes and reads. */
export const INDEX_FORMAT = 1;

/** The encrypted blob of a file: the sha256 and size of the stored bytes. */
export interface StoredBlob {
  sha256: string;
  bytes: number;
}

/** The blob that holds a map entry's bytes: its own sha256 and size, or its `stored` blob. Pure. */
export function blobOf(o: Pick<MapObject, "sha256" | "size" | "parts" | "stored">): BlobRef {
  const base = o.stored
    ? { sha256: o.stored.sha256, size: o.stored.bytes }
    : { sha256: o.sha256, size: o.size };
  return o.parts ? { ...base, parts: o.parts } : base;
}

/**
 * The key of a file in the blob index: the first 32 hex digits of the sha256 of its bucket and
 * name (as JSON). It names no file; someone who knows a bucket and name can check whether a
 * backup has that file. Pure.
 */
export function fileKey(bucket: string, name: string): string {
  return createHash("sha256").update(JSON.stringify([bucket, name])).digest("hex").slice(0, 32);
}

/** One file of the blob index. */
export interface IndexEntry {
  key: string;
  etag: string;
  size: number;
  /** The plaintext's sha256. */
  sha256: string;
  stored: StoredBlob;
  parts?: number;
}

/** A backup's blob index. */
export interface BlobIndex {
  format: number;
  /** The recipients' id (lib/store/publish.ts `recipientsId`): the blobs are encrypted to them. */
  recipients: string;
  objects: IndexEntry[];
}

/** The index of an encrypted backup's map entries (each must have `stored`). Pure. */
export function indexOfMap(objects: readonly MapObject[], recipients: string): BlobIndex {
  return {
    format: INDEX_FORMAT,
    recipients,
    objects: objects.map((o) => {
      if (!o.stored) throw new Error(`${o.bucket}/${o.name} has no encrypted blob`);
      return {
        key: fileKey(o.bucket, o.name),
        etag: o.etag,
        size: o.size,
        sha256: o.sha256,
        stored: o.stored,
        ...(o.parts ? { parts: o.parts } : {}),
      };
    }),
  };
}

/** The index as text: one file a line, sorted by key. Pure. */
export function serializeIndex(ix: BlobIndex): string {
  const lines = [...ix.objects].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((o) => `    ${JSON.stringify(o)}`).join(",\n");
  return `{\n  "format": ${ix.format},\n  "recipients": ${
    JSON.stringify(ix.recipients)
  },\n  "objects": [\n${lines}\n  ]\n}\n`;
}

const HEX64 = /^[0-9a-f]{64}$/;
const isCount = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

function bad(where: string, what: string): BackupError {
  return new BackupError(`${where} is damaged: ${what}`, {
    hint: "restore from an archive or re-run the backup; verify names the files that do not match",
  });
}

/**
 * Parses and checks an index's text (a backup's files may have been edited: every sha256 is 64
 * hex digits, sizes are whole numbers). Throws a {@link BackupError} naming `where`. Pure.
 */
export function parseIndex(text: string, where: string): BlobIndex {
  let o: Partial<BlobIndex>;
  try {
    o = JSON.parse(text);
  } catch {
    throw bad(where, "not valid JSON");
  }
  if (typeof o !== "object" || o === null || !Array.isArray(o.objects) || typeof o.recipients !== "string") {
    throw bad(where, "not a Storage blob index");
  }
  if (o.format !== INDEX_FORMAT) throw bad(where, `format ${o.format}, this tool reads ${INDEX_FORMAT}`);
  if (!HEX64.test(o.recipients)) throw bad(where, "its recipients id is not a sha256");
  o.objects.forEach((e, i) => {
    const x = e as Partial<IndexEntry>;
    const ok = typeof x === "object" && x !== null && typeof x.key === "string" &&
      /^[0-9a-f]{32}$/.test(x.key) &&
      typeof x.etag === "string" && isCount(x.size) && typeof x.sha256 === "string" && HEX64.test(x.sha256) &&
      typeof x.stored === "object" && x.stored !== null && typeof x.stored.sha256 === "string" &&
      HEX64.test(x.stored.sha256) && isCount(x.stored.bytes) &&
      (x.parts === undefined || (isCount(x.parts) && x.parts >= 2 && x.parts <= 9999));
    if (!ok) throw bad(where, `object ${i + 1} has a missing or wrong field`);
  });
  return o as BlobIndex;
}

/** The index's entry in a manifest, or undefined when the backup has none. Throws when it is not listed. */
function indexEntry(m: Manifest, where: string): ManifestFile | undefined {
  if (!m.storage?.index) return undefined;
  if (m.storage.index !== BLOB_INDEX) throw bad(where, `the manifest names the index '${m.storage.index}'`);
  const entry = m.files[BLOB_INDEX];
  if (!entry) throw bad(where, "the manifest does not list it");
  if (entry.encrypted || entry.compression) throw bad(where, "it is stored encoded");
  return entry;
}

function checkedIndex(bytes: Uint8Array, entry: ManifestFile, where: string): BlobIndex {
  const sha = createHash("sha256").update(bytes).digest("hex");
  if (bytes.length !== entry.bytes || sha !== entry.sha256) {
    throw bad(where, "it does not match the manifest");
  }
  return parseIndex(new TextDecoder().decode(bytes), where);
}

/**
 * The blob index of the backup `src` (described by `m`), or undefined when its Storage files are
 * not encrypted. Throws a {@link BackupError} when it is missing, damaged or does not match the
 * manifest's checksum.
 */
export async function readIndex(src: BackupSource, m: Manifest): Promise<BlobIndex | undefined> {
  const where = `${sourceName(src)}/${BLOB_INDEX}`;
  const entry = indexEntry(m, where);
  if (!entry) return undefined;
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await new Response(await openPlaintext(src, BLOB_INDEX, entry)).arrayBuffer());
  } catch (e) {
    if (e instanceof BackupError) throw e;
    throw bad(where, `it cannot be read (${(e as Error).message.split(" (os error")[0]})`);
  }
  return checkedIndex(bytes, entry, where);
}

/**
 * The blobs the backup `src` needs, read without the identity: from its blob index when its files
 * are encrypted, else from its map. Empty for a backup without Storage files. Throws when the
 * index or map is missing or damaged (a sweep then removes nothing).
 */
export async function backupBlobs(src: BackupSource, m: Manifest): Promise<BlobRef[]> {
  if (!m.storage) return [];
  const ix = await readIndex(src, m);
  if (ix) return ix.objects.map(blobOf);
  return ((await readMap(src, m))?.objects ?? []).map(blobOf);
}

/**
 * {@link backupBlobs} for an archive that git holds only (a sparse checkout): from the texts of
 * its map and index as git has them. Throws as `mapFromText` does. Pure.
 */
export function backupBlobsFromText(
  dir: string,
  m: Manifest,
  texts: { map?: string; index?: string },
): BlobRef[] {
  if (!m.storage) return [];
  const where = `${dir}/${BLOB_INDEX}`;
  const entry = indexEntry(m, where);
  if (entry) {
    if (texts.index === undefined) throw bad(where, "git does not hold it");
    return checkedIndex(new TextEncoder().encode(texts.index), entry, where).objects.map(blobOf);
  }
  return (mapFromText(dir, m, texts.map)?.objects ?? []).map(blobOf);
}

/** Size and sha256 of the plaintext that went through a {@link Sealer}. */
export type PlainDigest = ContentDigest;

/**
 * Passes a stream through, hashing it (sha256; `count` is told each chunk's length). `digest()`
 * gives the size and hash once the stream has ended.
 */
export function hashThrough(
  source: ReadableStream<Uint8Array>,
  count: (n: number) => void = () => {},
): { stream: ReadableStream<Uint8Array>; digest(): ContentDigest | undefined } {
  const sha = createHash("sha256");
  let bytes = 0;
  let done: ContentDigest | undefined;
  const stream = source.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, ctl) {
        sha.update(chunk);
        bytes += chunk.length;
        count(chunk.length);
        ctl.enqueue(chunk);
      },
      flush() {
        done = { bytes, sha256: sha.digest("hex") };
      },
    }),
  );
  return { stream, digest: () => done };
}

/**
 * Encrypts downloads to a backup's recipients (age, X25519), as streams. The encrypted size of a
 * file is known from its plaintext size ({@link Sealer.sealedSize}: the header, then 16 bytes per
 * 64 KiB chunk), so a blob cut into parts is cut into equal parts as plain blobs are.
 */
export class Sealer {
  readonly recipients: readonly string[];
  readonly id: string;
  /** Bytes age adds besides the 16 bytes per chunk: header and nonce, the same for every file. */
  readonly overhead: number;

  private constructor(recipients: readonly string[], id: string, overhead: number) {
    this.recipients = recipients;
    this.id = id;
    this.overhead = overhead;
  }

  /** A sealer for `recipients` (checked already), whose id is `id` (their sorted sha256). */
  static async open(recipients: readonly string[], id: string): Promise<Sealer> {
    const empty = await Sealer.#encrypter(recipients).encrypt(new Uint8Array(0));
    return new Sealer(recipients, id, empty.length - 16);
  }

  static #encrypter(recipients: readonly string[]): Encrypter {
    const e = new Encrypter();
    for (const r of recipients) e.addRecipient(r);
    return e;
  }

  /** The encrypted size of `bytes` of plaintext. Pure. */
  sealedSize(bytes: number): number {
    return this.overhead + bytes + 16 * Math.max(1, Math.ceil(bytes / 65536));
  }

  /**
   * The encrypted stream of `plain`, hashing the plaintext on the way (`count` is told each
   * plaintext chunk's length). `digest()` gives the plaintext's size and hashes once the stream
   * has been read to its end.
   */
  async seal(
    plain: ReadableStream<Uint8Array>,
    count: (n: number) => void = () => {},
  ): Promise<{ stream: ReadableStream<Uint8Array>; digest(): PlainDigest | undefined }> {
    const hashed = hashThrough(plain, count);
    const stream = await Sealer.#encrypter(this.recipients).encrypt(hashed.stream);
    return { stream, digest: hashed.digest };
  }
}

/**
 * A {@link BlobSource} that opens map entries as plaintext: an entry with an encrypted blob
 * (`stored`) is opened by that blob and decrypted with the identity of `decode` (a usage error
 * without one; a {@link BackupError} naming the file when the identity does not match); other
 * entries as `blobs` opens them. The caller still checks the plaintext's sha256 against the map.
 */
export function openingPlain(blobs: BlobSource, decode: DecodeOptions): BlobSource {
  return {
    ...(blobs.local !== undefined ? { local: blobs.local } : {}),
    name: (b) => blobs.name("stored" in b ? blobOf(b as MapObject) : b),
    open: async (b) => {
      const o = b as Partial<MapObject>;
      if (!o.stored) return await blobs.open(b);
      const what = o.bucket !== undefined
        ? `the Storage file ${o.bucket}/${o.name}`
        : blobs.name(blobOf(o as MapObject));
      const entry: ManifestFile = { bytes: b.size, sha256: b.sha256, encrypted: true, stored: o.stored };
      return asMismatch(
        await decodeStream(await blobs.open(blobOf(o as MapObject)), what, entry, decode),
        what,
      );
    },
  };
}

/**
 * The stream `s`, whose read errors (age refusing a chunk whose bytes were changed) become a
 * {@link BlobMismatch} naming `what`: a restore then names the damaged file instead of retrying.
 */
function asMismatch(s: ReadableStream<Uint8Array>, what: string): ReadableStream<Uint8Array> {
  const reader = s.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(ctl) {
      try {
        const r = await reader.read();
        if (r.done) ctl.close();
        else ctl.enqueue(r.value);
      } catch (e) {
        ctl.error(new BlobMismatch(`${what} cannot be decrypted: ${(e as Error).message.split("\n")[0]}`));
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}
