/**
 * The backup root and its rotation: `<root>/latest` holds the newest backup, `<root>/archive/<name>`
 * the older ones. Naming is pure ({@link archiveName}, {@link uniqueName}); {@link installBackup}
 * moves directories with renames only (no copies), so the root must be on one filesystem.
 *
 * Layout of a root:
 * ```
 * <out>[/<env>]/
 *   latest/                      the newest backup (manifest.json + files)
 *   archive/<YYYY-MM-DDTHH-MM-SSZ>--<owner-repo>--<event>--<sha7>[-N]/
 *   .staging-<owner>[-…]/        a run's working folders, .staging-<owner>.lock its lock (staging.ts)
 * ```
 * @module
 */
import { join } from "node:path";
import { BackupError, usageError } from "../base/errors.ts";
import { type Manifest, MANIFEST_NAME, parseManifest } from "./manifest.ts";
import type { StagingOwner } from "./staging.ts";

/** Name of the folder holding the newest backup. */
export const LATEST = "latest";
/** Name of the folder holding older backups. */
export const ARCHIVE = "archive";
/** Where {@link installBackup} put things, relative to the root. */
export interface InstallResult {
  /** `latest`, or `archive/<name>` when the existing latest was newer. */
  placedAt: string;
  /** `archive/<name>` where the previous latest went, when it was archived. */
  archivedPrevious?: string;
}

/**
 * The backup root: `<out>`, or `<out>/<env>` for an environment. Throws a usage error naming
 * `--env` when the environment is not a plain folder name.
 */
export function backupRoot(out: string, env?: string): string {
  if (env === undefined || env === "") return out;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(env)) {
    throw usageError(
      `--env '${env}' is not a valid environment name`,
      "use letters, digits, '.', '_' or '-' (for example prod or dev)",
    );
  }
  return join(out, env);
}

/** Replaces every character outside `[A-Za-z0-9._-]` with `-`; empty text becomes `fallback`. */
export function sanitizeSegment(text: string, fallback = "unknown"): string {
  const s = text.replace(/[^A-Za-z0-9._-]/g, "-");
  return s === "" ? fallback : s;
}

/** A UTC time as `YYYY-MM-DDTHH-MM-SSZ` (an ISO time with `:` replaced, safe in folder names). */
export function folderTimestamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z").replace(/:/g, "-");
}

/**
 * The archive folder name of a backup, from its own manifest:
 * `{YYYY-MM-DDTHH-MM-SSZ}--{owner-repo}--{event}--{sha7}`. Characters outside `[A-Za-z0-9._-]`
 * become `-` (so `owner/repo` becomes `owner-repo`); the sha is cut to 7 characters. Throws a
 * {@link BackupError} when `createdAt` is not a valid time.
 */
export function archiveName(m: Pick<Manifest, "createdAt" | "source">): string {
  const at = new Date(m.createdAt);
  if (Number.isNaN(at.getTime())) {
    throw new BackupError(`manifest createdAt '${m.createdAt}' is not a valid time`, {
      hint: "the backup's manifest.json is damaged; fix createdAt by hand or remove the backup",
    });
  }
  const src = m.source ?? { repo: "", event: "", sha: "" };
  return [
    folderTimestamp(at),
    sanitizeSegment(src.repo ?? ""),
    sanitizeSegment(src.event ?? ""),
    sanitizeSegment((src.sha ?? "").slice(0, 7), "0000000"),
  ].join("--");
}

/**
 * The archive name for a backup without a readable manifest: its folder's modification time,
 * with repository and event `unknown`.
 */
export function fallbackArchiveName(mtime: Date): string {
  return archiveName({
    createdAt: mtime.toISOString(),
    source: { repo: "unknown", event: "unknown", sha: "0000000" },
  });
}

/**
 * The time encoded at the start of an archive folder name, or undefined when the name does not
 * start with one.
 */
export function timeFromArchiveName(name: string): Date | undefined {
  const m = name.match(/^(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})Z(?:--|$)/);
  if (!m) return undefined;
  const d = new Date(`${m[1]}T${m[2]}:${m[3]}:${m[4]}Z`);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** `name`, or `name-2`, `name-3`, … : the first that is not in `existing`. */
export function uniqueName(name: string, existing: Iterable<string>): string {
  const taken = new Set(existing);
  if (!taken.has(name)) return name;
  for (let i = 2;; i++) {
    const candidate = `${name}-${i}`;
    if (!taken.has(candidate)) return candidate;
  }
}

async function exists(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** A backup folder's manifest, or why it cannot be read (missing, not JSON, a field of the wrong type). */
export async function readManifestOrWhy(dir: string): Promise<{ manifest: Manifest } | { why: string }> {
  const path = join(dir, MANIFEST_NAME);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    return { why: e instanceof Deno.errors.NotFound ? `${path} is missing` : `cannot read ${path}` };
  }
  try {
    return { manifest: parseManifest(text, path) };
  } catch (e) {
    return { why: e instanceof Error ? e.message : String(e) };
  }
}

async function archiveNames(root: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(join(root, ARCHIVE))) names.push(e.name);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return names;
}

function ioError(what: string, path: string, e: unknown): BackupError {
  const reason = e instanceof Error ? e.message.split(" (os error")[0] : String(e);
  return new BackupError(`cannot ${what} ${path}: ${reason}`, {
    hint: "check that the backup root is writable and on one filesystem (--out)",
    cause: e,
  });
}

async function rename(from: string, to: string): Promise<void> {
  try {
    await Deno.rename(from, to);
  } catch (e) {
    throw ioError(`move ${from} to`, to, e);
  }
}

/**
 * Creates the root (and its `archive/`) if missing, with mode 0700.
 * Throws a {@link BackupError} when it cannot be created.
 */
export async function ensureRoot(root: string): Promise<void> {
  try {
    await Deno.mkdir(join(root, ARCHIVE), { recursive: true, mode: 0o700 });
  } catch (e) {
    throw ioError("create", join(root, ARCHIVE), e);
  }
}

/** Options of {@link installBackup}. */
export interface InstallOptions {
  /** Archive the previous latest (true) or delete it (false). */
  archive: boolean;
  /** The run doing it: a previous latest being deleted is first moved to one of its folders. */
  owner: StagingOwner;
  /**
   * After a push race, on the remote head: a latest that is newer than the staged backup stays, and
   * the staged one goes to archive/. Only a latest whose manifest reads and whose `createdAt` is
   * not after `now` counts as newer.
   */
  keepNewer?: boolean;
  /** Warnings (stderr): a previous latest whose manifest is damaged or dated in the future. */
  log?: (line: string) => void;
  /** The current time (for tests). */
  now?: Date;
}

/**
 * Renames `from` to `archive/<base>` (or `<base>-2`, `-3`, …: the first free name, also when
 * another run takes one in between). Returns the name used.
 */
async function moveToArchive(root: string, from: string, base: string): Promise<string> {
  const taken = await archiveNames(root);
  for (;;) {
    const name = uniqueName(base, taken);
    try {
      await Deno.rename(from, join(root, ARCHIVE, name));
      return name;
    } catch (e) {
      if (!(await exists(join(root, ARCHIVE, name)))) {
        throw ioError(`move ${from} to`, join(root, ARCHIVE, name), e);
      }
      taken.push(name);
    }
  }
}

/**
 * The archive name of the backup in `dir` (the previous latest): from its manifest, but never
 * trusting it: a manifest that does not read gives a name from the folder's modification time
 * (repository and event `unknown`), and a `createdAt` after `now` gives the manifest's source
 * with the folder's time. Both are logged as warnings.
 */
export async function previousName(
  dir: string,
  label: string,
  info: Deno.FileInfo,
  now: Date,
  log?: (line: string) => void,
): Promise<string> {
  const mtime = info.mtime && info.mtime.getTime() <= now.getTime() ? info.mtime : now;
  return previousNameOf(await readManifestOrWhy(dir), label, mtime, now, log);
}

/**
 * {@link previousName} from the previous latest's manifest as read (`read`) and the time to fall
 * back on (`fallback`, its folder's, or for a latest kept in git only its commit's). Pure but for
 * the warnings it logs.
 */
export function previousNameOf(
  read: { manifest: Manifest } | { why: string },
  label: string,
  fallback: Date,
  now: Date,
  log?: (line: string) => void,
): string {
  const mtime = fallback.getTime() <= now.getTime() ? fallback : now;
  if (!("manifest" in read)) {
    const name = fallbackArchiveName(mtime);
    log?.(`warning: ${label} has no readable manifest (${read.why}); archiving it by its folder's time`);
    return name;
  }
  const m = read.manifest;
  if (new Date(m.createdAt).getTime() > now.getTime()) {
    log?.(
      `warning: ${label}'s createdAt ${
        JSON.stringify(m.createdAt)
      } is in the future; archiving it by its folder's time`,
    );
    return archiveName({ createdAt: mtime.toISOString(), source: m.source });
  }
  return archiveName(m);
}

/**
 * Puts a complete staged backup in place under `root`. The staged backup becomes `latest/`; the
 * previous `latest/` moves to `archive/<its name>` (`archive: true`) or is deleted (`archive:
 * false`). Nothing in the previous latest's manifest can change that: it only names the archive
 * folder, and a manifest that does not read, or is dated in the future, gives a name from the
 * folder's time instead (with a warning). Only with `keepNewer` (after a push race) does a newer
 * latest stay, the staged backup then going straight to `archive/<its name>` whatever `archive`
 * says. Names never overwrite (`-2`, `-3`, … are added). Renames only, no copies.
 * Throws a {@link BackupError} when the staged manifest does not read or a rename fails.
 */
export async function installBackup(
  root: string,
  stagedDir: string,
  opts: InstallOptions,
): Promise<InstallResult> {
  const read = await readManifestOrWhy(stagedDir);
  if (!("manifest" in read)) {
    throw new BackupError(`no readable manifest in ${stagedDir}`, {
      hint: "the staged backup is incomplete; run the backup again",
    });
  }
  const staged = read.manifest;
  const now = opts.now ?? new Date();
  await ensureRoot(root);
  const latestDir = join(root, LATEST);
  const latestInfo = await exists(latestDir);
  if (!latestInfo) {
    await rename(stagedDir, latestDir);
    return { placedAt: LATEST };
  }
  if (opts.keepNewer) {
    const current = await readManifestOrWhy(latestDir);
    const at = "manifest" in current ? new Date(current.manifest.createdAt).getTime() : NaN;
    if (at > new Date(staged.createdAt).getTime() && at <= now.getTime()) {
      const name = await moveToArchive(root, stagedDir, archiveName(staged));
      return { placedAt: `${ARCHIVE}/${name}` };
    }
  }
  if (opts.archive) {
    const base = await previousName(latestDir, `${root}/${LATEST}`, latestInfo, now, opts.log);
    const name = await moveToArchive(root, latestDir, base);
    await rename(stagedDir, latestDir);
    return { placedAt: LATEST, archivedPrevious: `${ARCHIVE}/${name}` };
  }
  // Replace without archiving: move the old latest aside first, so latest/ is never half-deleted.
  // The aside folder is the run's, so no other run takes it for a dead run's leftover meanwhile.
  const aside = opts.owner.path("old");
  await rename(latestDir, aside);
  await rename(stagedDir, latestDir);
  try {
    await Deno.remove(aside, { recursive: true });
  } catch (e) {
    throw ioError("remove the previous latest at", aside, e);
  }
  return { placedAt: LATEST };
}
