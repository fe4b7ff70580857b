/**
 * Verifying a backup on disk, with the manifest checker (lib/store/check.ts): every file's size and
 * SHA-256 against the manifest (compressed or encrypted files are checked as their plaintext),
 * missing and extra files, as a report per backup and its text form. Finding the backup `--from`
 * names is lib/store/listing.ts; the drill (restore and count) lives in lib/check/drill.ts.
 * @module
 */
import type { DecodeOptions } from "../store/decode.ts";
import { BackupError } from "../base/errors.ts";
import { type Manifest, MANIFEST_NAME, readManifest } from "../store/manifest.ts";
import { checkFiles, type FileFault, unlistedFiles } from "../store/check.ts";
import { type BackupSource, sourceName } from "../store/reader.ts";

/** The result of verifying one backup directory (or one backup in an object store). */
export interface VerifyReport {
  /** The backup directory, or where the backup is in its object store. */
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
 * Verifies one backup directory (or a backup in an object store, each file streamed from its blob):
 * every manifest file's size and checksum, files that are missing, and files on disk the manifest
 * does not list. A missing or unreadable manifest is a fault too
 * (reported as manifest.json), not an exception.
 */
export async function verifyBackup(
  src: BackupSource,
  label: string,
  opts: DecodeOptions & { jobs?: number } = {},
): Promise<VerifyReport> {
  const dir = sourceName(src);
  let m: Manifest;
  try {
    m = await readManifest(src);
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
  const faults = await checkFiles(src, m, listed, opts);
  // in an object store, files are blobs named by their hash: there is nothing unlisted to find
  for (const p of typeof src === "string" ? await unlistedFiles(src, m) : []) {
    faults.push({ file: p, problem: "extra", detail: "not listed in manifest.json" });
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
