/**
 * Garbage collection of a root's blob store: after archives are removed (prune, or `--no-archive`
 * replacing latest/), blobs that neither `latest/`, nor any archive, nor a complete backup a dead
 * run left (which the next run puts in place) refers to are deleted. When any backup's manifest or
 * map cannot be read, nothing is deleted: a blob is never removed while a backup might still need it.
 *
 * A running backup needs blobs no backup refers to yet: those it found in the store instead of
 * keeping its own download, and those it reuses from a `latest/` that another run may replace. So
 * every backup run of a root with a store holds {@link StoreLock} shared from before it looks at
 * the store until it ends, and a sweep runs only with the lock exclusive: while any other run holds
 * it, the sweep deletes nothing and says so (the next sweep catches up). The lock is a flock, which
 * the kernel drops when its process ends however it ends, so a dead run never blocks a sweep.
 * @module
 */
import { join } from "node:path";
import { BackupError } from "../base/errors.ts";
import { LATEST } from "../store/rotation.ts";
import { type ArchiveFolder, readArchives } from "../store/listing.ts";
import { archiveFilesInGit } from "../store/git.ts";
import { listLeftovers } from "../store/leftover.ts";
import { MANIFEST_NAME, parseManifest } from "../store/manifest.ts";
import { STORE_LOCK } from "../store/staging.ts";
import { STORAGE_MAP } from "./map.ts";
import { backupBlobs, backupBlobsFromText, BLOB_INDEX } from "./seal.ts";
import { blobFiles, collectGarbage, storeDir } from "./blobs.ts";
import { type PruneDecision, pruneRoot } from "../store/prune.ts";
import type { RetentionPolicy } from "../store/retention.ts";
import { stderrLine } from "../base/output.ts";

/**
 * A run's hold on a root's blob store, on `<root>/.staging-blobs.lock`: shared while the run may
 * rely on blobs no backup refers to yet, exclusive only for a sweep ({@link StoreLock.sweeping}).
 */
export class StoreLock {
  private constructor(private file: Deno.FsFile | undefined, private shared: boolean) {}

  static async #open(root: string): Promise<Deno.FsFile> {
    const path = join(root, STORE_LOCK);
    try {
      return await Deno.open(path, { read: true, write: true, create: true, mode: 0o600 });
    } catch (e) {
      throw new BackupError(`cannot open the Storage store's lock ${path}: ${(e as Error).message}`, {
        hint: "check that the backup root is writable",
        cause: e,
      });
    }
  }

  /**
   * Takes the lock shared, waiting while a sweep holds it (a sweep does not wait for anything).
   * Held until {@link StoreLock.release} or the end of the process.
   */
  static async share(root: string): Promise<StoreLock> {
    const file = await StoreLock.#open(root);
    await file.lock(false);
    return new StoreLock(file, true);
  }

  /** The lock file opened without holding it (a sweep outside a backup run: `prune`). */
  static async unheld(root: string): Promise<StoreLock> {
    return new StoreLock(await StoreLock.#open(root), false);
  }

  /**
   * Runs `fn` with the lock exclusive and returns its result, or returns undefined without running
   * it when another run holds the lock. A shared hold is given up for the attempt and taken again
   * after (waiting, then, for a sweep another run started in between).
   */
  async sweeping<T>(fn: () => Promise<T>): Promise<T | undefined> {
    if (!this.file) throw new Error("StoreLock.sweeping after release");
    if (this.shared) await this.file.unlock();
    let got = false;
    try {
      got = await this.file.tryLock(true);
      return got ? await fn() : undefined;
    } finally {
      if (got && !this.shared) await this.file.unlock();
      if (this.shared) await this.file.lock(false);
    }
  }

  /** Drops the lock. Idempotent. */
  release(): void {
    try {
      this.file?.close();
    } catch {
      // closed already
    }
    this.file = undefined;
  }
}

/** What a sweep did: blob files and bytes removed, or why it removed nothing. */
export interface Sweep {
  files: number;
  bytes: number;
  skipped?: string;
}

/** Every blob file (as {@link blobFiles} names them) the backups of `root` refer to, or why not known. */
async function referencedBlobs(root: string): Promise<Set<string> | { skipped: string }> {
  const dirs: string[] = [];
  try {
    if ((await Deno.stat(join(root, LATEST))).isDirectory) dirs.push(join(root, LATEST));
  } catch {
    // no latest
  }
  const referenced = new Set<string>();
  // archives a sparse checkout keeps in git only: their manifests and maps are read from git
  const inGit: ArchiveFolder[] = [];
  for (const a of await readArchives(root, { git: true })) {
    if (a.inGit) inGit.push(a);
    else dirs.push(a.dir);
  }
  let maps: (string | undefined)[];
  let indexes: (string | undefined)[];
  try {
    maps = await archiveFilesInGit(root, inGit.map((a) => a.name), STORAGE_MAP);
    indexes = inGit.some((a) => a.manifest?.storage?.index)
      ? await archiveFilesInGit(root, inGit.map((a) => a.name), BLOB_INDEX)
      : [];
  } catch (e) {
    if (e instanceof BackupError && e.exitCode >= 130) throw e;
    return {
      skipped: `git cannot show the archives kept in git only (${(e as Error).message.split("\n")[0]})`,
    };
  }
  for (const [i, a] of inGit.entries()) {
    try {
      if (!a.manifest) throw new Error(a.problem ?? "no manifest.json");
      for (const b of backupBlobsFromText(a.dir, a.manifest, { map: maps[i], index: indexes[i] })) {
        for (const f of blobFiles(b)) referenced.add(f);
      }
    } catch (e) {
      return {
        skipped: `${a.dir} (kept in git only) cannot be read (${(e as Error).message.split("\n")[0]})`,
      };
    }
  }
  for (const dir of dirs) {
    try {
      const m = parseManifest(await Deno.readTextFile(join(dir, MANIFEST_NAME)), join(dir, MANIFEST_NAME));
      for (const b of await backupBlobs(dir, m)) for (const f of blobFiles(b)) referenced.add(f);
    } catch (e) {
      return { skipped: `${dir} cannot be read (${(e as Error).message.split("\n")[0]})` };
    }
  }
  // complete backups dead runs left: the next run puts them in place. One whose map does not read
  // is not complete, and no run will put it in place.
  for (const { leftover, manifest } of await listLeftovers(root)) {
    const blobs = await backupBlobs(leftover.path, manifest).catch(() => []);
    for (const b of blobs) for (const f of blobFiles(b)) referenced.add(f);
  }
  return referenced;
}

/**
 * Removes the blobs of `root` that no backup of it refers to (see the module doc), with the store
 * lock exclusive: `lock` is the running backup's (held shared), or, without one, the lock is
 * tried for the sweep alone. A root without a blob store is left alone.
 */
export async function sweepBlobs(root: string, opts: { lock?: StoreLock } = {}): Promise<Sweep> {
  try {
    await Deno.stat(storeDir(root));
  } catch {
    return { files: 0, bytes: 0 };
  }
  const lock = opts.lock ?? await StoreLock.unheld(root);
  try {
    const swept = await lock.sweeping(async (): Promise<Sweep> => {
      const referenced = await referencedBlobs(root);
      if (!(referenced instanceof Set)) return { files: 0, bytes: 0, skipped: referenced.skipped };
      return await collectGarbage(root, referenced);
    });
    return swept ??
      { files: 0, bytes: 0, skipped: "another backup of this root is running (the next sweep removes them)" };
  } finally {
    if (!opts.lock) lock.release();
  }
}

/**
 * {@link pruneRoot}, then (unless a dry run, and when archives went) {@link sweepBlobs}: the
 * Storage files only the removed archives referred to go too. A sweep that cannot read every
 * backup, or finds another backup running, removes nothing and says why on `warn`.
 */
export async function pruneAndSweep(
  root: string,
  policy: RetentionPolicy,
  opts: { dryRun: boolean; now: Date; warn?: (line: string) => void; lock?: StoreLock },
): Promise<PruneDecision[]> {
  const decisions = await pruneRoot(root, policy, opts);
  if (!opts.dryRun && decisions.some((d) => !d.keep)) {
    const swept = await sweepBlobs(root, { lock: opts.lock });
    if (swept.skipped) {
      (opts.warn ?? stderrLine)(`warning: unreferenced Storage files were kept: ${swept.skipped}`);
    }
  }
  return decisions;
}
