/**
 * The staging directory: who owns it, and its files once written.
 *
 * Every folder a run keeps in a backup root besides `latest/` and `archive/` is named
 * `.staging-<owner>[-<kind>-<random>]`, and the run holds an exclusive lock (flock) on
 * `.staging-<owner>.lock` for as long as it lives. The kernel drops that lock when the process
 * ends, however it ends (kill -9 included), so a folder is a leftover of a dead run exactly when
 * its owner's lock file is missing or can be locked ({@link ownerAlive}); its age says nothing.
 *
 * Also here: cutting a schema dump above the size limit into numbered parts, and the final check
 * of the whole directory against the manifest before the caller puts it in place.
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { BackupError } from "../base/errors.ts";
import { dumpPartPath } from "./layout.ts";
import { type Manifest, MANIFEST_NAME } from "./manifest.ts";
import { BUFFER, FileSink, type Written } from "./sink.ts";
import { checkFiles, unlistedFiles } from "./check.ts";
import { assertSafePath } from "./safepath.ts";

/** Prefix of every staging folder and lock file inside a root (never committed). */
export const STAGING_PREFIX = ".staging-";

/**
 * The lock file of a root's Storage blob store (lib/storage/gc.ts): running backups hold it shared,
 * a sweep of unreferenced blobs exclusive. It stays in the root (removing a file others may have
 * open and locked would let two runs hold "the" lock); it is no run's leftover.
 */
export const STORE_LOCK = `${STAGING_PREFIX}blobs.lock`;

/**
 * What a staging folder holds: `new`, a backup being written or one taken over from a dead run;
 * `old`, a previous latest set aside while it is replaced (`--no-archive`); `trash`, a folder
 * being deleted, or any other working folder (Storage downloads: `-blobs-`), which is only removed
 * once its owner is gone. `lock` is an owner's lock file.
 */
export type StagingKind = "new" | "old" | "trash" | "lock";

/** A root entry named like a staging folder: its owner (absent for unowned names) and kind. */
export interface StagingName {
  owner?: string;
  kind: StagingKind;
}

const OWNER = "[0-9a-f]{12}";
const OWNED = new RegExp(`^(${OWNER})(?:-([a-z]+)-[0-9a-f]{8})?$`);
const LOCK = new RegExp(`^(${OWNER})\\.lock$`);

/**
 * Reads a root entry's name (pure): `undefined` when it is not a staging name (or is the blob
 * store's lock, {@link STORE_LOCK}, which belongs to no run). Names written by
 * earlier versions have no owner: `.staging-old-…` (a previous latest set aside), `.staging-<word>`
 * (a backup being written) and anything else (`.staging-prune-…`: trash).
 */
export function parseStagingName(name: string): StagingName | undefined {
  if (!name.startsWith(STAGING_PREFIX) || name === STORE_LOCK) return undefined;
  const rest = name.slice(STAGING_PREFIX.length);
  const lock = LOCK.exec(rest);
  if (lock) return { owner: lock[1], kind: "lock" };
  const owned = OWNED.exec(rest);
  if (owned) {
    const kind = owned[2] ?? "new";
    return { owner: owned[1], kind: kind === "new" || kind === "old" ? kind : "trash" };
  }
  if (rest.startsWith("old-")) return { kind: "old" };
  if (/^[A-Za-z0-9_]+$/.test(rest)) return { kind: "new" };
  return { kind: "trash" };
}

const randomHex = (bytes: number) =>
  Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");

function stagingIoError(what: string, path: string, e: unknown): BackupError {
  const reason = e instanceof Error ? e.message.split(" (os error")[0] : String(e);
  return new BackupError(`cannot ${what} ${path}: ${reason}`, {
    hint: "check that the backup root is writable and on one filesystem (--out)",
    cause: e,
  });
}

/**
 * One run's ownership of the staging folders of a root: an exclusive lock on
 * `<root>/.staging-<id>.lock` (holding the pid, host and start time, for people), held until
 * {@link StagingOwner.release}. Folder names come from {@link StagingOwner.path}.
 */
export class StagingOwner {
  private constructor(
    /** The backup root. */
    readonly root: string,
    /** 12 hex digits, unique to this run. */
    readonly id: string,
    private file: Deno.FsFile | undefined,
  ) {}

  /**
   * Takes a new owner id in `root` (created with mode 0700 when missing), before any folder of it
   * exists. Once locked, the lock file must still be the file its name points at: another run that
   * found it unlocked in the instant between creating and locking may have removed it, and then a
   * new id is taken. Throws a {@link BackupError} when the root is not writable.
   */
  static async open(root: string): Promise<StagingOwner> {
    try {
      await Deno.mkdir(root, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw stagingIoError("create", root, e);
    }
    for (let tries = 0; tries < 5; tries++) {
      const id = randomHex(6);
      const path = join(root, `${STAGING_PREFIX}${id}.lock`);
      let file: Deno.FsFile;
      try {
        file = await Deno.open(path, { createNew: true, write: true, mode: 0o600 });
      } catch (e) {
        if (e instanceof Deno.errors.AlreadyExists) continue;
        throw stagingIoError("create the staging lock", path, e);
      }
      await file.lock(true);
      const held = await file.stat();
      const named = await Deno.stat(path).catch(() => undefined);
      if (named && named.ino === held.ino && named.dev === held.dev) {
        const info = { pid: Deno.pid, host: Deno.hostname(), startedAt: new Date().toISOString() };
        await file.write(new TextEncoder().encode(`${JSON.stringify(info)}\n`));
        return new StagingOwner(root, id, file);
      }
      file.close();
    }
    throw new BackupError(`cannot take a staging lock in ${root}`, {
      hint: "another program keeps removing files in the backup root; run again",
    });
  }

  /**
   * A fresh path in the root for a folder of this owner: `.staging-<id>` for the backup being
   * written (`kind` omitted), `.staging-<id>-<kind>-<random>` otherwise (`kind`: lower-case letters;
   * see {@link StagingKind} for what each means to the next run once this one is gone).
   */
  path(kind?: "new" | "old" | "trash" | "blobs"): string {
    return join(this.root, `${STAGING_PREFIX}${this.id}${kind ? `-${kind}-${randomHex(4)}` : ""}`);
  }

  /** Creates `.staging-<id>` (mode 0700), the folder a backup is written to; returns its path. */
  async createDir(): Promise<string> {
    const dir = this.path();
    try {
      await Deno.mkdir(dir, { mode: 0o700 });
    } catch (e) {
      throw stagingIoError("create a staging directory in", this.root, e);
    }
    return dir;
  }

  /** Removes the lock file and drops the lock (the folders are the caller's). Idempotent. */
  releaseSync(): void {
    if (!this.file) return;
    try {
      Deno.removeSync(join(this.root, `${STAGING_PREFIX}${this.id}.lock`));
    } catch {
      // already gone
    }
    this.file.close();
    this.file = undefined;
  }
}

/**
 * Whether the run that owns staging folders named with `owner` is alive: its lock file exists and
 * is locked. An unowned name (`undefined`) has no live owner. A lock file that cannot be opened
 * for another reason counts as alive (never take what might be in use).
 */
export async function ownerAlive(root: string, owner: string | undefined): Promise<boolean> {
  if (owner === undefined) return false;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(join(root, `${STAGING_PREFIX}${owner}.lock`), { read: true });
  } catch (e) {
    return !(e instanceof Deno.errors.NotFound);
  }
  try {
    return !(await file.tryLock(true));
  } finally {
    file.close();
  }
}

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

/** Files the quick check reads between two turns of the event loop (signals are handled there). */
const YIELD_EVERY = 256;

/**
 * Checks the staging directory against the manifest (lib/store/check.ts): every listed file present
 * with its size and checksum (of its stored form when encoded), and no file that the manifest does
 * not list. Throws naming the first bad file in manifest order.
 *
 * A directory that holds only folders and regular files (as a backup writes it) is checked with
 * one walk and blocking reads on this thread: thousands of small files cost a few system calls
 * each instead of a dozen calls handed to worker threads. Anything else in it (a symlink, a device)
 * gets the careful check that {@link checkFiles} makes of every path.
 */
export async function checkStaging(dir: string, m: Manifest): Promise<void> {
  const listed = Object.keys(m.files);
  const plain = plainFiles(dir);
  const bad = plain ? await quickCheck(dir, m, listed, plain) : await carefulCheck(dir, m, listed);
  if (bad?.problem === "missing") {
    throw new BackupError(`backup check failed: ${bad.file} is missing`, {
      hint: "check free disk space and run again",
    });
  }
  if (bad) {
    throw new BackupError(`backup check failed: ${bad.file} does not match what was written`, {
      hint: "the disk or file system changed the file; check free space and run again",
    });
  }
  const extra = plain
    ? [...plain].filter((p) => p !== MANIFEST_NAME && !Object.hasOwn(m.files, p)).sort()[0]
    : (await unlistedFiles(dir, m))[0];
  if (extra !== undefined) {
    throw new BackupError(`backup check failed: unexpected file ${extra}`, {
      hint: "report this as a bug",
    });
  }
}

/** A bad file of the staging check: missing (or unreadable), or not what was written. */
interface StagingFault {
  file: string;
  problem: "missing" | "changed";
}

/** The check of lib/store/check.ts, path by path; the first bad file in manifest order. */
async function carefulCheck(dir: string, m: Manifest, listed: string[]): Promise<StagingFault | undefined> {
  const [bad] = await checkFiles(dir, m, listed, { stored: true, firstOnly: true, jobs: CHECK_JOBS });
  if (!bad) return undefined;
  const missing = bad.problem === "missing" || bad.problem === "unreadable";
  return { file: bad.file, problem: missing ? "missing" : "changed" };
}

/**
 * Every file under `dir` (paths relative to it, `/`-separated), or undefined when the tree holds
 * anything but folders and regular files.
 */
function plainFiles(dir: string): Set<string> | undefined {
  const out = new Set<string>();
  const walk = (rel: string): boolean => {
    for (const e of Deno.readDirSync(rel ? join(dir, rel) : dir)) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) {
        if (!walk(p)) return false;
      } else if (e.isFile) out.add(p);
      else return false;
    }
    return true;
  };
  return walk("") ? out : undefined;
}

/**
 * The files of a plain tree (`plain`, from {@link plainFiles}) against the manifest, one after
 * another with blocking reads; the first bad one in manifest order.
 */
async function quickCheck(
  dir: string,
  m: Manifest,
  listed: string[],
  plain: ReadonlySet<string>,
): Promise<StagingFault | undefined> {
  // A path that leaves the backup is refused before anything is read.
  listed.forEach(assertSafePath);
  const buf = new Uint8Array(BUFFER);
  for (const [i, rel] of listed.entries()) {
    if (i % YIELD_EVERY === YIELD_EVERY - 1) await new Promise((ok) => setTimeout(ok, 0));
    if (!plain.has(rel)) return { file: rel, problem: "missing" };
    const entry = m.files[rel];
    const want = entry.stored ?? entry;
    let got: Written;
    try {
      got = hashFileSync(join(dir, ...rel.split("/")), buf);
    } catch {
      return { file: rel, problem: "missing" };
    }
    if (got.bytes !== want.bytes || got.sha256 !== want.sha256) return { file: rel, problem: "changed" };
  }
  return undefined;
}

/** Size and SHA-256 of a regular file, read with blocking calls into `buf`. */
function hashFileSync(path: string, buf: Uint8Array): Written {
  using f = Deno.openSync(path, { read: true });
  // The tree was walked first; what was opened must still be a regular file.
  if (!f.statSync().isFile) throw new Error(`${path} is not a regular file`);
  const hash = createHash("sha256");
  let bytes = 0;
  for (;;) {
    const n = f.readSync(buf);
    if (n === null) break;
    hash.update(buf.subarray(0, n));
    bytes += n;
  }
  return { bytes, sha256: hash.digest("hex") };
}
