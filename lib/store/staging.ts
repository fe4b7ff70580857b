/**
 * Files in the staging directory once written: cutting a schema dump above the size limit into
 * numbered parts, and the final check of the whole directory against the manifest before the
 * caller puts it in place.
 * @module
 */
import { join } from "node:path";
import { BackupError } from "../base/errors.ts";
import { dumpPartPath } from "./layout.ts";
import { type Manifest, MANIFEST_NAME } from "./manifest.ts";
import { BUFFER, FileSink, hashFile, type Written } from "./sink.ts";

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
 * Checks the staging directory against the manifest: every listed file present with its size and
 * checksum (of its stored form when encoded), and no file that the manifest does not list. Throws
 * naming the first bad file in manifest order.
 */
export async function checkStaging(dir: string, m: Manifest): Promise<void> {
  const listed = new Set(Object.keys(m.files));
  const entries = Object.entries(m.files);
  // Files are started in manifest order, so once file i is found bad every file before it has been
  // started, and the first bad one is known when the running checks end; later ones do not start.
  const problems: (BackupError | undefined)[] = [];
  let firstBad = entries.length;
  let next = 0;
  const worker = async () => {
    const buf = new Uint8Array(BUFFER);
    while (next < firstBad) {
      const i = next++;
      const [rel, want] = entries[i];
      problems[i] = await checkFile(join(dir, rel), rel, want.stored ?? want, buf);
      if (problems[i]) firstBad = Math.min(firstBad, i);
    }
  };
  await Promise.all(Array.from({ length: CHECK_JOBS }, worker));
  if (firstBad < entries.length) throw problems[firstBad];
  const extra: string[] = [];
  const walk = async (rel: string) => {
    for await (const e of Deno.readDir(join(dir, rel))) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) await walk(p);
      else if (p !== MANIFEST_NAME && !listed.has(p)) extra.push(p);
    }
  };
  await walk("");
  if (extra.length > 0) {
    throw new BackupError(`backup check failed: unexpected file ${extra[0]}`, {
      hint: "report this as a bug",
    });
  }
}

/** What is wrong with one staged file, or undefined when it has the size and checksum `want`. */
async function checkFile(
  path: string,
  rel: string,
  want: Written,
  buf: Uint8Array,
): Promise<BackupError | undefined> {
  let got: Written;
  try {
    got = await hashFile(path, buf);
  } catch {
    return new BackupError(`backup check failed: ${rel} is missing`, {
      hint: "check free disk space and run again",
    });
  }
  if (got.bytes !== want.bytes || got.sha256 !== want.sha256) {
    return new BackupError(`backup check failed: ${rel} does not match what was written`, {
      hint: "the disk or file system changed the file; check free space and run again",
    });
  }
}
