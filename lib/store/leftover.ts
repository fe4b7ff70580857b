/**
 * What dead runs left behind, and getting it back. A run killed with kill -9 (or by a crash, the
 * OOM killer, a reboot) can leave in a backup root: a complete backup that was never put in place
 * (`.staging-<owner>`), the previous latest it had set aside to replace it with `--no-archive`
 * (`.staging-<owner>-old-…`), half-written or half-deleted folders, its lock file, and, after a
 * push race, a complete backup set aside in `<git dir>/supabase-backup/race-…`. A folder counts as
 * left over only when its owner is gone (staging.ts: the owner's lock is free), never by its age.
 *
 * The next backup run takes each leftover over by renaming it into a folder of its own (a rename
 * is atomic, so two runs never take the same one), checks it against its manifest, and puts every
 * complete backup back: a set-aside latest when `latest/` is missing, the others like a new backup
 * (a newer `latest/` stays). Everything else is removed only after that run succeeded.
 * @module
 */
import { cp } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { BackupError } from "../base/errors.ts";
import { type Manifest, MANIFEST_NAME, parseManifest } from "./manifest.ts";
import { installBackup, LATEST } from "./rotation.ts";
import { checkStaging, ownerAlive, parseStagingName, StagingOwner } from "./staging.ts";

/** Where a backup set aside during a push race waits, inside the git directory. */
export const HOLDER = "supabase-backup";

/** One folder (or file) a dead run left. */
export interface Leftover {
  path: string;
  name: string;
  /**
   * `new`: a backup being written or written (complete or not); `old`: a previous latest set
   * aside; `trash`: a folder being deleted (or an unknown `.staging-` entry); `race`: a backup set
   * aside in the git directory during a push race.
   */
  kind: "new" | "old" | "trash" | "race";
  /** A race holder's file naming its root. */
  rootFile?: string;
}

/** The git directory holding `dir` and its work tree's top, found on disk (no git run). */
export async function findGitDir(dir: string): Promise<{ top: string; gitDir: string } | undefined> {
  let at: string;
  try {
    at = await Deno.realPath(dir);
  } catch {
    return undefined;
  }
  for (;;) {
    const dotGit = join(at, ".git");
    try {
      const info = await Deno.stat(dotGit);
      if (info.isDirectory) return { top: at, gitDir: dotGit };
      const line = (await Deno.readTextFile(dotGit)).split("\n")[0];
      if (line.startsWith("gitdir: ")) return { top: at, gitDir: resolve(at, line.slice(8).trim()) };
    } catch {
      // not here
    }
    const up = dirname(at);
    if (up === at) return undefined;
    at = up;
  }
}

/** The root as a race holder names it: relative to the work tree's top (`.` for the top). */
async function rootInTree(root: string, top: string): Promise<string> {
  return relative(await Deno.realPath(top), await Deno.realPath(root)) || ".";
}

const RACE = /^race-(?:([0-9a-f]{12})-)?[0-9a-f]{8}$/;

async function readManifestSoft(dir: string): Promise<Manifest | undefined> {
  try {
    return parseManifest(await Deno.readTextFile(join(dir, MANIFEST_NAME)), join(dir, MANIFEST_NAME));
  } catch {
    return undefined;
  }
}

/**
 * Moves a directory, copying when `from` and `to` are on different filesystems. Throws a
 * {@link BackupError} when it cannot.
 */
export async function moveDir(from: string, to: string): Promise<void> {
  try {
    await Deno.rename(from, to);
  } catch (e) {
    if (!(e instanceof Error && /cross-device|EXDEV|os error 18/i.test(e.message))) {
      throw new BackupError(`cannot move ${from} to ${to}: ${e instanceof Error ? e.message : e}`, {
        cause: e,
      });
    }
    await cp(from, to, { recursive: true, preserveTimestamps: true });
    await Deno.remove(from, { recursive: true });
  }
}

/**
 * Sets a placed backup aside during a push race: moves `from` to
 * `<gitDir>/supabase-backup/race-<owner>-<random>`, with a file naming the root it belongs to
 * (`rel`, relative to the work tree's top), so that a next run of that root finds it if this one
 * dies before putting it back. Returns where it went.
 */
export async function holdAside(
  gitDir: string,
  owner: StagingOwner,
  rel: string,
  from: string,
): Promise<string> {
  const holder = join(gitDir, HOLDER);
  await Deno.mkdir(holder, { recursive: true, mode: 0o700 });
  const random = Array.from(crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, "0"))
    .join("");
  const to = join(holder, `race-${owner.id}-${random}`);
  await Deno.writeTextFile(`${to}.root`, `${rel}\n`, { mode: 0o600 });
  await moveDir(from, to);
  return to;
}

/** Removes a race holder's root file once its backup is back in the work tree. */
export async function releaseHeld(held: string): Promise<void> {
  await Deno.remove(`${held}.root`).catch(() => {});
}

/**
 * The leftovers of dead runs for `root`: its `.staging-*` folders whose owner is gone, the lock
 * files of dead owners, and the race holders in its git directory that belong to it (named by
 * their root file; one written by an earlier version, without one, belongs to the root whose
 * `environment` its manifest names). Live runs' folders are never listed.
 */
export async function findLeftovers(
  root: string,
  environment?: string,
): Promise<{ dirs: Leftover[]; locks: string[] }> {
  const dirs: Leftover[] = [];
  const locks: string[] = [];
  let entries: Deno.DirEntry[] = [];
  try {
    entries = await Array.fromAsync(Deno.readDir(root));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  for (const e of entries.sort((a, b) => a.name < b.name ? -1 : 1)) {
    const parsed = parseStagingName(e.name);
    if (!parsed || (await ownerAlive(root, parsed.owner))) continue;
    const path = join(root, e.name);
    if (parsed.kind === "lock") locks.push(path);
    else dirs.push({ path, name: e.name, kind: e.isDirectory ? parsed.kind : "trash" });
  }
  const git = await findGitDir(root);
  if (!git) return { dirs, locks };
  const rel = await rootInTree(root, git.top);
  const holder = join(git.gitDir, HOLDER);
  let held: Deno.DirEntry[] = [];
  try {
    held = await Array.fromAsync(Deno.readDir(holder));
  } catch {
    // no holder
  }
  for (const e of held.sort((a, b) => a.name < b.name ? -1 : 1)) {
    const m = RACE.exec(e.name);
    if (!m || !e.isDirectory) continue;
    const path = join(holder, e.name);
    const named = await Deno.readTextFile(`${path}.root`).then((t) => t.trim(), () => undefined);
    const mine = named !== undefined
      ? named === rel
      : (await readManifestSoft(path))?.environment === environment;
    if (!mine || (await ownerAlive(root, m[1]))) continue;
    dirs.push({
      path,
      name: e.name,
      kind: "race",
      ...(named !== undefined ? { rootFile: `${path}.root` } : {}),
    });
  }
  return { dirs, locks };
}

/** A complete backup taken over from a dead run. */
export interface Recovered {
  /** Its folder now: one of the taking run's. */
  dir: string;
  manifest: Manifest;
}

/** What {@link claimLeftovers} took over. */
export interface Claimed {
  /** Complete backups (every file checked against the manifest) to put in place, oldest first. */
  recovered: Recovered[];
  /** Set when a set-aside previous latest went back to `latest/`, which was missing. */
  restored?: Manifest;
  /**
   * What to remove once the run succeeded: incomplete or damaged folders, trash, set-aside
   * latests that were replaced, dead owners' lock files.
   */
  garbage: string[];
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Checks a taken-over backup: its manifest reads and every file matches it. */
async function complete(dir: string): Promise<Manifest | undefined> {
  const m = await readManifestSoft(dir);
  if (!m || Number.isNaN(new Date(m.createdAt).getTime())) return undefined;
  try {
    await checkStaging(dir, m);
    return m;
  } catch {
    return undefined;
  }
}

const byCreatedAt = (a: Recovered, b: Recovered) =>
  new Date(a.manifest.createdAt).getTime() - new Date(b.manifest.createdAt).getTime();

/**
 * Takes over the leftovers of dead runs of `owner.root` ({@link findLeftovers}) by renaming each
 * into a folder of `owner`, and sorts them: complete backups to put in place (the caller does it,
 * {@link installRecovered} or the git publisher), garbage to remove after success. A previous
 * latest set aside by `--no-archive` goes straight back to `latest/` when that is missing (the
 * newest complete one); otherwise it is garbage. Nothing is deleted here.
 */
export async function claimLeftovers(
  owner: StagingOwner,
  opts: { environment?: string; log?: (line: string) => void } = {},
): Promise<Claimed> {
  const root = owner.root;
  const found = await findLeftovers(root, opts.environment);
  const claimed: Claimed = { recovered: [], garbage: [...found.locks] };
  const old: Recovered[] = [];
  const trash = async (dir: string) => {
    const to = owner.path("trash");
    await Deno.rename(dir, to).then(() => claimed.garbage.push(to), () => claimed.garbage.push(dir));
  };
  for (const l of found.dirs) {
    const to = owner.path(l.kind === "trash" ? "trash" : l.kind === "old" ? "old" : "new");
    try {
      if (l.kind === "race") await moveDir(l.path, to);
      else await Deno.rename(l.path, to);
    } catch {
      continue; // another run took it first
    }
    if (l.rootFile) await Deno.remove(l.rootFile).catch(() => {});
    if (l.kind === "trash") {
      claimed.garbage.push(to);
      continue;
    }
    const manifest = await complete(to);
    if (!manifest) await trash(to);
    else (l.kind === "old" ? old : claimed.recovered).push({ dir: to, manifest });
  }
  old.sort(byCreatedAt);
  const latest = join(root, LATEST);
  if (old.length && !(await exists(latest))) {
    const back = old.pop()!;
    await Deno.rename(back.dir, latest);
    claimed.restored = back.manifest;
    opts.log?.(
      `recovered ${latest} (created ${back.manifest.createdAt}): an interrupted run had set it aside`,
    );
  }
  for (const o of old) await trash(o.dir);
  claimed.recovered.sort(byCreatedAt);
  return claimed;
}

/**
 * Puts recovered backups in place in a folder root, oldest first, as a new backup would be but
 * keeping a newer `latest/` ({@link installBackup} with `keepNewer`). With `archive: false` one
 * that would only be archived is garbage instead. Returns where each went (`latest`,
 * `archive/<name>`, or undefined when dropped).
 */
export async function installRecovered(
  owner: StagingOwner,
  claimed: Claimed,
  opts: { archive: boolean; log?: (line: string) => void },
): Promise<(string | undefined)[]> {
  const where: (string | undefined)[] = [];
  for (const r of claimed.recovered) {
    const placed = await installBackup(owner.root, r.dir, {
      archive: opts.archive,
      keepNewer: true,
      owner,
      log: opts.log,
    });
    if (!opts.archive && placed.placedAt !== LATEST) {
      const to = owner.path("trash");
      await Deno.rename(join(owner.root, placed.placedAt), to);
      claimed.garbage.push(to);
      where.push(undefined);
      continue;
    }
    where.push(placed.placedAt);
    opts.log?.(
      `recovered a complete backup (created ${r.manifest.createdAt}) left by an interrupted run: now ${
        join(owner.root, placed.placedAt)
      }`,
    );
  }
  claimed.recovered = [];
  return where;
}

/**
 * Removes what {@link claimLeftovers} marked as garbage, after the run succeeded. A dead owner's
 * lock file is removed only while this run holds its lock, so one that a new run has just
 * created (and not yet locked) is never taken from it. Failures are ignored (the next run retries).
 */
export async function removeGarbage(garbage: readonly string[]): Promise<void> {
  for (const path of garbage) {
    const name = parseStagingName(path.split("/").pop() ?? "");
    if (name?.kind === "lock") {
      let file: Deno.FsFile | undefined;
      try {
        file = await Deno.open(path, { read: true });
        if (await file.tryLock(true)) await Deno.remove(path);
      } catch {
        // gone already
      } finally {
        file?.close();
      }
      continue;
    }
    await Deno.remove(path, { recursive: true }).catch(() => {});
  }
}

/**
 * The backups among the leftovers of `root`, for `list`: dead runs' complete-looking backups (a
 * readable manifest; the files are checked when a run takes them over) that the next backup run
 * puts in place: backups written or set aside during a push race, and a set-aside previous latest
 * when `latest/` is missing.
 */
export async function listLeftovers(
  root: string,
  environment?: string,
): Promise<{ leftover: Leftover; manifest: Manifest }[]> {
  const out: { leftover: Leftover; manifest: Manifest }[] = [];
  const { dirs } = await findLeftovers(root, environment);
  const noLatest = !(await exists(join(root, LATEST)));
  for (const l of dirs) {
    if (l.kind === "trash" || (l.kind === "old" && !noLatest)) continue;
    const manifest = await readManifestSoft(l.path);
    if (manifest) out.push({ leftover: l, manifest });
  }
  return out;
}
