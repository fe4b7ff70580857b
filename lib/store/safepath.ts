/**
 * Paths that a backup's manifest names, checked before anything reads them: whoever can write the backup
 * repository writes the manifest, so a path may not leave the backup (`..`, absolute paths, backslashes,
 * empty or control-character segments), and what it names must be a regular file inside the backup
 * folder, reached without symlinks (a symlinked data.sql or folder could point at any file on this
 * machine, or at a device such as /dev/zero).
 * @module
 */
import { join, sep } from "node:path";
import { BackupError } from "../base/errors.ts";

/** Why `rel` is not a path inside a backup, or undefined when it is one. Pure. */
export function unsafePathReason(rel: unknown): string | undefined {
  if (typeof rel !== "string" || rel === "") return "is not a non-empty string";
  if (rel.startsWith("/")) return "is absolute";
  if (rel.includes("\\")) return "holds a backslash";
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(rel)) return "holds a control character";
  for (const seg of rel.split("/")) {
    if (seg === "" || seg === "." || seg === "..") return `holds the segment '${seg}'`;
  }
  return undefined;
}

function refused(rel: string, why: string): BackupError {
  return new BackupError(`the manifest names a file outside the backup: ${JSON.stringify(rel)} ${why}`, {
    exitCode: 2,
    hint:
      "manifest.json was changed by someone else or is damaged; restore another backup, and check who can write to the backup repository",
  });
}

/** Throws (exit 2) unless `rel` is a path inside a backup. */
export function assertSafePath(rel: string): void {
  const why = unsafePathReason(rel);
  if (why) throw refused(rel, why);
}

/**
 * Opens `rel` inside the backup folder `dir` for reading, after checking that the path stays inside, that
 * no folder on the way and not the file itself is a symlink, and that it is a regular file. A missing
 * file throws Deno.errors.NotFound (a fault the caller reports); everything else throws exit 2.
 */
export async function openInBackup(dir: string, rel: string): Promise<Deno.FsFile> {
  assertSafePath(rel);
  let at = dir;
  const segs = rel.split("/");
  for (const [i, seg] of segs.entries()) {
    at = join(at, seg);
    // Synchronous: a local metadata call, cheaper than a trip through the runtime's thread pool (a
    // restore checks hundreds of files while it streams rows).
    const info = Deno.lstatSync(at);
    if (info.isSymlink) throw refused(rel, "goes through a symlink");
    if (i < segs.length - 1 ? !info.isDirectory : !info.isFile) {
      throw refused(
        rel,
        i < segs.length - 1 ? `has '${seg}', which is not a folder` : "is not a regular file",
      );
    }
  }
  const file = await Deno.open(at, { read: true });
  // The path could have been swapped between the checks and the open: check what was opened.
  const st = await file.stat();
  if (!st.isFile) {
    file.close();
    throw refused(rel, "is not a regular file");
  }
  return file;
}

/** The path of `rel` inside `dir` (checked as {@link assertSafePath} does). */
export function pathInBackup(dir: string, rel: string): string {
  assertSafePath(rel);
  return join(dir, ...rel.split("/")).split("/").join(sep);
}
