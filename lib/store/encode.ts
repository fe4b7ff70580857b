/**
 * The stored form of a backup: compression (`--compress gzip|zstd`) and age encryption
 * (`--encrypt-to`, `--recipients-file`) of the files in a staging directory, after they were
 * written and hashed as plaintext.
 *
 * Stored names carry a suffix per step, so a person can tell from a name how to read the file:
 * `data.sql` → `data.sql.gz` → `data.sql.gz.age`. Custom-format dumps (`*.dump`, already compressed
 * by pg_dump) are encrypted but never compressed again. manifest.json is never encoded: it keeps the
 * plaintext size and checksum of every file (what restore and verify compare against), plus the
 * stored size and checksum (`stored`), so an encrypted backup can be checked without the identity.
 *
 * The naming and manifest rewriting are pure; {@link encodeFile} and the encoder stream the bytes
 * (64 KiB age chunks, never a whole file in memory).
 * @module
 */
import { join } from "node:path";
import { Encrypter } from "age-encryption";
import { usageError } from "../base/errors.ts";
import { type Compression, compressor } from "./compress.ts";
import { isSecretKey } from "../base/redact.ts";
import { abortSignal, throwIfInterrupted } from "../base/interrupt.ts";
import type { Manifest, ManifestFile } from "./manifest.ts";
import { runPool } from "../base/pool.ts";
import { FileSink, type Written } from "./sink.ts";

export type { Compression } from "./compress.ts";

/** How to store a backup's files. */
export interface EncodeSettings {
  compression?: Compression;
  /** age recipients (`age1…`); empty means no encryption. */
  recipients: string[];
}

/** The file-name suffix of each compression method. */
export const COMPRESSION_SUFFIX: Record<Compression, string> = { gzip: ".gz", zstd: ".zst" };
/** The file-name suffix of an age-encrypted file. */
export const AGE_SUFFIX = ".age";

/**
 * Backup files that describe how the others are stored and must be read without the identity, so
 * they are never encoded, like manifest.json: the blob index of encrypted Storage files
 * (lib/storage/seal.ts).
 */
export const NEVER_ENCODED: ReadonlySet<string> = new Set(["storage-blobs.json"]);

/** True when a file is compressed by this tool (plain SQL); custom-format dumps are not. */
export function isCompressible(rel: string): boolean {
  return rel.endsWith(".sql");
}

/** The stored name of a plaintext file `rel` under `s`, and how it is encoded. Pure. */
export function storedForm(
  rel: string,
  s: EncodeSettings,
): { name: string; compression?: Compression; encrypted: boolean } {
  if (NEVER_ENCODED.has(rel)) return { name: rel, encrypted: false };
  const compression = s.compression && isCompressible(rel) ? s.compression : undefined;
  const encrypted = s.recipients.length > 0;
  const name = rel + (compression ? COMPRESSION_SUFFIX[compression] : "") + (encrypted ? AGE_SUFFIX : "");
  return { name, ...(compression ? { compression } : {}), encrypted };
}

/**
 * Returns a copy of `m` with every file path renamed by `rename` (manifest `files` keys, `roles`,
 * `catalog`, each schema's `dump`/`dumpParts`, each table's `schemaFile`/`dataFiles`) and each file entry
 * replaced by `entries[newName]` when given. Pure; throws when two paths map to the same name.
 */
export function renameFiles(
  m: Manifest,
  rename: (rel: string) => string,
  entries: Record<string, ManifestFile> = {},
): Manifest {
  const files: Record<string, ManifestFile> = {};
  for (const [rel, f] of Object.entries(m.files)) {
    const to = rename(rel);
    if (files[to]) throw new Error(`two backup files would be stored as ${to}`);
    files[to] = entries[to] ?? f;
  }
  return {
    ...m,
    roles: m.roles === null ? null : rename(m.roles),
    ...(m.catalog !== undefined ? { catalog: rename(m.catalog) } : {}),
    ...(m.storage ? { storage: { ...m.storage, map: rename(m.storage.map) } } : {}),
    schemas: m.schemas.map((s) => ({
      ...s,
      dump: rename(s.dump),
      ...(s.dumpParts ? { dumpParts: s.dumpParts.map(rename) } : {}),
      tables: s.tables.map((t) => ({
        ...t,
        schemaFile: rename(t.schemaFile),
        dataFiles: t.dataFiles.map(rename),
      })),
    })),
    files,
  };
}

const RECIPIENT_HINT = "an age recipient starts with age1; 'age-keygen -y key.txt' prints the one of a key";

/**
 * How a rejected recipient may be shown in a message: quoted (cut at 80 characters) only when it is
 * shaped like a public key (`age1…`, `ssh-…`); anything else might be a secret pasted in the wrong
 * place, so only its length is told. Pure.
 */
export function shownRecipient(r: string): string {
  if (/^(?:age1|ssh-)[\x20-\x7e]*$/i.test(r)) return `'${r.length > 80 ? r.slice(0, 77) + "…" : r}'`;
  return `a value of ${r.length} characters (not shown, in case it is a secret)`;
}

/**
 * Throws a usage error naming `origin` when `r` is not an age recipient the library accepts. The
 * message never holds an identity (a secret key) or any other value that is not shaped like a
 * public key (see {@link shownRecipient}).
 */
export function checkRecipient(r: string, origin: string): void {
  if (isSecretKey(r)) {
    throw usageError(
      `${origin}: the value is a secret key (an age identity or a private key), not a recipient; it is not shown`,
      "pass its recipient (age1…), which 'age-keygen -y key.txt' prints; the identity belongs only where backups are decrypted (--identity-file)",
    );
  }
  try {
    new Encrypter().addRecipient(r);
  } catch {
    throw usageError(`${origin}: ${shownRecipient(r)} is not an age recipient`, RECIPIENT_HINT);
  }
}

/**
 * Parses the text of a recipients file: one `age1…` recipient a line; blank lines and `#` comments
 * are ignored. Pure. Throws a usage error naming `origin` (and the line) for anything else, without
 * quoting a line that could be a secret (see {@link checkRecipient}).
 */
export function parseRecipients(text: string, origin: string): string[] {
  const out: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith("#")) return;
    if (isSecretKey(line)) {
      throw usageError(
        `${origin} line ${i + 1} holds a secret key (an age identity or a private key), not a recipient`,
        "put only public recipients (age1…) there and keep the identity out of the repository",
      );
    }
    checkRecipient(line, `${origin} line ${i + 1}`);
    out.push(line);
  });
  return out;
}

/**
 * Streams `src` into `dst` compressed and/or encrypted as `form` says, written 0600. Returns the
 * stored size and checksum. Throws on a read or write error (e.g. a full disk); `dst` may then be
 * left partly written (the caller's staging directory is removed as a whole).
 */
export async function encodeFile(
  src: string,
  dst: string,
  form: { compression?: Compression; recipients: string[] },
): Promise<Written> {
  const file = await Deno.open(src, { read: true });
  let stream: ReadableStream<Uint8Array> = file.readable;
  if (form.compression) stream = stream.pipeThrough(compressor(form.compression));
  if (form.recipients.length > 0) {
    const e = new Encrypter();
    for (const r of form.recipients) e.addRecipient(r);
    stream = await e.encrypt(stream);
  }
  const sink = await FileSink.open(dst);
  try {
    for await (const chunk of stream) {
      if (abortSignal.aborted) throwIfInterrupted();
      await sink.write(chunk);
    }
    return await sink.close();
  } catch (e) {
    sink.abandon();
    await stream.cancel().catch(() => {});
    throw e;
  }
}

/**
 * Encodes every file of the staged backup in `dir` as `s` says (4 at a time), removes the
 * plaintext, and returns the manifest with stored names and `compression`/`encrypted`/`stored`
 * on each entry. Throws on the first failure (the staging directory is then left to the caller).
 */
export async function encodeBackup(dir: string, m: Manifest, s: EncodeSettings): Promise<Manifest> {
  const entries: Record<string, ManifestFile> = {};
  const names = new Map<string, string>();
  const tasks = Object.entries(m.files).map(([rel, f]) => async () => {
    const form = storedForm(rel, s);
    names.set(rel, form.name);
    if (form.name === rel) return;
    const stored = await encodeFile(join(dir, rel), join(dir, form.name), {
      compression: form.compression,
      recipients: s.recipients,
    });
    await Deno.remove(join(dir, rel));
    entries[form.name] = {
      bytes: f.bytes,
      sha256: f.sha256,
      ...(form.compression ? { compression: form.compression } : {}),
      ...(form.encrypted ? { encrypted: true } : {}),
      stored,
    };
  });
  await runPool(tasks, 4);
  return renameFiles(m, (rel) => names.get(rel) ?? rel, entries);
}

/**
 * Returns the `encode` hook of the backup executor for settings `s`, or undefined when files are
 * stored as written (no compression, no recipient).
 */
export function makeEncoder(
  s: EncodeSettings,
): ((dir: string, m: Manifest) => Promise<Manifest>) | undefined {
  if (!s.compression && s.recipients.length === 0) return undefined;
  return (dir, m) => encodeBackup(dir, m, s);
}
