/**
 * The one manifest checker: a backup directory's files against its manifest.json. Each listed
 * file's size and SHA-256 (of its plaintext, read through decode.ts, or of its stored bytes), files
 * that are missing, and files on disk the manifest does not list. It serves the staging check of a
 * fresh backup (staging.ts), `verify` (lib/check/verify.ts) and the restore's check of the files it
 * is about to read.
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { BackupError } from "../base/errors.ts";
import { type DecodeOptions, openPlaintext, storedCheck } from "./decode.ts";
import { type Manifest, MANIFEST_NAME, type ManifestFile } from "./manifest.ts";
import { assertSafePath, openInBackup } from "./safepath.ts";
import { BUFFER, hashOpened, type Written } from "./sink.ts";
import { type BackupSource, sourceName } from "./reader.ts";

/** One problem with one file. */
export interface FileFault {
  file: string;
  problem: "missing" | "size" | "checksum" | "unreadable" | "extra";
  detail: string;
}

/** How {@link checkFiles} checks. */
export interface CheckOptions extends DecodeOptions {
  /** Files checked at a time, one read buffer each; default 4. */
  jobs?: number;
  /**
   * Compare each file's stored bytes (its `stored` form when encoded) instead of its plaintext:
   * the staging check, right after the files were written.
   */
  stored?: boolean;
  /**
   * Stop at the first bad file in the order given: files after it are not started, and only that
   * fault is returned.
   */
  firstOnly?: boolean;
}

const firstLine = (e: unknown) => e instanceof Error ? e.message.split("\n")[0] : String(e);

/** Size and SHA-256 of a stream. */
async function hashStream(stream: ReadableStream<Uint8Array>): Promise<Written> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { bytes, sha256: hash.digest("hex") };
}

/**
 * Checks one file against its manifest entry. Returns the fault, or undefined when size and
 * checksum match. Throws the decoder's {@link BackupError} when an identity is wrong or missing (that
 * is not a damaged file). `buf` is the read buffer for files read as they are stored.
 */
export async function checkFile(
  dir: BackupSource,
  rel: string,
  entry: ManifestFile,
  opts: CheckOptions = {},
  buf?: Uint8Array,
): Promise<FileFault | undefined> {
  // Stored bytes: for the staging check, or an encrypted file checked without its identity.
  const stored = opts.stored ? entry.stored ?? entry : storedCheck(entry, opts);
  const want = stored ?? entry;
  const raw = stored !== undefined || (!entry.encrypted && !entry.compression);
  let got: Written;
  try {
    if (raw && typeof dir !== "string") got = await hashStream(await dir.open(rel, entry));
    else if (raw && typeof dir === "string") {
      // Opened through the path check: nothing outside the backup, no symlink, no device.
      got = await hashOpened(await openInBackup(dir, rel), buf);
    } else got = await hashStream(await openPlaintext(dir, rel, entry, opts));
  } catch (e) {
    if (e instanceof BackupError) throw e;
    if (e instanceof Deno.errors.NotFound) {
      return {
        file: rel,
        problem: "missing",
        detail: typeof dir === "string" ? "file is missing" : firstLine(e),
      };
    }
    return { file: rel, problem: "unreadable", detail: firstLine(e) };
  }
  if (got.bytes !== want.bytes) {
    return { file: rel, problem: "size", detail: `${got.bytes} bytes, the manifest says ${want.bytes}` };
  }
  if (got.sha256 !== want.sha256) {
    return {
      file: rel,
      problem: "checksum",
      detail: `sha256 ${got.sha256.slice(0, 12)}…, the manifest says ${want.sha256.slice(0, 12)}…`,
    };
  }
  return undefined;
}

/**
 * Checks `files` (paths relative to `dir`) against the manifest, `opts.jobs` at a time. A file the
 * manifest does not list is reported as missing from the manifest. Returns the faults in the order
 * of `files` (with `firstOnly`, the first one at most). Throws like {@link checkFile}.
 */
export async function checkFiles(
  dir: BackupSource,
  m: Manifest,
  files: readonly string[],
  opts: CheckOptions = {},
): Promise<FileFault[]> {
  // A path that leaves the backup is refused before anything is read (exit 2).
  files.forEach(assertSafePath);
  Object.keys(m.files).forEach(assertSafePath);
  const results: (FileFault | undefined)[] = new Array(files.length);
  // Files start in order, so once file i is bad every file before it has started, and the first
  // bad one is known when the running checks end.
  let end = files.length;
  let next = 0;
  let failed: { error: unknown } | undefined;
  const worker = async () => {
    const buf = new Uint8Array(BUFFER);
    while (!failed && next < end) {
      const i = next++;
      const entry = Object.hasOwn(m.files, files[i]) ? m.files[files[i]] : undefined;
      try {
        results[i] = entry
          ? await checkFile(dir, files[i], entry, opts, buf)
          : { file: files[i], problem: "missing", detail: "not listed in manifest.json" };
      } catch (error) {
        failed ??= { error };
      }
      if (results[i] && opts.firstOnly) end = Math.min(end, i);
    }
  };
  const workers = Math.max(1, Math.min(opts.jobs ?? 4, files.length));
  await Promise.all(Array.from({ length: workers }, worker));
  if (failed) throw failed.error;
  const faults = results.filter((f): f is FileFault => f !== undefined);
  return opts.firstOnly ? faults.slice(0, 1) : faults;
}

/** Files under `dir` that the manifest does not list (manifest.json aside), relative and sorted. */
export async function unlistedFiles(dir: string, m: Manifest): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string) => {
    for await (const e of Deno.readDir(rel ? join(dir, rel) : dir)) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) await walk(p);
      else if (p !== MANIFEST_NAME && !Object.hasOwn(m.files, p)) out.push(p);
    }
  };
  await walk("");
  return out.sort();
}

/**
 * Throws a {@link BackupError} (exit 1) naming the first bad file when `faults` is not empty;
 * `what` says what was about to happen ("restore").
 */
export function throwOnFaults(faults: FileFault[], dir: BackupSource, what: string): void {
  if (faults.length === 0) return;
  const f = faults[0];
  const more = faults.length > 1 ? ` (and ${faults.length - 1} more bad file(s))` : "";
  throw new BackupError(`${what}: backup file ${f.file} is damaged: ${f.detail}${more}`, {
    hint: `the backup in ${
      sourceName(dir)
    } is corrupted or incomplete; run 'backup.ts verify' and use another with --from`,
  });
}
