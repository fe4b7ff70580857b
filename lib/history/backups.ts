/**
 * The backups `diff` compares, whatever holds them: a folder (`latest`, an archive, a path) or a
 * commit of the git repository that holds the root (`<rev>:<path>`), chosen by name or by time.
 * Each is a {@link BackupView}: its manifest and a way to open any of its files as plaintext
 * (through lib/store/decode.ts, so compressed and encrypted backups work).
 * @module
 */
import { dirname, isAbsolute, join } from "node:path";
import { usageError } from "../base/errors.ts";
import { chooseAsOf, looksLikeTime, parseAsOf } from "../store/asof.ts";
import { type DecodeOptions, decodeStream, openPlaintext } from "../store/decode.ts";
import { readArchives } from "../store/listing.ts";
import { type Manifest, MANIFEST_NAME, readManifest } from "../store/manifest.ts";
import {
  checkBackupPath,
  type GitBackup,
  gitTop,
  openBlob,
  openGitBackup,
  pathInRepo,
} from "../store/revision.ts";
import { ARCHIVE, LATEST, timeFromArchiveName } from "../store/rotation.ts";
import type { BackupSource } from "../store/reader.ts";
import type { ObjectStore } from "../store/object.ts";
import { listBackups, type StoredBackup, StoredBackupReader, storedLabel } from "../store/remoteread.ts";
import { assertSafePath, pathInBackup } from "../store/safepath.ts";
import { isDir, isRevisionRef } from "../store/from.ts";
import { type KnownBackup, knownBackups, manifestIfReadable } from "./timeline.ts";

/** One backup, readable file by file. */
export interface BackupView {
  /** How people name it: `latest`, `archive/<name>`, `<commit7>:<path>`, a path, or `live`. */
  label: string;
  manifest: Manifest;
  /** Opens a file the manifest lists as a plaintext stream. Throws for a path outside the backup. */
  open(rel: string): Promise<ReadableStream<Uint8Array>>;
}

/** A backup in a folder (or read through a reader: a backup in an object store, lib/store/remoteread.ts). */
export function dirView(
  dir: BackupSource,
  label: string,
  manifest: Manifest,
  decode: DecodeOptions,
): BackupView {
  return {
    label,
    manifest,
    open: (rel) => {
      checkBackupPath(rel, label);
      const entry = manifest.files[rel];
      if (!entry && typeof dir !== "string") {
        return Promise.reject(new Deno.errors.NotFound(`${rel} is not in ${label}`));
      }
      if (!entry) return Promise.resolve(Deno.open(join(dir as string, rel)).then((f) => f.readable));
      return openPlaintext(dir, rel, entry, decode);
    },
  };
}

/** A backup in a git commit, read with `git cat-file` (nothing is checked out). */
export function gitView(g: GitBackup, decode: DecodeOptions): BackupView {
  return {
    label: g.label,
    manifest: g.manifest,
    open: (rel) => {
      checkBackupPath(rel, g.label);
      const blob = openBlob(g.top, g.commit, g.path === "." ? rel : `${g.path}/${rel}`);
      const entry = g.manifest.files[rel];
      return entry ? decodeStream(blob, rel, entry, decode) : Promise.resolve(blob);
    },
  };
}

/** Options for {@link openBackup}. */
export interface OpenOptions {
  decode: DecodeOptions;
  now: Date;
  /** Names the argument in messages: `FROM` or `TO`. */
  origin: string;
}

function listHint(root: string): string {
  return `give latest, an archive name, a date (2026-12-01), a time ago (2d) or <rev>:<path>; ` +
    `'backup.ts list${root !== "backups" ? ` --out ${root}` : ""}' shows the backups`;
}

/**
 * Opens the backup `ref` names in `root`, tried in this order: `latest`; an archive name (or
 * `archive/<name>`); a time (the newest backup at or before it, see lib/store/asof.ts);
 * `<rev>:<path>`, a backup folder in a commit of the repository holding the root (an empty path
 * means the root's latest/); a path to a backup folder. Throws a usage error when it names none.
 */
export async function openBackup(root: string, ref: string, opts: OpenOptions): Promise<BackupView> {
  if (ref === LATEST) {
    const dir = join(root, LATEST);
    if (!await isDir(dir)) throw usageError(`${opts.origin} 'latest': no backup at ${dir}`, listHint(root));
    return dirView(dir, LATEST, await readManifest(dir), opts.decode);
  }
  const name = ref.replace(/^archive\//, "");
  if (name !== "" && !name.includes("/") && !name.startsWith(".")) {
    const dir = join(root, ARCHIVE, name);
    if (await isDir(dir)) return dirView(dir, `${ARCHIVE}/${name}`, await readManifest(dir), opts.decode);
  }
  if (looksLikeTime(ref)) {
    // as restore --as-of chooses: git history counts too, so the times history prints all work
    const b = await backupAsOf(root, ref, opts.now, opts.origin);
    return b.dir ? dirView(b.dir, b.label, b.manifest, opts.decode) : gitView(b.git!, opts.decode);
  }
  if (isRevisionRef(ref)) return gitView(await gitBackupAt(root, ref, opts.origin), opts.decode);
  if ((isAbsolute(ref) || ref.includes("/") || ref.startsWith(".")) && await isDir(ref)) {
    try {
      await Deno.stat(join(ref, MANIFEST_NAME));
    } catch {
      throw usageError(`${opts.origin} '${ref}' is a folder without a ${MANIFEST_NAME}`, listHint(root));
    }
    return dirView(ref, ref, await readManifest(ref), opts.decode);
  }
  throw usageError(`${opts.origin} '${ref}': no such backup in ${root}`, listHint(root));
}

/**
 * The backup `<rev>:<path>` names in the git repository that holds `root` (`HEAD~3:backups/latest`;
 * the path relative to the repository's top, an empty one meaning the root's latest/), its manifest
 * read with `git cat-file`. Throws a usage error naming `origin` when the root is in no git
 * repository, `rev` is no commit, or the commit has no backup at that path.
 */
export async function gitBackupAt(root: string, ref: string, origin: string): Promise<GitBackup> {
  // a clone that holds no backups may lack the root's folder: its nearest folder says
  let near = root;
  while (!(await isDir(near)) && dirname(near) !== near) near = dirname(near);
  const top = await gitTop(await isDir(near) ? near : ".");
  if (!top) {
    throw usageError(
      `${origin} '${ref}' names a git commit, but ${root} is not in a git repository`,
      "run from inside the backup repository, or point --out at a root inside it",
    );
  }
  const colon = ref.indexOf(":");
  const rev = ref.slice(0, colon);
  let path = ref.slice(colon + 1);
  if (path === "") path = `${await pathInRepo(top, root)}/${LATEST}`.replace(/^\.\//, "");
  return await openGitBackup(top, rev, path);
}

/**
 * The backup before latest (the newest archive), for `diff` without FROM. Throws a usage error when
 * the root has no archive.
 */
export async function previousBackup(root: string, decode: DecodeOptions): Promise<BackupView> {
  const a = (await readArchives(root)).find((x) => x.manifest);
  if (!a) {
    throw usageError(
      `no archive in ${root} to compare latest with`,
      "name two backups (diff FROM TO), or compare latest with the database (diff latest --db-url URL)",
    );
  }
  return dirView(a.dir, `${ARCHIVE}/${a.name}`, a.manifest!, decode);
}

/**
 * The newest backup of `root` taken at or before the time `text` names (`--as-of`, see
 * lib/store/asof.ts), among latest/, the archives and, when the root is in a git repository, every
 * commit's latest/ (so a backup pruned from archive/ can still be chosen). Its `dir` is set when it
 * is on disk, its `git` when only git history has it. `origin` names the argument in messages
 * (`--as-of`, `FROM`, `TO`). Throws a usage error for a bad time, a root without backups, or a time
 * before the first backup.
 */
export async function backupAsOf(
  root: string,
  text: string,
  now: Date,
  origin = "--as-of",
): Promise<KnownBackup> {
  const at = parseAsOf(text, now, origin);
  const dated = (await knownBackups(root)).map((b) => ({ ...b, createdAt: new Date(b.manifest.createdAt) }));
  return chooseAsOf(dated, at, root);
}

/**
 * The newest backup in the object store `store` taken at or before the time `text` names
 * (`restore --as-of … --store`, or a time given to `diff --store`; `origin` names it in messages),
 * as a reader that streams its blobs, with its label (`latest (<name>)` or the name). Names carry
 * their manifest's time cut to the second, so only the manifest of the backup chosen is read (and of
 * one before it when that one is damaged). Throws a usage error for a bad time, an empty store, or
 * a time before the first backup.
 */
export async function storedAsOf(
  store: ObjectStore,
  text: string,
  now: Date,
  origin = "--as-of",
): Promise<{ reader: StoredBackupReader; label: string }> {
  const at = parseAsOf(text, now, origin);
  const all = await listBackups(store);
  if (all.length === 0) {
    throw usageError(
      `no backups in ${store.display}`,
      "run 'backup.ts backup --store …' first, or check --store and --env",
    );
  }
  // A name's time is its manifest's cut to the second; a name without one is dated by its manifest.
  const read = (b: StoredBackup) => manifestIfReadable(store, b);
  const dated = await Promise.all(all.map(async (b) => {
    const named = timeFromArchiveName(b.name);
    const createdAt = named ?? new Date((await read(b))?.createdAt ?? NaN);
    return { label: b.name, backup: b, createdAt };
  }));
  for (;;) {
    const best = chooseAsOf(dated, at, store.display); // throws once none is left
    const manifest = await read(best.backup);
    const created = new Date(manifest?.createdAt ?? NaN);
    if (manifest && created.getTime() <= at.getTime()) {
      return {
        reader: new StoredBackupReader(store, best.backup, manifest),
        label: storedLabel(best.backup, all),
      };
    }
    // damaged or pruned meanwhile (left out), or later than `at` within its name's second
    best.createdAt = created;
  }
}

/**
 * Writes the backup in a git commit out to the folder `dest` as it is stored (compressed and
 * encrypted files stay so): its manifest.json and the files `files` names, each read with `git
 * cat-file` and streamed to disk. Every path is checked first (inside the backup, see
 * lib/store/safepath.ts); the restore then checks each file against the manifest as it does on disk.
 */
export async function writeGitBackup(g: GitBackup, files: readonly string[], dest: string): Promise<void> {
  for (const rel of files) assertSafePath(rel);
  const blob = (rel: string) => openBlob(g.top, g.commit, g.path === "." ? rel : `${g.path}/${rel}`);
  for (const rel of [MANIFEST_NAME, ...files]) {
    const path = pathInBackup(dest, rel);
    await Deno.mkdir(dirname(path), { recursive: true });
    const f = await Deno.open(path, { write: true, createNew: true, mode: 0o600 });
    await blob(rel).pipeTo(f.writable);
  }
}
