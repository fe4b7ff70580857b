/**
 * Reading one file of a backup as plaintext, whatever its stored form. Restore and verify read
 * every backup file through here, so compressed or encrypted backups work transparently: the
 * manifest entry says how the file is stored (`encrypted`, `compression`), and the bytes are
 * decrypted (age, with `--identity-file`) and decompressed as a stream.
 * @module
 */
import { join } from "node:path";
import type { Decrypter } from "age-encryption";
import { decompress } from "./compress.ts";
import { BackupError, usageError } from "../base/errors.ts";
import type { ManifestFile } from "./manifest.ts";
import { openInBackup, pathInBackup } from "./safepath.ts";
import type { BackupSource } from "./reader.ts";

/** How to decode stored files (an age identity for encrypted backups). */
export interface DecodeOptions {
  identityFile?: string;
}

/** The age library, loaded on first use: a backup without encryption is read without it. */
const ageLibrary = () => import("age-encryption");

/**
 * Parses the text of an age identity file (as written by `age-keygen`): every
 * `AGE-SECRET-KEY-…` line; comments and blank lines are skipped. No I/O but loading the age library.
 * Rejects with a usage error naming `origin` when there is no identity, or a line the library rejects.
 */
export async function parseIdentities(text: string, origin: string): Promise<string[]> {
  const { Decrypter } = await ageLibrary();
  const out: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith("#")) return;
    if (!line.startsWith("AGE-SECRET-KEY-")) {
      throw usageError(
        `${origin} line ${i + 1} is not an age identity`,
        "--identity-file takes the file age-keygen wrote (lines AGE-SECRET-KEY-1…), not a recipient",
      );
    }
    try {
      new Decrypter().addIdentity(line);
    } catch {
      throw usageError(
        `${origin} line ${i + 1} is not a valid age identity`,
        "check that the key was copied whole",
      );
    }
    out.push(line);
  });
  if (out.length === 0) {
    throw usageError(`${origin} holds no age identity`, "it should hold a line AGE-SECRET-KEY-1…");
  }
  return out;
}

const decrypters = new Map<string, Promise<Decrypter>>();

/** A Decrypter with every identity of `file`, read once per process. Throws a usage error. */
function decrypterFor(file: string): Promise<Decrypter> {
  let d = decrypters.get(file);
  if (!d) {
    d = (async () => {
      let text: string;
      try {
        text = await Deno.readTextFile(file);
      } catch (e) {
        throw usageError(
          `--identity-file '${file}' cannot be read: ${(e as Error).message.split(" (")[0].split(":")[0]}`,
          "point --identity-file at the age identity (secret key) the backup was encrypted to",
        );
      }
      const ids = await parseIdentities(text, `--identity-file '${file}'`);
      const dec = new (await ageLibrary()).Decrypter();
      for (const id of ids) dec.addIdentity(id);
      return dec;
    })();
    decrypters.set(file, d);
  }
  return d;
}

/** The decrypter for an encrypted entry (undefined when plain). Throws a usage error without an identity. */
async function decrypterOf(
  rel: string,
  entry: ManifestFile,
  opts: DecodeOptions,
): Promise<Decrypter | undefined> {
  if (!entry.encrypted) return undefined;
  if (!opts.identityFile) {
    throw usageError(
      `${rel} is encrypted and no --identity-file was given`,
      "pass --identity-file with the age identity (secret key) the backup was encrypted to",
    );
  }
  return await decrypterFor(opts.identityFile);
}

/**
 * Opens `<dir>/<rel>` (or `rel` of a reader) and returns its plaintext as a stream. Throws Deno.errors.NotFound when the
 * file is missing; a usage error (exit 2) when it is encrypted and no identity was given; a
 * {@link BackupError} (exit 1) naming the file and the identity file when the identity does not
 * match; a plain Error when the file is not valid age data. Corruption further in surfaces as an
 * error while reading the stream.
 */
export async function openPlaintext(
  dir: BackupSource,
  rel: string,
  entry: ManifestFile,
  opts: DecodeOptions = {},
): Promise<ReadableStream<Uint8Array>> {
  const dec = await decrypterOf(rel, entry, opts);
  if (typeof dir !== "string") return await decodeStream(await dir.open(rel, entry), rel, entry, opts, dec);
  const f = await openInBackup(dir, rel);
  return await decodeStream(f.readable, rel, entry, opts, dec, () => {
    try {
      f.close();
    } catch {
      // already closed by the stream
    }
  });
}

/**
 * Turns the stored bytes of backup file `rel` (from anywhere: a file, a git blob) into its
 * plaintext stream, as {@link openPlaintext} does for a file on disk. Throws as it does.
 */
export async function decodeStream(
  stored: ReadableStream<Uint8Array>,
  rel: string,
  entry: ManifestFile,
  opts: DecodeOptions = {},
  decrypter?: Decrypter,
  onFail: () => void = () => stored.cancel().catch(() => {}),
): Promise<ReadableStream<Uint8Array>> {
  let dec = decrypter;
  if (!dec) {
    try {
      dec = await decrypterOf(rel, entry, opts);
    } catch (e) {
      onFail();
      throw e;
    }
  }
  let stream = stored;
  if (dec) {
    try {
      stream = await dec.decrypt(stream);
    } catch (e) {
      onFail();
      const msg = e instanceof Error ? e.message : String(e);
      if (/no identity matched/.test(msg)) {
        throw new BackupError(
          `cannot decrypt ${rel}: no identity in '${opts.identityFile}' matches its recipients`,
          {
            hint: "use the identity whose recipient (age1…) was given to --encrypt-to for this backup",
            cause: e,
          },
        );
      }
      throw new Error(`${rel} is not readable age data: ${msg.split("\n")[0]}`);
    }
  }
  if (entry.compression) stream = decompress(stream, entry.compression);
  return stream;
}

/**
 * Returns a path to the plaintext of `<dir>/<rel>`: the file itself when stored plain in a
 * directory, else a decoded copy under `tmpDir` (0600; always for a reader). Throws as
 * {@link openPlaintext} does, or on a read error.
 */
export async function plaintextPath(
  dir: BackupSource,
  rel: string,
  entry: ManifestFile,
  tmpDir: string,
  opts: DecodeOptions = {},
): Promise<string> {
  if (typeof dir === "string" && !entry.encrypted && !entry.compression) {
    (await openInBackup(dir, rel)).close();
    return pathInBackup(dir, rel);
  }
  const stream = await openPlaintext(dir, rel, entry, opts);
  const out = join(tmpDir, `plain-${crypto.randomUUID()}-${rel.split("/").pop()}`);
  const file = await Deno.open(out, { write: true, create: true, truncate: true, mode: 0o600 });
  await stream.pipeTo(file.writable);
  return out;
}

/**
 * The size and checksum a check without the plaintext compares against: the entry's `stored`
 * form when the file is encrypted and no identity was given, else undefined (check the plaintext).
 */
export function storedCheck(entry: ManifestFile, opts: DecodeOptions = {}): ManifestFile["stored"] {
  return entry.encrypted && !opts.identityFile ? entry.stored : undefined;
}
