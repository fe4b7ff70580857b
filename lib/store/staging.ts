/**
 * Files in the staging directory once written: cutting a schema dump above the size limit into
 * numbered parts, and the final check of the whole directory against the manifest before the
 * caller puts it in place.
 * @module
 */
import { join } from "node:path";
import { BackupError } from "../base/errors.ts";
import { dumpPartPath } from "./layout.ts";
import type { Manifest } from "./manifest.ts";
import { FileSink } from "./sink.ts";
import { checkFiles, unlistedFiles } from "./check.ts";

/** Splits a dump larger than `max` into numbered chunks; returns the file list in order. */
export async function splitDump(dir: string, dump: string, max: number): Promise<string[]> {
  const path = join(dir, dump);
  const size = (await Deno.stat(path)).size;
  if (size <= max) return [dump];
  const parts: string[] = [];
  const src = await Deno.open(path, { read: true });
  try {
    const buf = new Uint8Array(Math.min(max, 8 << 20));
    let n = 0;
    let sink: FileSink | undefined;
    for (;;) {
      const want = sink ? Math.min(buf.length, max - sink.bytes) : buf.length;
      const read = await src.read(buf.subarray(0, want));
      if (read === null) break;
      if (!sink) {
        const p = dumpPartPath(dump, ++n);
        parts.push(p);
        sink = await FileSink.open(join(dir, p));
      }
      await sink.write(buf.subarray(0, read));
      if (sink.bytes >= max) {
        await sink.close();
        sink = undefined;
      }
    }
    if (sink) await sink.close();
  } finally {
    src.close();
  }
  await Deno.remove(path);
  return parts;
}

/** Files checkStaging hashes at a time (one buffer each): one is read while the other is hashed. */
const CHECK_JOBS = 2;

/**
 * Checks the staging directory against the manifest (lib/store/check.ts): every listed file present
 * with its size and checksum (of its stored form when encoded), and no file that the manifest does
 * not list. Throws naming the first bad file in manifest order.
 */
export async function checkStaging(dir: string, m: Manifest): Promise<void> {
  const [bad] = await checkFiles(dir, m, Object.keys(m.files), {
    stored: true,
    firstOnly: true,
    jobs: CHECK_JOBS,
  });
  if (bad?.problem === "missing" || bad?.problem === "unreadable") {
    throw new BackupError(`backup check failed: ${bad.file} is missing`, {
      hint: "check free disk space and run again",
    });
  }
  if (bad) {
    throw new BackupError(`backup check failed: ${bad.file} does not match what was written`, {
      hint: "the disk or file system changed the file; check free space and run again",
    });
  }
  const [extra] = await unlistedFiles(dir, m);
  if (extra !== undefined) {
    throw new BackupError(`backup check failed: unexpected file ${extra}`, {
      hint: "report this as a bug",
    });
  }
}
