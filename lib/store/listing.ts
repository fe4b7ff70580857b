/**
 * What a backup root holds: reading `latest/` and `archive/*` (each backup's manifest, or its
 * size on disk when the manifest is missing), and backups that interrupted runs left for the next
 * run to put in place (leftover.ts), and formatting that as a table or JSON for `list`. The
 * formatting functions are pure. Finding the backup that `--from` names is in from.ts.
 * @module
 */
import { join } from "node:path";
import { ARCHIVE, LATEST, timeFromArchiveName } from "./rotation.ts";
import { type Manifest, MANIFEST_NAME, manifestTotals, parseManifest } from "./manifest.ts";
import { formatBytes } from "../base/size.ts";
import { listLeftovers } from "./leftover.ts";
import { archivesInGit, environmentsInGit, latestInGit, readGrowthRecord } from "./git.ts";
import { formatGrowth, GROWTH_HINT, type GrowthProjection, growthWarning, projectGrowth } from "./growth.ts";

/** One backup folder of a root, as `list` shows it. */
export interface ListEntry {
  /** `latest` or `archive/<name>`. */
  label: string;
  /** Its directory. */
  path: string;
  /** The manifest's createdAt, or the time in the archive name when the manifest is unreadable. */
  createdAt?: string;
  repo?: string;
  event?: string;
  sha?: string;
  environment?: string;
  /** `damaged` when the manifest is missing or unreadable. */
  status: "ok" | "partial" | "damaged";
  tables?: number;
  rows?: number;
  /** Bytes from the manifest's files, or on disk when it lists none. */
  bytes: number;
  /** Why the backup is damaged. */
  problem?: string;
  /**
   * Set for a backup an interrupted run left outside latest/ and archive/ (label `leftover:<folder>`):
   * what it is; the next backup run puts it in place.
   */
  leftover?: string;
  /** Its Storage files (`backup --storage`): how many, their bytes, and the bytes that run downloaded. */
  storage?: { files: number; bytes: number; downloadedBytes: number };
  /** A backup a sparse checkout keeps in git only (not on disk): an archive, or latest/ too. */
  inGit?: boolean;
}

/** What `list` says of each kind of leftover. */
const LEFTOVER_NOTE = {
  new: "written by an interrupted run",
  race: "set aside during a push race by an interrupted run",
  old: "the previous latest, set aside by an interrupted run",
} as const;

/** One archive folder: its name, directory and manifest (undefined when unreadable). */
export interface ArchiveFolder {
  name: string;
  dir: string;
  manifest?: Manifest;
  /** The manifest's createdAt, else the time in the folder name; invalid when neither is known. */
  createdAt: Date;
  problem?: string;
  /** Kept in git only (a sparse checkout): `dir` is not on disk. */
  inGit?: boolean;
}

async function readManifestOrProblem(dir: string): Promise<{ manifest?: Manifest; problem?: string }> {
  const path = join(dir, MANIFEST_NAME);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return { problem: "no manifest.json" };
  }
  try {
    return { manifest: parseManifest(text, path) };
  } catch (e) {
    // "<path>: manifest field x must be …" → "manifest field x must be …"
    return { problem: (e as Error).message.replace(`${path}: `, "").replace(`${path} `, "manifest.json ") };
  }
}

/** The manifest of an archive kept in git only, or why it does not read. */
function manifestOrProblem(
  text: string | undefined,
  path: string,
): { manifest?: Manifest; problem?: string } {
  if (text === undefined) return { problem: "no manifest.json" };
  try {
    return { manifest: parseManifest(text, path) };
  } catch (e) {
    return { problem: (e as Error).message.replace(`${path}: `, "").replace(`${path} `, "manifest.json ") };
  }
}

/**
 * The archive folders of a root (hidden names skipped), newest first. A missing `archive/` gives
 * an empty list; other read errors are thrown as they are. With `git`, also the archives a sparse
 * checkout keeps in git only (marked `inGit`, their manifests read from git).
 */
export async function readArchives(root: string, opts: { git?: boolean } = {}): Promise<ArchiveFolder[]> {
  const out: ArchiveFolder[] = [];
  if (opts.git) {
    for (const a of await archivesInGit(root)) {
      const dir = join(root, ARCHIVE, a.name);
      const { manifest, problem } = manifestOrProblem(a.manifestText, join(dir, MANIFEST_NAME));
      const createdAt = manifest
        ? new Date(manifest.createdAt)
        : timeFromArchiveName(a.name) ?? new Date(NaN);
      out.push({ name: a.name, dir, manifest, createdAt, inGit: true, ...(problem ? { problem } : {}) });
    }
  }
  try {
    for await (const e of Deno.readDir(join(root, ARCHIVE))) {
      if (!e.isDirectory || e.name.startsWith(".")) continue;
      const dir = join(root, ARCHIVE, e.name);
      const { manifest, problem } = await readManifestOrProblem(dir);
      const createdAt = manifest
        ? new Date(manifest.createdAt)
        : timeFromArchiveName(e.name) ?? new Date(NaN);
      out.push({ name: e.name, dir, manifest, createdAt, ...(problem ? { problem } : {}) });
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort((a, b) => {
    const ta = a.createdAt.getTime(), tb = b.createdAt.getTime();
    if (!Number.isNaN(ta) && !Number.isNaN(tb) && ta !== tb) return tb - ta;
    if (Number.isNaN(ta) !== Number.isNaN(tb)) return Number.isNaN(ta) ? 1 : -1;
    return a.name < b.name ? 1 : a.name > b.name ? -1 : 0;
  });
}

/** Total size of the files under `dir` (0 when it cannot be read). */
export async function diskBytes(dir: string): Promise<number> {
  let total = 0;
  try {
    for await (const e of Deno.readDir(dir)) {
      const p = join(dir, e.name);
      if (e.isDirectory) total += await diskBytes(p);
      else if (e.isFile) total += (await Deno.stat(p)).size;
    }
  } catch {
    // unreadable parts count as 0
  }
  return total;
}

/** Builds a list entry from a manifest (pure). */
export function entryFromManifest(label: string, path: string, m: Manifest, diskSize: number): ListEntry {
  const totals = manifestTotals(m);
  return {
    label,
    path,
    createdAt: m.createdAt,
    repo: m.source?.repo,
    event: m.source?.event,
    sha: m.source?.sha,
    ...(m.environment ? { environment: m.environment } : {}),
    status: m.status === "partial" ? "partial" : "ok",
    tables: totals.tables,
    rows: totals.rows,
    bytes: Object.keys(m.files ?? {}).length > 0 ? totals.bytes : diskSize,
    ...(m.storage
      ? {
        storage: {
          files: m.storage.files,
          bytes: m.storage.bytes,
          downloadedBytes: m.storage.downloaded.bytes,
        },
      }
      : {}),
  };
}

async function entryOf(label: string, dir: string, known?: ArchiveFolder): Promise<ListEntry> {
  const read = known
    ? { manifest: known.manifest, problem: known.problem }
    : await readManifestOrProblem(dir);
  const needDisk = !read.manifest || Object.keys(read.manifest.files ?? {}).length === 0;
  const disk = needDisk ? await diskBytes(dir) : 0;
  if (read.manifest) return entryFromManifest(label, dir, read.manifest, disk);
  const t = known && !Number.isNaN(known.createdAt.getTime()) ? known.createdAt.toISOString() : undefined;
  return {
    label,
    path: dir,
    ...(t ? { createdAt: t } : {}),
    status: "damaged",
    bytes: disk,
    problem: read.problem ?? "unreadable",
  };
}

/**
 * Reads every backup of a root: `latest` first (when present), then the archives newest first,
 * then the backups interrupted runs left (of the root's `environment`, for race holders written
 * by earlier versions). A missing root gives an empty list.
 */
export async function readListing(root: string, environment?: string): Promise<ListEntry[]> {
  const out: ListEntry[] = [];
  try {
    if ((await Deno.stat(join(root, LATEST))).isDirectory) {
      out.push(await entryOf(LATEST, join(root, LATEST)));
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    // a checkout without backups keeps latest/ in git only
    const inGit = await latestInGit(root);
    if (inGit) {
      const dir = join(root, LATEST);
      const read = manifestOrProblem(inGit.manifestText, join(dir, MANIFEST_NAME));
      const createdAt = read.manifest ? new Date(read.manifest.createdAt) : new Date(NaN);
      out.push({ ...await entryOf(LATEST, dir, { name: LATEST, dir, createdAt, ...read }), inGit: true });
    }
  }
  for (const a of await readArchives(root, { git: true })) {
    const e = await entryOf(`${ARCHIVE}/${a.name}`, a.dir, a);
    out.push(a.inGit ? { ...e, inGit: true } : e);
  }
  for (const { leftover: l, manifest } of await listLeftovers(root, environment)) {
    if (l.kind === "trash") continue;
    out.push({
      ...entryFromManifest(`leftover:${l.name}`, l.path, manifest, 0),
      leftover: `${LEFTOVER_NOTE[l.kind]}; the next backup puts it in place`,
    });
  }
  return out;
}

/**
 * The projection of the root's `repository.json` (written by backup commits) at `now`; undefined
 * when the root has none (not in git, or no backup committed yet).
 */
export async function readGrowth(root: string, now = new Date()): Promise<GrowthProjection | undefined> {
  const record = await readGrowthRecord(root);
  return record ? projectGrowth(record, now) : undefined;
}

/**
 * Environment folders under `out`: subfolders that hold a `latest/` or an `archive/`, sorted.
 * Used when `out` itself holds no backups.
 */
export async function findEnvironments(out: string): Promise<string[]> {
  const envs: string[] = [];
  try {
    for await (const e of Deno.readDir(out)) {
      if (!e.isDirectory || e.name.startsWith(".") || e.name === LATEST || e.name === ARCHIVE) continue;
      for (const sub of [LATEST, ARCHIVE]) {
        try {
          if ((await Deno.stat(join(out, e.name, sub))).isDirectory) {
            envs.push(e.name);
            break;
          }
        } catch {
          // not there
        }
      }
    }
  } catch {
    // missing out
  }
  for (const e of await environmentsInGit(out)) if (!envs.includes(e)) envs.push(e);
  return envs.sort();
}

function shortTime(iso: string | undefined): string {
  if (!iso) return "?";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "?" : d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * Formats the backups of one root as a text table (pure), with a heading line
 * `<root>: latest + N archives, SIZE`. An empty list gives one helpful line instead.
 */
export function formatListing(
  root: string,
  entries: readonly ListEntry[],
  out = root,
  repository?: GrowthProjection,
): string {
  if (entries.length === 0) {
    return `no backups in ${root} yet; run 'backup.ts backup${
      out !== "backups" ? ` --out ${out}` : ""
    }' to make one`;
  }
  const archives = entries.filter((e) => e.label !== LATEST && !e.leftover).length;
  const leftovers = entries.filter((e) => e.leftover).length;
  const hasLatest = entries.some((e) => e.label === LATEST);
  const total = entries.reduce((n, e) => n + e.bytes, 0);
  const head = `${root}: ${hasLatest ? "latest" : "no latest"} + ${archives} archive${
    archives === 1 ? "" : "s"
  }${leftovers ? ` + ${leftovers} left by interrupted runs` : ""}, ${formatBytes(total)}`;
  // Storage files (shared blobs, so not in the total): a column only when a backup has them
  const files = entries.some((e) => e.storage);
  const rows = [[
    "BACKUP",
    "CREATED",
    "SOURCE",
    "EVENT@SHA",
    "TABLES",
    "SIZE",
    ...(files ? ["FILES"] : []),
    "STATUS",
  ]];
  for (const e of entries) {
    rows.push([
      e.label,
      shortTime(e.createdAt),
      e.repo ?? "?",
      e.event !== undefined ? `${e.event}@${(e.sha ?? "").slice(0, 7)}` : "?",
      e.tables !== undefined ? String(e.tables) : "?",
      formatBytes(e.bytes),
      ...(files ? [e.storage ? `${e.storage.files} (${formatBytes(e.storage.bytes)})` : "-"] : []),
      e.status === "damaged"
        ? `damaged (${e.problem})`
        : e.leftover
        ? `${e.status} (${e.leftover})`
        : e.inGit
        ? `${e.status} (in git only)`
        : e.status,
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const right = new Set(files ? [4, 5, 6] : [4, 5]); // numbers
  const lines = rows.map((r) =>
    r.map((cell, i) => right.has(i) ? cell.padStart(widths[i]) : cell.padEnd(widths[i])).join("  ").trimEnd()
  );
  const repo: string[] = [];
  if (repository) {
    repo.push(`repository: ${formatGrowth(repository)}`);
    const warning = growthWarning(repository);
    if (warning) repo.push(`warning: ${warning}`, `hint: ${GROWTH_HINT}`);
  }
  return [head, ...lines, ...repo].join("\n");
}

/** The JSON form of one root's listing (pure): `{ root, environment?, backups: [...] }`. */
export function listingJson(
  root: string,
  entries: readonly ListEntry[],
  environment?: string,
  repository?: GrowthProjection,
): Record<string, unknown> {
  return {
    root,
    ...(environment ? { environment } : {}),
    ...(repository ? { repository: { ...repository, warning: growthWarning(repository) ?? null } } : {}),
    backups: entries.map((e) => ({
      backup: e.label,
      path: e.path,
      createdAt: e.createdAt ?? null,
      source: e.repo !== undefined ? { repo: e.repo, event: e.event ?? null, sha: e.sha ?? null } : null,
      status: e.status,
      tables: e.tables ?? null,
      rows: e.rows ?? null,
      bytes: e.bytes,
      ...(e.storage ? { storage: e.storage } : {}),
      ...(e.problem ? { problem: e.problem } : {}),
      ...(e.leftover ? { leftover: e.leftover } : {}),
      ...(e.inGit ? { inGit: true } : {}),
    })),
  };
}
