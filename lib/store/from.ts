/**
 * What `--from` names on disk: `latest`, an archive, or a path to a backup folder under a root
 * (`resolveFrom`), every backup of a root (`allBackups`), and whether a reference names a backup in
 * a git commit instead (`<rev>:<path>`, `namesGitRevision`). A restore or verify of a folder loads
 * only this; the git client (git.ts) is loaded only to explain a backup that is kept in git only.
 * @module
 */
import { isAbsolute, join, resolve } from "node:path";
import { usageError } from "../base/errors.ts";

/** Whether `p` is a folder (false when it is missing or cannot be read). */
export async function isDir(p: string): Promise<boolean> {
  try {
    return (await Deno.stat(p)).isDirectory;
  } catch {
    return false;
  }
}

/** Whether `ref` has the form `<rev>:<path>` (a colon after at least one character). Pure. */
export function isRevisionRef(ref: string): boolean {
  return ref.indexOf(":") > 0;
}

/**
 * Whether `--from` names a backup in a git commit: it has the form `<rev>:<path>` and is not a
 * folder on disk (a path with a colon in it stays a path).
 */
export async function namesGitRevision(ref: string): Promise<boolean> {
  return isRevisionRef(ref) && !(await isDir(ref));
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
    if (await isDir(dir)) return { dir, label: "latest" };
    const { latestInGit } = await import("./git.ts");
    const inGit = await latestInGit(root);
    if (inGit) {
      throw usageError(
        `--from latest: ${dir} is kept in git only (a checkout without backups)`,
        `read it from git with --from HEAD:${inGit.path}, or check it out first with 'git sparse-checkout add /${inGit.path}/'`,
      );
    }
    throw usageError(`no backup at ${dir} (--from latest)`, hint);
  }
  const name = from.replace(/^archive\//, "");
  if (!name.includes("/") && name !== "." && name !== "..") {
    const dir = join(root, "archive", name);
    if (await isDir(dir)) return { dir, label: `archive/${name}` };
  }
  if (isAbsolute(from) || from.includes("/") || from.startsWith(".")) {
    if (await isDir(from)) return { dir: from, label: resolve(from) };
  }
  const { archivesInGit } = await import("./git.ts");
  const inGit = (await archivesInGit(root)).find((a) => a.name === name);
  if (inGit) {
    throw usageError(
      `--from '${from}': archive/${name} is kept in git only (a sparse checkout)`,
      `check it out first with 'git sparse-checkout add /${inGit.path}/', then run again`,
    );
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
