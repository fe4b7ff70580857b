/**
 * Verifying a backup on disk: every file's size and SHA-256 against the manifest (read through
 * lib/store/decode.ts, so compressed or encrypted files are checked as their plaintext), missing and
 * extra files, and finding the backup that `--from` names. The drill (restore and count) lives in
 * lib/check/drill.ts.
 * @module
 */
import { createHash } from "node:crypto";
import { isAbsolute, join, resolve } from "node:path";
import { type DecodeOptions, openPlaintext, storedCheck } from "../store/decode.ts";
import { BackupError, usageError } from "../base/errors.ts";
import { type Manifest, MANIFEST_NAME, type ManifestFile, readManifest } from "../store/manifest.ts";
import { runPool } from "../base/pool.ts";

/** One problem with one file. */
export interface FileFault {
  file: string;
  problem: "missing" | "size" | "checksum" | "unreadable" | "extra";
  detail: string;
}

/** The result of verifying one backup directory. */
export interface VerifyReport {
  /** The backup directory. */
  dir: string;
  /** Its name for people: `latest` or `archive/<name>`. */
  label: string;
  createdAt?: string;
  status?: string;
  files: number;
  bytes: number;
  faults: FileFault[];
}

/**
 * Checks one file against its manifest entry by reading its plaintext. Returns the fault, or
 * undefined when size and checksum match.
 */
export async function checkFile(
  dir: string,
  rel: string,
  entry: ManifestFile,
  opts: DecodeOptions = {},
): Promise<FileFault | undefined> {
  // An encrypted file checked without its identity: compare the stored bytes instead.
  const stored = storedCheck(entry, opts);
  const want = stored ?? entry;
  let stream: ReadableStream<Uint8Array>;
  try {
    stream = stored
      ? (await Deno.open(join(dir, rel), { read: true })).readable
      : await openPlaintext(dir, rel, entry, opts);
  } catch (e) {
    // A missing or wrong identity is not a damaged file: stop with its own message.
    if (e instanceof BackupError) throw e;
    if (e instanceof Deno.errors.NotFound) {
      return { file: rel, problem: "missing", detail: "file is missing" };
    }
    const msg = e instanceof Error ? e.message.split("\n")[0] : String(e);
    return { file: rel, problem: "unreadable", detail: msg };
  }
  const hash = createHash("sha256");
  let bytes = 0;
  try {
    for await (const chunk of stream) {
      hash.update(chunk);
      bytes += chunk.length;
    }
  } catch (e) {
    const msg = e instanceof Error ? e.message.split("\n")[0] : String(e);
    return { file: rel, problem: "unreadable", detail: msg };
  }
  if (bytes !== want.bytes) {
    return { file: rel, problem: "size", detail: `${bytes} bytes, the manifest says ${want.bytes}` };
  }
  const sha = hash.digest("hex");
  if (sha !== want.sha256) {
    return {
      file: rel,
      problem: "checksum",
      detail: `sha256 ${sha.slice(0, 12)}…, the manifest says ${want.sha256.slice(0, 12)}…`,
    };
  }
  return undefined;
}

/**
 * Checks `files` (paths relative to `dir`) against the manifest, `jobs` at a time. A file the
 * manifest does not list is reported as missing from the manifest. Returns the faults in input order.
 */
export async function checkFiles(
  dir: string,
  m: Manifest,
  files: readonly string[],
  opts: DecodeOptions & { jobs?: number } = {},
): Promise<FileFault[]> {
  const results = await runPool(
    files.map((rel) => () => {
      const entry = m.files[rel];
      if (!entry) {
        return Promise.resolve<FileFault | undefined>({
          file: rel,
          problem: "missing",
          detail: "not listed in manifest.json",
        });
      }
      return checkFile(dir, rel, entry, opts);
    }),
    opts.jobs ?? 4,
  );
  return results.filter((f): f is FileFault => f !== undefined);
}

/**
 * Throws a {@link BackupError} (exit 1) naming the first bad file when `faults` is not empty;
 * `what` says what was about to happen ("restore").
 */
export function throwOnFaults(faults: FileFault[], dir: string, what: string): void {
  if (faults.length === 0) return;
  const f = faults[0];
  const more = faults.length > 1 ? ` (and ${faults.length - 1} more bad file(s))` : "";
  throw new BackupError(`${what}: backup file ${f.file} is damaged: ${f.detail}${more}`, {
    hint:
      `the backup in ${dir} is corrupted or incomplete; run 'backup.ts verify' and use another with --from`,
  });
}

/** Every file under `dir` except manifest.json, relative and sorted. */
async function walk(dir: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(rel ? join(dir, rel) : dir)) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory) out.push(...await walk(dir, p));
    else if (p !== MANIFEST_NAME) out.push(p);
  }
  return out.sort();
}

/**
 * Verifies one backup directory: every manifest file's size and checksum, files that are missing,
 * and files on disk the manifest does not list. A missing or unreadable manifest is a fault too
 * (reported as manifest.json), not an exception.
 */
export async function verifyBackup(
  dir: string,
  label: string,
  opts: DecodeOptions & { jobs?: number } = {},
): Promise<VerifyReport> {
  let m: Manifest;
  try {
    m = await readManifest(dir);
  } catch (e) {
    const detail = e instanceof BackupError ? e.message : String(e);
    return {
      dir,
      label,
      files: 0,
      bytes: 0,
      faults: [{ file: MANIFEST_NAME, problem: "unreadable", detail }],
    };
  }
  const listed = Object.keys(m.files).sort();
  const faults = await checkFiles(dir, m, listed, opts);
  const known = new Set(listed);
  for (const p of await walk(dir)) {
    if (!known.has(p)) faults.push({ file: p, problem: "extra", detail: "not listed in manifest.json" });
  }
  const bytes = Object.values(m.files).reduce((n, f) => n + f.bytes, 0);
  return { dir, label, createdAt: m.createdAt, status: m.status, files: listed.length, bytes, faults };
}

/** Formats verify reports as text lines (one per backup, then one per fault). Pure. */
export function formatVerify(reports: VerifyReport[]): string {
  const out: string[] = [];
  for (const r of reports) {
    const when = r.createdAt ? ` (${r.createdAt})` : "";
    if (r.faults.length === 0) out.push(`ok      ${r.label}${when}: ${r.files} files match the manifest`);
    else out.push(`FAILED  ${r.label}${when}: ${r.faults.length} bad file(s) of ${r.files}`);
    for (const f of r.faults) out.push(`          ${f.problem.padEnd(9)} ${f.file}: ${f.detail}`);
  }
  const bad = reports.filter((r) => r.faults.length > 0).length;
  out.push(`${reports.length - bad}/${reports.length} backups verified`);
  return out.join("\n");
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await Deno.stat(p)).isDirectory;
  } catch {
    return false;
  }
}

/**
 * Finds the backup `--from` names under `root`: `latest`, an archive folder name (or
 * `archive/<name>`), or a path to a backup directory. Returns its directory and label. Throws a
 * usage error (exit 2) naming `from` when there is no such backup.
 */
export async function resolveFrom(root: string, from: string): Promise<{ dir: string; label: string }> {
  const hint = `run 'backup.ts list${root !== "backups" ? ` --out ${root}` : ""}' to see the backups`;
  if (from === "latest") {
    const dir = join(root, "latest");
    if (!await isDir(dir)) throw usageError(`no backup at ${dir} (--from latest)`, hint);
    return { dir, label: "latest" };
  }
  const name = from.replace(/^archive\//, "");
  if (!name.includes("/") && name !== "." && name !== "..") {
    const dir = join(root, "archive", name);
    if (await isDir(dir)) return { dir, label: `archive/${name}` };
  }
  if (isAbsolute(from) || from.includes("/") || from.startsWith(".")) {
    if (await isDir(from)) return { dir: from, label: resolve(from) };
  }
  throw usageError(`--from '${from}': no such backup in ${root}`, hint);
}

/** Every backup under `root`: latest (if present) and each archive, oldest archive first. */
export async function allBackups(root: string): Promise<{ dir: string; label: string }[]> {
  const out: { dir: string; label: string }[] = [];
  if (await isDir(join(root, "latest"))) out.push({ dir: join(root, "latest"), label: "latest" });
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(join(root, "archive"))) if (e.isDirectory) names.push(e.name);
  } catch {
    // no archive/
  }
  for (const n of names.sort()) out.push({ dir: join(root, "archive", n), label: `archive/${n}` });
  return out;
}
