/**
 * Reading backups from the history of the git repository that holds a root, without checking
 * anything out: manifests and files come from `git cat-file blob <commit>:<path>`, run through the
 * one process runner (lib/base/proc.ts). A backup in a commit is named `<rev>:<path>`, the path relative
 * to the repository's top (`HEAD~3:backups/latest`).
 * @module
 */
import { relative } from "node:path";
import { BackupError, usageError } from "../base/errors.ts";
import { killedHint, mustRun, type Program, streamProgram } from "../base/proc.ts";
import { gitEnv, maskGitOutput } from "./git.ts";
import { type Manifest, MANIFEST_NAME, parseManifest } from "./manifest.ts";
import type { BackupReader } from "./reader.ts";
import { LATEST } from "./rotation.ts";
import { assertSafePath } from "./safepath.ts";

const GIT_HINT = "check that git works here (git status) and that the commit and path exist";

function gitProgram(top: string, args: string[], what: string): Program {
  return {
    path: "git",
    args: ["-C", top, ...args],
    // only what git needs (see gitEnv), never the database URLs the tool holds
    env: { ...gitEnv(Deno.env.toObject()), GIT_OPTIONAL_LOCKS: "0" },
    clearEnv: true,
    what,
    hint: (end) => (end.signal && killedHint(end.signal)) || GIT_HINT,
    startHint: "install git and make sure it is on PATH",
    mask: maskGitOutput,
  };
}

/** Runs git; on failure (or when git is missing) returns undefined instead of throwing. */
async function tryGit(top: string, args: string[]): Promise<string | undefined> {
  try {
    return (await mustRun(gitProgram(top, args, `git ${args[0]}`))).stdout;
  } catch (e) {
    if (e instanceof BackupError && e.exitCode >= 130) throw e;
    return undefined;
  }
}

/**
 * The top of the git work tree that holds `dir`, or undefined when `dir` is not in one (or git is
 * not installed).
 */
export async function gitTop(dir: string): Promise<string | undefined> {
  const out = await tryGit(dir, ["rev-parse", "--show-toplevel"]);
  return out?.trim() || undefined;
}

/** `path` relative to the repository top `top` (with `/`), `.` for the top itself. */
export async function pathInRepo(top: string, path: string): Promise<string> {
  let real = path;
  try {
    real = await Deno.realPath(path);
  } catch {
    // not on disk (any more): use it as given
  }
  return relative(await Deno.realPath(top), real).split("\\").join("/") || ".";
}

/**
 * Checks a path read from a manifest before it is used to read a file: relative, no `..` or empty
 * segment, no backslash or NUL. Pure. Throws a {@link BackupError} naming the backup otherwise.
 */
export function checkBackupPath(rel: string, where: string): string {
  const segs = rel.split("/");
  if (
    rel === "" || rel.startsWith("/") || /[\\\0]/.test(rel) ||
    segs.some((s) => s === "" || s === "." || s === "..")
  ) {
    throw new BackupError(`the manifest of ${where} names an unsafe path '${rel}'`, {
      hint: "the manifest was altered: paths must stay inside the backup; use another backup",
    });
  }
  return rel;
}

/** One backup as it was in one commit. */
export interface GitBackup {
  /** The repository top. */
  top: string;
  /** The full commit id. */
  commit: string;
  /** The backup directory relative to the top. */
  path: string;
  /** `<commit7>:<path>`. */
  label: string;
  manifest: Manifest;
}

/**
 * Resolves `rev` to a full commit id in the repository at `top`. Throws a usage error when it
 * names no commit.
 */
export async function resolveCommit(top: string, rev: string): Promise<string> {
  const out = await tryGit(top, ["rev-parse", "--verify", "--quiet", "--end-of-options", `${rev}^{commit}`]);
  const commit = out?.trim();
  if (!commit || !/^[0-9a-f]{40,64}$/.test(commit)) {
    throw usageError(
      `'${rev}' is not a commit of the git repository ${top}`,
      "name a commit git knows (HEAD~2, a hash, a branch); 'git log --oneline -- <root>' lists them",
    );
  }
  return commit;
}

/** Reads a whole blob as text, or undefined when `<commit>:<path>` does not exist. */
export async function readBlobText(top: string, commit: string, path: string): Promise<string | undefined> {
  return await tryGit(top, ["cat-file", "blob", `${commit}:${path}`]);
}

/**
 * The blob `<commit>:<path>` as a stream, which errors with a {@link BackupError} at its end when
 * git fails (a missing file included).
 */
export function openBlob(top: string, commit: string, path: string): ReadableStream<Uint8Array> {
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  // A failed git ends the copy with its error, which then errors the stream the reader holds.
  streamProgram(
    gitProgram(top, ["cat-file", "blob", `${commit}:${path}`], `git cat-file of ${path}`),
    (out) => out.pipeTo(writable),
  ).catch((e) => writable.abort(e).catch(() => {}));
  return readable;
}

/**
 * A {@link BackupReader} over the backup in a git commit: each file streamed with `git cat-file`,
 * nothing written to disk. The commit's file list is read once with `git ls-tree` (trees only, so a
 * blobless clone fetches nothing for it), and a file the commit lacks is Deno.errors.NotFound, as on
 * disk. Every path is checked first (inside the backup, see lib/store/safepath.ts).
 */
export function gitBackupReader(g: GitBackup): BackupReader {
  const trees = new Map<string, Promise<Set<string>>>();
  // The files under `dir` (relative to the top) in the commit, listed once per folder.
  const has = async (dir: string, rel: string) => {
    let names = trees.get(dir);
    if (!names) {
      const tree = dir === "." ? `${g.commit}^{tree}` : `${g.commit}:${dir}`;
      names = mustRun(gitProgram(g.top, ["ls-tree", "-r", "-z", "--name-only", tree], "git ls-tree"))
        .then((out) => new Set(out.stdout.split("\0").filter(Boolean)), () => new Set<string>());
      trees.set(dir, names);
    }
    return (await names).has(rel);
  };
  const openIn = async (dir: string, rel: string) => {
    assertSafePath(rel);
    if (!(await has(dir, rel))) {
      throw new Deno.errors.NotFound(`${g.commit.slice(0, 7)}:${dir}/${rel}: not in that commit`);
    }
    return openBlob(g.top, g.commit, dir === "." ? rel : `${dir}/${rel}`);
  };
  const root = backupRootIn(g.path);
  return {
    where: g.label,
    manifest: g.manifest,
    open: (rel: string) => openIn(g.path, rel),
    ...(root === undefined ? {} : { openRootFile: (rel: string) => openIn(root, rel) }),
  };
}

/**
 * The backup root of a backup folder `path` (relative to the repository top): the folder above
 * `…/latest`, or two above `…/archive/<name>`; undefined for any other folder. Pure.
 */
export function backupRootIn(path: string): string | undefined {
  const segs = path.split("/");
  const at = segs.at(-1) === LATEST ? segs.length - 1 : segs.at(-2) === "archive" ? segs.length - 2 : -1;
  return at < 0 ? undefined : segs.slice(0, at).join("/") || ".";
}

/**
 * Opens the backup at `<rev>:<path>` of the repository at `top`: resolves the commit and reads its
 * manifest. `path` is relative to the top. Throws a usage error when the commit or the backup's
 * manifest is not there.
 */
export async function openGitBackup(top: string, rev: string, path: string): Promise<GitBackup> {
  const commit = await resolveCommit(top, rev);
  const dir = path.replace(/^\.\/+/, "").replace(/\/+$/, "") || ".";
  const where = `${rev}:${dir}`;
  const text = await readBlobText(top, commit, dir === "." ? MANIFEST_NAME : `${dir}/${MANIFEST_NAME}`);
  if (text === undefined) {
    throw usageError(
      `${where}: no backup there (no ${MANIFEST_NAME} in that commit)`,
      "give the backup's folder relative to the repository top, e.g. HEAD~1:backups/latest",
    );
  }
  return {
    top,
    commit,
    path: dir,
    label: `${commit.slice(0, 7)}:${dir}`,
    manifest: parseManifest(text, `${where}/${MANIFEST_NAME}`),
  };
}

/**
 * Every backup that was `latest/` of the root at `rootRel` (relative to `top`) in the history of
 * HEAD, newest commit first: one per commit that changed `latest/manifest.json`. Commits whose
 * manifest is unreadable are left out. Empty when the repository has no such history.
 */
export async function latestHistory(top: string, rootRel: string): Promise<GitBackup[]> {
  const dir = rootRel === "." ? LATEST : `${rootRel}/${LATEST}`;
  const log = await tryGit(top, ["log", "--format=%H", "--", `${dir}/${MANIFEST_NAME}`]);
  const out: GitBackup[] = [];
  for (const commit of (log ?? "").split("\n").map((l) => l.trim()).filter(Boolean)) {
    const text = await readBlobText(top, commit, `${dir}/${MANIFEST_NAME}`);
    if (text === undefined) continue; // the commit removed it
    try {
      const manifest = parseManifest(text, `${commit}:${dir}/${MANIFEST_NAME}`);
      out.push({ top, commit, path: dir, label: `${commit.slice(0, 7)}:${dir}`, manifest });
    } catch {
      // a damaged manifest in history: not a backup that can be read
    }
  }
  return out;
}
