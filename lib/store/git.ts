/**
 * Committing the backup root to the git repository that holds it, and pushing it so that
 * concurrent runs (several source repositories triggering the central backup at once) never lose
 * a backup.
 *
 * On a push race (the remote moved on since we fetched) the tool does not merge or rebase file
 * contents. It sets its change aside, resets to the remote head, applies the change again on top
 * of it (for a backup: newest `createdAt` wins `latest/`, the other goes to `archive/`), commits
 * and pushes again, with bounded retries and random jitter.
 *
 * Only this module runs git. Every text from git passes through {@link redact} and has URL
 * credentials masked. git and everything it starts (hooks, credential helpers, ssh) get only the
 * environment {@link gitEnv} allows, never the database URLs, passwords or keys the tool holds.
 * @module
 */
import { dirname, join, relative, resolve } from "node:path";
import {
  ARCHIVE,
  archiveName,
  ensureRoot,
  installBackup,
  type InstallOptions,
  type InstallResult,
  LATEST,
  previousName,
  previousNameOf,
  readManifestOrWhy,
  uniqueName,
} from "./rotation.ts";
import { BackupError, usageError } from "../base/errors.ts";
import { abortSignal } from "../base/interrupt.ts";
import { type Manifest, MANIFEST_NAME, type ManifestSource, parseManifest } from "./manifest.ts";
import { findGitDir, holdAside, HOLDER, releaseHeld } from "./leftover.ts";
import type { StagingOwner } from "./staging.ts";
import { redact } from "../base/redact.ts";
import {
  addGrowth,
  type FirstMeasure,
  GROWTH_FILE,
  type GrowthRecord,
  type ListedObject,
  packsOf,
  parseGrowth,
  planMeasurePack,
} from "./growth.ts";
import { killedHint, type Program, programFailure, runProgram } from "../base/proc.ts";

/** Who commits when git has no `user.name` / `user.email` configured. */
export interface GitIdentity {
  name: string;
  email: string;
}

/** The identity used when neither git nor the flags give one. */
export const DEFAULT_IDENTITY: GitIdentity = {
  name: "supabase-backup[bot]",
  email: "supabase-backup@users.noreply.github.com",
};

/**
 * The commit message of a backup, e.g. `backup(prod): ok, 42 tables from owner/repo push@abc1234`
 * (`backup: …` without an environment). Pure.
 */
export function commitMessage(
  info: { env?: string; source: ManifestSource; status: string; tables: number },
): string {
  const scope = info.env ? `backup(${info.env})` : "backup";
  const sha = (info.source.sha || "0000000").slice(0, 7);
  const tables = `${info.tables} table${info.tables === 1 ? "" : "s"}`;
  return `${scope}: ${info.status}, ${tables} from ${info.source.repo || "local"} ${
    info.source.event || "unknown"
  }@${sha}`;
}

/** Variables git and its helpers need, by exact (upper-case) name; see {@link gitEnv}. */
const GIT_ENV_NAMES = new Set([
  "PATH",
  "HOME",
  "USER",
  "LOGNAME",
  "TMPDIR",
  "TMP",
  "TEMP",
  "TZ",
  "XDG_CONFIG_HOME",
  "SSH_AUTH_SOCK",
  "SSH_AGENT_PID",
  "SSH_ASKPASS",
  "GNUPGHOME",
  "GPG_TTY",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "ALL_PROXY",
  "NO_PROXY",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  "CURL_CA_BUNDLE",
  // Windows
  "SYSTEMROOT",
  "COMSPEC",
  "PATHEXT",
  "USERPROFILE",
  "APPDATA",
  "LOCALAPPDATA",
  "HOMEDRIVE",
  "HOMEPATH",
]);

/**
 * The whole environment of a git child, from the tool's `env`: the variables git, ssh, gpg and the
 * proxies need (a fixed list, plus git's own `GIT_*`), and `GIT_TERMINAL_PROMPT=0`, `LC_ALL=C`.
 * Nothing else: not `$SUPABASE_DB_URL`, `$RESTORE_DB_URL`, `PGPASSWORD`, Key Vault or webhook
 * settings, which hooks and credential helpers would otherwise see. Pure.
 */
export function gitEnv(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    const name = k.toUpperCase();
    if (v !== undefined && (GIT_ENV_NAMES.has(name) || name.startsWith("GIT_"))) out[k] = v;
  }
  return { ...out, GIT_TERMINAL_PROMPT: "0", LC_ALL: "C" };
}

/** Masks `user:password@` in URLs, then every registered secret. */
export function maskGitOutput(text: string): string {
  return redact(text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, "$1****@"));
}

/** Options of {@link commitAndPush}. */
export interface CommitOptions {
  /** The repository work tree; default: the one that holds `root`. */
  repoDir?: string;
  /** The backup root; only this path is staged and committed. */
  root: string;
  message: string;
  push: boolean;
  identity?: GitIdentity;
  /** Push attempts after the first, on a race. Default 5. */
  retries?: number;
  /** Random wait before a retry, in ms. Default [200, 1500]. */
  jitterMs?: [number, number];
  signal?: AbortSignal;
  /** Progress lines (stderr by default). */
  log?: (line: string) => void;
  /**
   * Record the bytes the commit adds in `<root>/repository.json` (lib/store/growth.ts), committed
   * with it. Set for backups.
   */
  growth?: boolean;
  /** The current time (for tests). */
  now?: Date;
}

/** What a {@link RootChange} is told about the repository that holds the root. */
export interface RootRepo {
  /** The git directory (absolute). */
  gitDir: string;
  /** The backup root relative to the work tree's top (`.` for the top). */
  rel: string;
  /** Archives are kept in git only (a sparse checkout); see {@link installInGit}. */
  sparse: boolean;
  /**
   * The checkout holds no backup of the root (a sparse checkout without its `latest/`): every
   * backup, latest/ too, is kept in git only; see {@link placeInIndex}.
   */
  gitOnly: boolean;
  /**
   * The object id of every file `commit` holds under `<root>/<sub>`, by path relative to that
   * folder (`""` for an entry that is not a file, such as a submodule).
   */
  committedFiles(commit: string, sub: string): Promise<Map<string, string>>;
  /**
   * The object ids git gives the files `paths` (relative to `<root>/<sub>`, or to `dir` when
   * given) as they are on disk, without any `.gitattributes` filter or conversion.
   */
  diskObjects(sub: string, paths: readonly string[], dir?: string): Promise<Map<string, string>>;
  /** The tree object `commit` holds at `<root>/<sub>`; undefined when it holds none. */
  treeAt(commit: string, sub: string): Promise<string | undefined>;
}

/** A change to the backup root that can be redone on top of another commit. */
export interface RootChange {
  /** Makes the change in the work tree and the index (again after a race). */
  apply(repo: RootRepo): Promise<void>;
  /** Moves anything that must survive `git reset --hard` out of the work tree. */
  setAside?(repo: RootRepo): Promise<void>;
  /**
   * Checks that the commit holds the change as it was made; throws a {@link BackupError} when not,
   * and then nothing is pushed.
   */
  check?(commit: string, repo: RootRepo): Promise<void>;
}

/** The outcome of {@link commitAndPush}. */
export interface CommitResult {
  /** The commit holding the change (HEAD when nothing changed). */
  commit: string;
  /** Commit/push rounds made (1 without a race). */
  attempts: number;
  /** False when the change left the root as it was (nothing committed). */
  committed: boolean;
  /** With `growth`: the root's record of the repository's size after this commit. */
  growth?: GrowthRecord;
}

interface Repo {
  top: string;
  gitDir: string;
  /** The root relative to the work tree (`.` for the top). */
  rel: string;
  signal: AbortSignal;
  identityArgs: string[];
  /**
   * A sparse checkout (`core.sparseCheckout`): archives are kept in git only, never written to
   * the work tree (see {@link installInGit}).
   */
  sparse: boolean;
  /** A sparse checkout without the root's `latest/`: nothing of the root is in the work tree. */
  gitOnly?: boolean;
  /**
   * The index git works on (`GIT_INDEX_FILE`) while a commit in git only is prepared: a copy of
   * the clone's own, which takes its place once the commit is made ({@link PrivateIndex}).
   */
  index?: string;
}

interface GitRun {
  code: number;
  stdout: string;
  stderr: string;
  /** How it was run, for {@link gitFailure}. */
  program: Program;
  /** Its stderr as git wrote it (masked in messages by the runner). */
  rawStderr: string;
  /** Its stdout as git wrote it (`stdout` is trimmed). */
  rawStdout: string;
}

/** The hint of a git step that is not expected to fail. */
const GIT_HINT = "run again; if it keeps failing, check that git works here (git status)";

/** Runs git in the repository; returns its exit code (non-zero is not an error here) and output. */
async function git(
  repo: Pick<Repo, "top" | "signal" | "index">,
  args: string[],
  what = args[0],
  hint = GIT_HINT,
  stdin?: Uint8Array,
  extraEnv?: Record<string, string>,
): Promise<GitRun> {
  const program: Program = {
    path: "git",
    args: ["-C", repo.top, ...args],
    ...(stdin ? { stdin } : {}),
    env: {
      ...gitEnv(Deno.env.toObject()),
      ...(repo.index ? { GIT_INDEX_FILE: repo.index } : {}),
      ...extraEnv,
    },
    clearEnv: true,
    what: `git ${what}`,
    signal: repo.signal,
    hint: (end) => (end.signal && killedHint(end.signal)) || hint,
    mask: maskGitOutput,
    detail: (lines) => lines.slice(-3).join(" | ") || "no output",
    notStarted: (e) =>
      cannotRunGit(
        e instanceof Deno.errors.NotFound ? "git was not found" : maskGitOutput(e.message.split("\n")[0]),
        e,
      ),
  };
  const r = await runProgram(program);
  return {
    code: r.code,
    stdout: r.stdout.trim(),
    stderr: maskGitOutput(r.stderr.trim()),
    program,
    rawStderr: r.stderr,
    rawStdout: r.stdout,
  };
}

function cannotRunGit(why: string, cause: unknown): BackupError {
  return new BackupError(`cannot run git: ${why}`, {
    hint: "install git and make sure it is on PATH",
    cause,
  });
}

function lastLines(text: string, n = 3): string {
  return text.split("\n").filter((l) => l.trim() !== "").slice(-n).join(" | ");
}

/** `git <step> failed (exit <code>): <git's last lines>`, with `hint` (the runner's formatter). */
function gitFailure(r: GitRun, hint: string): BackupError {
  return programFailure({ ...r.program, hint: () => hint }, { ...r, stderr: r.rawStderr, signal: null });
}

async function mustGit(
  repo: Repo,
  args: string[],
  what: string,
  hint: string,
  stdin?: Uint8Array,
  extraEnv?: Record<string, string>,
): Promise<string> {
  const r = await git(repo, args, what, hint, stdin, extraEnv);
  if (r.code !== 0) throw gitFailure(r, hint);
  return r.stdout;
}

const PERMISSION =
  /\b403\b|permission denied|permission to \S+ denied|authentication failed|could not read username|access denied|not allowed to push|write access to repository not granted/i;
const PROTECTED = /protected branch|GH006|pre-receive hook declined/i;
const RACE =
  /\[rejected\]|non-fast-forward|fetch first|cannot lock ref|failed to update ref|unable to create .*\.lock|incorrect old value|failed to lock/i;

/** How a failed push is handled. Pure. */
export function classifyPushError(stderr: string): "race" | "permission" | "protected" | "other" {
  if (PROTECTED.test(stderr)) return "protected";
  if (PERMISSION.test(stderr)) return "permission";
  if (RACE.test(stderr)) return "race";
  return "other";
}

/**
 * Opens the repository holding `root`. With `create` (the default) the root is created first;
 * without, the nearest existing folder above it is asked, so that nothing is written.
 */
async function openRepo(
  root: string,
  repoDir: string | undefined,
  signal: AbortSignal,
  create = true,
): Promise<Repo> {
  let here = root;
  let below = "";
  if (create) await ensureRoot(root);
  else {
    // the nearest folder that exists, and the rest of the root's path under it
    while (!(await Deno.stat(here).then((i) => i.isDirectory, () => false)) && dirname(here) !== here) {
      below = below ? join(here.split("/").pop()!, below) : here.split("/").pop()!;
      here = dirname(here);
    }
  }
  const probe = { top: repoDir ?? here, signal };
  const top = await git(probe, ["rev-parse", "--show-toplevel"]);
  if (top.code !== 0) {
    throw new BackupError(`${repoDir ?? root} is not inside a git repository`, {
      hint:
        "clone the backup repository (or run 'git init') and put --out inside it, or drop --commit/--push",
    });
  }
  const repo = { top: top.stdout, signal };
  const gitDir = (await git(repo, ["rev-parse", "--absolute-git-dir"])).stdout;
  const rel = join(relative(await Deno.realPath(top.stdout), await Deno.realPath(here)), below) || ".";
  if (rel.startsWith("..")) {
    throw new BackupError(`backup root ${root} is outside the git repository ${top.stdout}`, {
      hint: "point --out at a folder inside the repository",
    });
  }
  const sparse = (await git(repo, ["config", "--bool", "core.sparseCheckout"])).stdout === "true";
  const index = privateIndexes.get(gitDir);
  return { ...repo, gitDir, rel, identityArgs: [], sparse, ...(index ? { index } : {}) };
}

/**
 * The private index of each git directory (by its absolute path) while a commit in git only is
 * prepared there: every {@link openRepo} of this process works on it, so that retention and the
 * growth record see what the rotation did.
 */
const privateIndexes = new Map<string, string>();

/**
 * While a change to a root kept in git only is prepared, git works on a copy of the clone's
 * index: a failure, or a kill, before the commit leaves the clone's index as it was. Once the
 * commit is made, the copy is renamed over the clone's index ({@link adopt}).
 */
class PrivateIndex {
  private constructor(private repo: Repo, private path: string, private real: string) {}

  /** Copies the clone's index (none yet: git starts an empty one) and makes `repo` use the copy. */
  static async begin(repo: Repo): Promise<PrivateIndex> {
    const real = resolve(
      repo.top,
      await mustGit(
        { ...repo, index: undefined },
        ["rev-parse", "--git-path", "index"],
        "rev-parse",
        GIT_HINT,
      ),
    );
    const holder = join(repo.gitDir, HOLDER);
    await Deno.mkdir(holder, { recursive: true, mode: 0o700 });
    const path = join(holder, `index-${crypto.randomUUID()}`);
    await Deno.copyFile(real, path).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
    privateIndexes.set(repo.gitDir, path);
    repo.index = path;
    return new PrivateIndex(repo, path, real);
  }

  /** The commit is made: the copy becomes the clone's index. */
  async adopt(): Promise<void> {
    if (this.repo.index !== this.path) return;
    await Deno.rename(this.path, this.real).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e; // git never wrote one: nothing to adopt
    });
    this.end();
  }

  /** Drops the copy (nothing was committed): the clone's index stays as it was. */
  async drop(): Promise<void> {
    if (this.repo.index !== this.path) return;
    this.end();
    await Deno.remove(this.path).catch(() => {});
  }

  private end() {
    privateIndexes.delete(this.repo.gitDir);
    this.repo.index = undefined;
  }
}

/** Splits git's `-z` output into its paths. */
const zPaths = (out: string) => out.split("\0").filter((p) => p !== "");

/**
 * Files outside the backup root that a `git reset --hard` could change or remove: tracked files
 * that differ from HEAD (staged or not), files in the index when there is no commit yet, and
 * untracked files that are not ignored. Staging folders are not counted. Sorted.
 */
async function changesOutsideRoot(repo: Repo): Promise<string[]> {
  if (repo.rel === ".") return [];
  const spec = [
    "--",
    ".",
    `:(exclude,literal)${repo.rel}`,
    ":(exclude,glob)**/.staging-*",
    ":(exclude,glob)**/.staging-*/**",
  ];
  const hint = "check that git works in this clone (git status)";
  const head = await git(repo, ["rev-parse", "--verify", "--quiet", "HEAD"]);
  const tracked = head.code === 0
    ? await mustGit(repo, ["diff", "--name-only", "-z", "HEAD", ...spec], "diff", hint)
    : await mustGit(repo, ["ls-files", "-z", ...spec], "ls-files", hint);
  const untracked = await mustGit(
    repo,
    ["ls-files", "-z", "--others", "--exclude-standard", ...spec],
    "ls-files",
    hint,
  );
  return [...new Set([...zPaths(tracked), ...zPaths(untracked)])].sort();
}

/** `a, b, c (and 4 more)`, control characters shown as `?`. Pure. */
function someOf(paths: readonly string[], n = 3): string {
  // deno-lint-ignore no-control-regex
  const shown = paths.slice(0, n).map((p) => p.replace(/[\x00-\x1f\x7f]/g, "?")).join(", ");
  return paths.length > n ? `${shown} (and ${paths.length - n} more)` : shown;
}

const CLEAN_HINT =
  "commit or stash them (git stash -u) first, or push from a clone used only for backups: a push race resets the clone to the remote head";

/** Refuses (exit 2) to push from a work tree with changes outside the root that a reset would lose. */
async function refuseChangesOutsideRoot(repo: Repo): Promise<void> {
  const changed = await changesOutsideRoot(repo);
  if (changed.length === 0) return;
  throw usageError(
    `cannot push from ${repo.top}: it has uncommitted changes outside the backup root: ${someOf(changed)}`,
    CLEAN_HINT,
  );
}

/**
 * Checks, before a backup is made, that `--push` can work from the repository holding `root`:
 * the root is in a git work tree, HEAD is on a branch with a remote, and nothing outside the root
 * is uncommitted (a push race resets the work tree to the remote head). Creates nothing. Throws
 * a {@link BackupError} with a hint otherwise (exit 2 for uncommitted changes).
 */
export async function checkPushable(opts: { root: string; repoDir?: string; signal?: AbortSignal }) {
  const repo = await openRepo(opts.root, opts.repoDir, opts.signal ?? abortSignal, false);
  await pushTarget(repo);
  await refuseChangesOutsideRoot(repo);
}

/**
 * Whether the checkout holds no backup of the root: a sparse checkout whose patterns leave out the
 * root's `latest/` and `repository.json` (`'/*' '!/backups/'`), so every backup is kept in git
 * only. git itself says: the two paths are put in a scratch index, and `git sparse-checkout
 * reapply` (on a scratch work tree, so nothing is written to the clone's) marks those its patterns
 * leave out skip-worktree.
 */
async function keptInGitOnly(repo: Repo, root: string): Promise<boolean> {
  if (!repo.sparse || (await Deno.lstat(join(root, LATEST)).then(() => true, () => false))) return false;
  const probe = { ...repo, index: undefined };
  const empty = await mustGit(
    probe,
    ["hash-object", "-w", "--stdin"],
    "hash-object",
    "check free disk space and that the git directory is writable",
    new Uint8Array(),
  );
  const holder = join(repo.gitDir, HOLDER);
  await Deno.mkdir(holder, { recursive: true, mode: 0o700 });
  const tmp = await Deno.makeTempDir({ dir: holder, prefix: "sparse-" });
  try {
    await Deno.mkdir(join(tmp, "tree"));
    const env = { GIT_INDEX_FILE: join(tmp, "index") };
    const paths = [inRoot(repo, `${LATEST}/${MANIFEST_NAME}`), inRoot(repo, GROWTH_FILE)];
    await mustGit(
      probe,
      ["update-index", "--add", "-z", "--index-info"],
      "update-index",
      GIT_HINT,
      new TextEncoder().encode(paths.map((p) => `100644 ${empty}\t${p}\0`).join("")),
      env,
    );
    const applied = await git(
      probe,
      ["--work-tree", join(tmp, "tree"), "sparse-checkout", "reapply"],
      "sparse-checkout",
      GIT_HINT,
      undefined,
      env,
    );
    if (applied.code !== 0) return false;
    const listed = await mustGit(probe, ["ls-files", "-t", "-z"], "ls-files", GIT_HINT, undefined, env);
    const tags = zPaths(listed).map((r) => r.slice(0, 2));
    return tags.length === paths.length && tags.every((t) => t === "S ");
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/**
 * Whether the clone holding `root` holds none of its backups ({@link keptInGitOnly}): a backup
 * committed there is kept in git only. Creates nothing; false outside a git repository.
 */
export async function rootInGitOnly(root: string, signal = abortSignal): Promise<boolean> {
  const repo = await sparseRepoOf(root, signal);
  return repo ? await keptInGitOnly(repo, root) : false;
}

/** The {@link RootRepo} view of a repository. */
function rootRepo(repo: Repo): RootRepo {
  const prefix = (sub: string) => `${repo.rel === "." ? "" : `${repo.rel}/`}${sub}/`;
  return {
    gitDir: repo.gitDir,
    rel: repo.rel,
    sparse: repo.sparse,
    gitOnly: repo.gitOnly ?? false,
    committedFiles: async (commit, sub) => {
      const under = prefix(sub);
      const out = await mustGit(
        repo,
        ["ls-tree", "-r", "-z", "--full-name", commit, "--", `:(literal)${under}`],
        "ls-tree",
        GIT_HINT,
      );
      const files = new Map<string, string>();
      for (const rec of zPaths(out)) {
        const tab = rec.indexOf("\t");
        const [, type, oid] = rec.slice(0, tab).split(" ");
        const path = rec.slice(tab + 1);
        if (path.startsWith(under)) files.set(path.slice(under.length), type === "blob" ? oid : "");
      }
      return files;
    },
    treeAt: async (commit, sub) => {
      const r = await git(repo, [
        "rev-parse",
        "--verify",
        "--quiet",
        `${commit}:${inRoot(repo, sub)}`,
      ]);
      return r.code === 0 && r.stdout ? r.stdout : undefined;
    },
    diskObjects: async (sub, paths, dir) => {
      const objects = new Map<string, string>();
      if (paths.length === 0) return objects;
      const under = dir === undefined ? prefix(sub) : `${dir}/`;
      const out = await mustGit(
        repo,
        ["hash-object", "--no-filters", "--stdin-paths"],
        "hash-object",
        GIT_HINT,
        new TextEncoder().encode(paths.map((p) => `${under}${p}\n`).join("")),
      );
      out.split("\n").forEach((oid, i) => objects.set(paths[i], oid.trim()));
      return objects;
    },
  };
}

/**
 * What a commit lacks of a backup (pure): each of `expected` (the files the manifest lists, and
 * manifest.json) must be in `committed` as the same object as on disk (`disk`, hashed without
 * filters). Returns one line per problem, in the order of `expected`.
 */
export function commitShortfall(
  expected: readonly string[],
  committed: ReadonlyMap<string, string>,
  disk: ReadonlyMap<string, string>,
): string[] {
  const problems: string[] = [];
  for (const path of expected) {
    const got = committed.get(path);
    if (got === undefined) problems.push(`${path} is missing`);
    else if (got !== disk.get(path)) problems.push(`${path} differs from the file on disk`);
  }
  return problems;
}

async function identityArgs(repo: Repo, identity: GitIdentity): Promise<string[]> {
  const args: string[] = [];
  if (!(await git(repo, ["config", "user.name"])).stdout) args.push("-c", `user.name=${identity.name}`);
  if (!(await git(repo, ["config", "user.email"])).stdout) args.push("-c", `user.email=${identity.email}`);
  return args;
}

/** The branch to push and its upstream (remote and remote branch). */
async function pushTarget(repo: Repo): Promise<{ branch: string; remote: string; remoteBranch: string }> {
  const head = await git(repo, ["symbolic-ref", "--quiet", "--short", "HEAD"]);
  if (head.code !== 0 || !head.stdout) {
    throw new BackupError(`cannot push from ${repo.top}: HEAD is not on a branch (detached)`, {
      hint: "check out a branch first (actions/checkout with 'ref: main'), or drop --push",
    });
  }
  const branch = head.stdout;
  const remote = (await git(repo, ["config", `branch.${branch}.remote`])).stdout || "origin";
  const merge = (await git(repo, ["config", `branch.${branch}.merge`])).stdout;
  const remoteBranch = merge.replace(/^refs\/heads\//, "") || branch;
  if ((await git(repo, ["remote", "get-url", remote])).code !== 0) {
    throw new BackupError(`cannot push: the repository ${repo.top} has no remote '${remote}'`, {
      hint: `add it with 'git remote add ${remote} URL', or drop --push`,
    });
  }
  return { branch, remote, remoteBranch };
}

/**
 * Stages the root only (never staging dirs), and commits it when it changed. `--force`: ignore
 * rules (`.gitignore`, `info/exclude`, `core.excludesFile`) never keep a backup file out.
 */
async function commitRoot(repo: Repo, message: string, growth?: GrowthStep): Promise<boolean> {
  const exclude = `:(exclude)${repo.rel === "." ? "" : `${repo.rel}/`}.staging-*`;
  await mustGit(
    repo,
    ["add", "-A", "--force", "--", repo.rel, exclude],
    "add",
    "check that the backup root is readable and that no other git process holds the index lock",
  );
  const diff = await git(repo, ["diff", "--cached", "--quiet", "--", repo.rel]);
  if (diff.code === 0) return false;
  if (growth) growth.record = await recordGrowth(repo, growth.now);
  await mustGit(
    repo,
    [...repo.identityArgs, "commit", "--quiet", "--no-verify", "-m", redact(message), "--", repo.rel],
    "commit",
    "set user.name/user.email (or --git-name/--git-email) and check the repository is not mid-merge",
  );
  return true;
}

/** `<rel>/<sub>` of the root, relative to the work tree's top. */
const inRoot = (repo: Pick<Repo, "rel">, sub: string) => repo.rel === "." ? sub : `${repo.rel}/${sub}`;

const SPARSE_HINT =
  "a sparse checkout must hold the backup root's latest/: git sparse-checkout set --no-cone '/*' '!/backups/*/archive/'";

/**
 * The sparse-checkout form of {@link commitRoot}: stages the root except `archive/` (kept in git
 * only; in a checkout without the root's latest/, nothing: the root is all in the index), then commits the index's tree of the root on top of HEAD without touching anything
 * else: `write-tree --prefix`, the trees above it rebuilt with `mktree`, `commit-tree`, and
 * `update-ref` from the HEAD it started on. (`git commit -- <root>` would leave out the archives,
 * which are not in the work tree.) Commit hooks do not run.
 */
async function commitIndexRoot(repo: Repo, message: string, growth?: GrowthStep): Promise<boolean> {
  const exclude = `:(exclude)${inRoot(repo, ".staging-*")}`;
  // kept in git only, the root is all in the index already (nothing of it is on disk to add)
  if (!repo.gitOnly) {
    await mustGit(
      repo,
      ["add", "-A", "--force", "--", repo.rel, exclude, `:(exclude)${inRoot(repo, ARCHIVE)}`],
      "add",
      `check that the backup root is readable and that no other git process holds the index lock; ${SPARSE_HINT}`,
    );
  }
  let sub = await rootTree(repo);
  const head = (await git(repo, ["rev-parse", "--verify", "--quiet", "HEAD"])).stdout;
  if (head) {
    const before = await git(repo, [
      "rev-parse",
      "--verify",
      "--quiet",
      `${head}:${repo.rel === "." ? "" : repo.rel}`,
    ]);
    if (before.stdout === sub) return false;
  }
  if (growth) {
    growth.record = await recordGrowth(repo, growth.now);
    sub = await rootTree(repo);
  }
  const tree = await graftTree(
    repo,
    head ? `${head}^{tree}` : undefined,
    repo.rel === "." ? [] : repo.rel.split("/"),
    sub,
  );
  const commit = await mustGit(
    repo,
    [...repo.identityArgs, "commit-tree", tree, ...(head ? ["-p", head] : []), "-m", redact(message)],
    "commit-tree",
    "set user.name/user.email (or --git-name/--git-email)",
  );
  await mustGit(
    repo,
    [
      "update-ref",
      "-m",
      `commit: ${redact(message).split("\n")[0]}`,
      "HEAD",
      commit,
      head || "0".repeat(commit.length),
    ],
    "update-ref",
    "another git process moved HEAD meanwhile; run again",
  );
  return true;
}

/** The index's tree of the root (writing the tree objects it needs). */
async function rootTree(repo: Repo): Promise<string> {
  return await mustGit(
    repo,
    ["write-tree", ...(repo.rel === "." ? [] : [`--prefix=${repo.rel}/`])],
    "write-tree",
    "check the repository is not mid-merge (git status)",
  );
}

/** {@link recordGrowth} for one commit: its time, and the record it wrote. */
interface GrowthStep {
  now?: Date;
  record?: GrowthRecord;
}

/**
 * The growth record of a root (`<root>/repository.json`), or undefined when it is missing, not a
 * regular file (a symlink committed there is never followed) or not a record.
 */
export async function readGrowthRecord(root: string): Promise<GrowthRecord | undefined> {
  const path = join(root, GROWTH_FILE);
  const info = await Deno.lstat(path).catch(() => undefined);
  if (info) {
    return info.isFile ? parseGrowth(await Deno.readTextFile(path).catch(() => undefined)) : undefined;
  }
  // not on disk: a checkout without backups keeps it in git only
  const repo = await sparseRepoOf(root);
  return repo ? await indexGrowthRecord(repo) : undefined;
}

/** The root's `repository.json` as the index holds it (a regular file only, never a symlink). */
async function indexGrowthRecord(repo: Repo): Promise<GrowthRecord | undefined> {
  const entry = (await indexEntries(repo, GROWTH_FILE, false))[0];
  if (!entry || entry.mode !== "100644") return undefined;
  return parseGrowth((await indexTexts(repo, [GROWTH_FILE]))[0]);
}

/**
 * Writes `bytes` to git's objects and puts them in the index as the root's file `rel`, marked
 * skip-worktree (in git only; nothing on disk).
 */
async function writeIndexFile(repo: Repo, rel: string, bytes: Uint8Array): Promise<void> {
  const oid = await mustGit(
    repo,
    ["hash-object", "-w", "--no-filters", "--stdin"],
    "hash-object",
    "check free disk space and that the git directory is writable",
    bytes,
  );
  const path = inRoot(repo, rel);
  await mustGit(
    repo,
    ["update-index", "--add", "--cacheinfo", `100644,${oid},${path}`],
    "update-index",
    GIT_HINT,
  );
  await skipWorktree(repo, [path]);
}

/**
 * Before a backup commit, with the root staged: the bytes the root's new tree adds to HEAD's once
 * packed ({@link packedBytes}), added to the root's `repository.json` (its first measure:
 * {@link repositoryBytes}; too low in a partial or shallow clone, and then shown as "at least"),
 * which is written and staged.
 * Returns the new record.
 */
async function recordGrowth(repo: Repo, now = new Date()): Promise<GrowthRecord> {
  const sub = await rootTree(repo);
  const head = await git(repo, [
    "rev-parse",
    "--verify",
    "--quiet",
    `HEAD:${repo.rel === "." ? "" : repo.rel}`,
  ]);
  const before = head.code === 0 && head.stdout ? head.stdout : undefined;
  const added = await packedBytes(repo, sub, before);
  const path = join(repo.top, inRoot(repo, GROWTH_FILE));
  const previous = repo.gitOnly ? await indexGrowthRecord(repo) : await readGrowthRecord(dirname(path));
  const promisor = (await git(repo, ["config", "--get", "extensions.partialclone"])).stdout !== "" ||
    (await git(repo, ["config", "--get-regexp", "^remote\\..*\\.promisor$"])).stdout.includes("true");
  const shallow = (await git(repo, ["rev-parse", "--is-shallow-repository"])).stdout === "true";
  const first: FirstMeasure = !previous
    ? { baseBytes: await repositoryBytes(repo), partial: promisor, shallow }
    : promisor || shallow
    ? { baseBytes: 0, partial: false }
    : { baseBytes: 0, partial: false, packsBytes: await packsBytes(repo) };
  const record = addGrowth(previous, first, { at: now.toISOString(), addedBytes: added });
  if (repo.gitOnly) {
    await writeIndexFile(repo, GROWTH_FILE, new TextEncoder().encode(`${JSON.stringify(record, null, 2)}\n`));
    return record;
  }
  // written aside and renamed over: a symlink committed in its place is replaced, never followed
  if ((await Deno.lstat(path).catch(() => undefined))?.isDirectory) {
    await Deno.remove(path, { recursive: true });
  }
  const aside = `${path}.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(aside, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600, createNew: true });
  await Deno.rename(aside, path);
  await mustGit(repo, ["add", "--force", "--", inRoot(repo, GROWTH_FILE)], "add", GIT_HINT);
  return record;
}

/**
 * The bytes of a pack of the objects tree `sub` adds to tree `before` (undefined: all of them),
 * each a delta against `before`'s object at its place where git finds one: what the repository
 * holds for them once packed, and what a push sends when git pairs the files well. The pack is
 * planned by {@link planMeasurePack}: its preferred-base tree is written to a temporary object
 * directory (the repository's own objects read through it as an alternate), and the pack there,
 * then removed. Bases this clone lacks (a blobless clone's; one without backups lacks them all)
 * are fetched into that scratch directory ({@link fetchInto}), so nothing is added to the
 * repository; when they cannot be fetched, they are left out.
 */
async function packedBytes(repo: Repo, sub: string, before: string | undefined): Promise<number> {
  const listed = await mustGit(
    repo,
    ["rev-list", "--objects", "--missing=allow-promisor", sub, ...(before ? ["--not", before] : [])],
    "rev-list",
    GIT_HINT,
  );
  const added = listed.split("\n").filter(Boolean).map((line) => {
    const sp = line.indexOf(" ");
    return sp < 0 ? { oid: line, path: "" } : { oid: line.slice(0, sp), path: line.slice(sp + 1) };
  });
  if (added.length === 0) return 0;
  const previous: ListedObject[] = [];
  let missing = new Set<string>();
  if (before) {
    missing = new Set(
      (await mustGit(repo, ["rev-list", "--objects", "--missing=print", before], "rev-list", GIT_HINT))
        .split("\n").filter((l) => l.startsWith("?")).map((l) => l.slice(1).trim()),
    );
    previous.push({ oid: before, path: "", mode: "040000", type: "tree" });
    for (
      const rec of zPaths(await mustGit(repo, ["ls-tree", "-r", "-t", "-z", before], "ls-tree", GIT_HINT))
    ) {
      const tab = rec.indexOf("\t");
      const [mode, type, oid] = rec.slice(0, tab).split(" ");
      if (type === "blob" || type === "tree") previous.push({ oid, path: rec.slice(tab + 1), mode, type });
    }
  }
  const full = planMeasurePack(added, previous);
  const lacking = [...new Set(full.baseEntries.map((e) => e.split("\t")[0].split(" ")[2]))]
    .filter((oid) => missing.has(oid));
  return await inScratch(repo, async (tmp, env) => {
    // a blobless clone lacks the previous versions (a checkout without backups: all of them):
    // they are fetched into the scratch directory, removed after, else left out as bases
    const plan = lacking.length === 0 || await fetchInto(repo, env, lacking)
      ? full
      : planMeasurePack(added, previous.filter((o) => !missing.has(o.oid)));
    const stdin = [...plan.objects];
    if (plan.baseEntries.length > 0) {
      const base = await mustGit(
        repo,
        ["mktree", "-z", "--missing"],
        "mktree",
        GIT_HINT,
        new TextEncoder().encode(plan.baseEntries.map((e) => `${e}\0`).join("")),
        env,
      );
      stdin.unshift(`-${base}`);
    }
    return await packSize(repo, tmp, env, [], stdin);
  });
}

/**
 * Fetches the objects `oids` from the clone's promisor remote (a partial clone's) into the object
 * directory `env` names (a scratch one, {@link inScratch}), as git fetches what a partial clone
 * lacks: nothing is added to the repository. False when the clone has no promisor remote or the
 * fetch fails.
 */
async function fetchInto(repo: Repo, env: Record<string, string>, oids: readonly string[]): Promise<boolean> {
  const remotes = await git(repo, ["config", "--get-regexp", "^remote\\..*\\.promisor$"]);
  const remote = remotes.stdout.split("\n").find((l) => / true$/.test(l))?.split(" ")[0]
    .replace(/^remote\./, "").replace(/\.promisor$/, "");
  if (!remote) return false;
  const r = await git(
    repo,
    [
      "-c",
      "fetch.negotiationAlgorithm=noop",
      "fetch",
      "--quiet",
      "--no-tags",
      "--no-write-fetch-head",
      "--recurse-submodules=no",
      "--filter=blob:none",
      "--stdin",
      remote,
    ],
    "fetch",
    GIT_HINT,
    new TextEncoder().encode(oids.map((o) => `${o}\n`).join("")),
    env,
  );
  return r.code === 0;
}

/**
 * A path as one entry of `GIT_ALTERNATE_OBJECT_DIRECTORIES` (pure): C-quoted, since the list is
 * split at `:` (`;` on Windows) and a quoted entry is read whole.
 */
export function quoteAlternate(path: string): string {
  return `"${path.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}

/**
 * Runs `use` with a scratch object directory inside the git directory (the repository's own
 * objects read through it as an alternate, so that nothing `use` writes lands in the
 * repository), removed after.
 */
async function inScratch<T>(
  repo: Repo,
  use: (tmp: string, env: Record<string, string>) => Promise<T>,
): Promise<T> {
  const objects = await mustGit(repo, ["rev-parse", "--git-path", "objects"], "rev-parse", GIT_HINT);
  const holder = join(repo.gitDir, HOLDER);
  await Deno.mkdir(holder, { recursive: true, mode: 0o700 });
  const tmp = await Deno.makeTempDir({ dir: holder, prefix: "growth-" });
  try {
    await Deno.mkdir(join(tmp, "objects")); // git finds no repository without it
    return await use(tmp, {
      GIT_OBJECT_DIRECTORY: join(tmp, "objects"),
      GIT_ALTERNATE_OBJECT_DIRECTORIES: quoteAlternate(resolve(repo.top, objects)),
    });
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/** The bytes of the pack `git pack-objects <args>` makes of `stdin` (lines), written in `tmp`. */
async function packSize(
  repo: Repo,
  tmp: string,
  env: Record<string, string>,
  args: string[],
  stdin: string[],
): Promise<number> {
  const name = await mustGit(
    repo,
    ["pack-objects", "-q", "--window-memory=256m", ...args, join(tmp, "measure")],
    "pack-objects",
    "check free disk space and that the git directory is writable",
    new TextEncoder().encode(stdin.map((l) => `${l}\n`).join("")),
    env,
  );
  return (await Deno.stat(join(tmp, `measure-${name}.pack`))).size;
}

/**
 * The bytes of the repository's packs as git reports them (`git count-objects -v`): what a
 * repository kept with `git gc` holds on disk, loose objects (such as this commit's) left out.
 */
async function packsBytes(repo: Repo): Promise<number> {
  return packsOf(await mustGit(repo, ["count-objects", "-v"], "count-objects", GIT_HINT));
}

/**
 * The repository's size before a first backup commit: its packs (`count-objects`), and its loose
 * objects reachable from a ref as a pack would hold them (`pack-objects --all --incremental`, what
 * `git repack -d --window=250` would make; git stores each loose object compressed on its own,
 * several times larger). The commit's own objects are not reachable yet.
 */
async function repositoryBytes(repo: Repo): Promise<number> {
  const counts = await mustGit(repo, ["count-objects", "-v"], "count-objects", GIT_HINT);
  const packs = packsOf(counts);
  if (Number(counts.match(/^count: (\d+)$/m)?.[1] ?? 0) === 0) return packs;
  // a repository without any commit has no refs: nothing to pack
  if ((await git(repo, ["for-each-ref", "--count=1"])).stdout === "") return packs;
  const loose = await inScratch(
    repo,
    (tmp, env) =>
      packSize(
        repo,
        tmp,
        env,
        ["--all", "--revs", "--incremental", "--missing=allow-promisor", "--window=250", "--depth=50"],
        [],
      ),
  );
  return packs + loose;
}

/**
 * The tree `base` (undefined: empty) with the tree at path `segs` replaced by `sub`, each level
 * rebuilt with `mktree --missing` (nothing is fetched in a partial clone). Returns its id.
 */
async function graftTree(
  repo: Repo,
  base: string | undefined,
  segs: readonly string[],
  sub: string,
): Promise<string> {
  if (segs.length === 0) return sub;
  const [first, ...rest] = segs;
  const entries = base ? zPaths(await mustGit(repo, ["ls-tree", "-z", base], "ls-tree", GIT_HINT)) : [];
  let child: string | undefined;
  const kept: string[] = [];
  for (const e of entries) {
    const tab = e.indexOf("\t");
    const [, type, oid] = e.slice(0, tab).split(" ");
    if (e.slice(tab + 1) !== first) kept.push(e);
    else if (type === "tree") child = oid;
  }
  kept.push(`040000 tree ${await graftTree(repo, child, rest, sub)}\t${first}`);
  return await mustGit(
    repo,
    ["mktree", "-z", "--missing"],
    "mktree",
    GIT_HINT,
    new TextEncoder().encode(kept.map((e) => `${e}\0`).join("")),
  );
}

/** Regular files under `dir`, relative to it with `/`, sorted. Throws on a symlink or special file. */
async function filesUnder(dir: string, sub = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(sub ? join(dir, sub) : dir)) {
    const rel = sub ? `${sub}/${e.name}` : e.name;
    if (e.isDirectory) out.push(...await filesUnder(dir, rel));
    else if (e.isFile) out.push(rel);
    else {
      throw new BackupError(`${join(dir, rel)} is not a regular file`, {
        hint: "a backup folder holds only files and folders; remove it and run again",
      });
    }
  }
  return out.sort();
}

/**
 * The tree object of the files in `dir` as they are on disk (no `.gitattributes` filter), built in
 * a temporary index; only blobs git does not hold yet are written. With `consume`, each file is
 * removed as soon as git holds it (a few MB at a time), so the folder and its copy in git's objects
 * are never both whole on disk. Returns its id.
 */
async function treeOfDir(repo: Repo, dir: string, consume = false): Promise<string> {
  const files = await filesUnder(dir);
  const oids: string[] = [];
  const hashAll = async (batch: readonly string[]) => {
    if (batch.length === 0) return;
    const hashed = await mustGit(
      repo,
      ["hash-object", "-w", "--no-filters", "--stdin-paths"],
      "hash-object",
      "check free disk space and that the git directory is writable",
      new TextEncoder().encode(batch.map((f) => `${join(dir, f)}\n`).join("")),
    );
    oids.push(...hashed.split("\n").map((l) => l.trim()));
    if (consume) { for (const f of batch) await Deno.remove(join(dir, f)); }
  };
  if (!consume) await hashAll(files);
  else {
    // smallest first: the folder shrinks while git's objects grow, a little at a time
    const sizes = new Map<string, number>();
    for (const f of files) sizes.set(f, (await Deno.lstat(join(dir, f))).size);
    const order = [...files].sort((a, b) => sizes.get(a)! - sizes.get(b)!);
    let batch: string[] = [];
    let bytes = 0;
    for (const f of order) {
      batch.push(f);
      bytes += sizes.get(f)!;
      if (bytes < CONSUME_BATCH_BYTES && batch.length < 256) continue;
      await hashAll(batch);
      [batch, bytes] = [[], 0];
    }
    await hashAll(batch);
    files.splice(0, files.length, ...order);
  }
  const holder = join(repo.gitDir, HOLDER);
  await Deno.mkdir(holder, { recursive: true, mode: 0o700 });
  const index = join(holder, `index-${crypto.randomUUID()}`);
  const env = { GIT_INDEX_FILE: index };
  try {
    await mustGit(
      repo,
      ["update-index", "--add", "-z", "--index-info"],
      "update-index",
      GIT_HINT,
      new TextEncoder().encode(files.map((f, i) => `100644 ${oids[i]}\t${f}\0`).join("")),
      env,
    );
    return await mustGit(repo, ["write-tree"], "write-tree", GIT_HINT, undefined, env);
  } finally {
    await Deno.remove(index).catch(() => {});
  }
}

/** The bytes {@link treeOfDir} hashes before it removes them, with `consume`. */
const CONSUME_BATCH_BYTES = 2 * 1024 * 1024;

/**
 * A staged backup's files written to git's objects as one tree ({@link treeOfDir}, removing each
 * file once git holds it), and its manifest.
 */
async function treeBackup(repo: Repo, dir: string): Promise<TreeBackup> {
  const read = await readManifestOrWhy(dir);
  if (!("manifest" in read)) {
    throw new BackupError(`no readable manifest in ${dir}`, {
      hint: "the staged backup is incomplete; run the backup again",
    });
  }
  return { tree: await treeOfDir(repo, dir, true), manifest: read.manifest };
}

/** The archive names the index holds under the root's `archive/`, sorted. */
async function indexArchiveNames(repo: Repo): Promise<string[]> {
  const prefix = `${inRoot(repo, ARCHIVE)}/`;
  const out = await mustGit(repo, ["ls-files", "-z", "--", `:(literal)${prefix}`], "ls-files", GIT_HINT);
  const names = new Set<string>();
  for (const p of zPaths(out)) if (p.startsWith(prefix)) names.add(p.slice(prefix.length).split("/")[0]);
  return [...names].sort();
}

/** An entry of the index: its mode, object id and path (relative to the work tree's top). */
interface IndexEntry {
  mode: string;
  oid: string;
  path: string;
}

/**
 * The index's entries under the root's folder `sub` (with `dir` false: the root's file `sub`), in
 * index order.
 */
async function indexEntries(repo: Repo, sub: string, dir = true): Promise<IndexEntry[]> {
  const at = inRoot(repo, sub);
  const out = await mustGit(
    repo,
    ["ls-files", "-s", "-z", "--", `:(literal)${dir ? `${at}/` : at}`],
    "ls-files",
    GIT_HINT,
  );
  const entries: IndexEntry[] = [];
  for (const rec of zPaths(out)) {
    const tab = rec.indexOf("\t");
    const [mode, oid] = rec.slice(0, tab).split(" ");
    const path = rec.slice(tab + 1);
    if (dir ? path.startsWith(`${at}/`) : path === at) entries.push({ mode, oid, path });
  }
  return entries;
}

/** Marks index entries skip-worktree: git leaves them out of the work tree, and never adds them. */
async function skipWorktree(repo: Repo, paths: readonly string[]): Promise<void> {
  if (paths.length === 0) return;
  await mustGit(
    repo,
    ["update-index", "--skip-worktree", "-z", "--stdin"],
    "update-index",
    GIT_HINT,
    new TextEncoder().encode(paths.map((p) => `${p}\0`).join("")),
  );
}

/**
 * Puts `tree` in the index as the root's folder `sub` (nothing may be there), marked
 * skip-worktree (in git only: nothing is written to the work tree).
 */
async function addIndexTree(repo: Repo, sub: string, tree: string): Promise<void> {
  await mustGit(repo, ["read-tree", `--prefix=${inRoot(repo, sub)}/`, tree], "read-tree", GIT_HINT);
  await skipWorktree(repo, (await indexEntries(repo, sub)).map((e) => e.path));
}

/** Puts `tree` in the index as `archive/<name>` of the root, in git only ({@link addIndexTree}). */
async function addIndexArchive(repo: Repo, name: string, tree: string): Promise<void> {
  await addIndexTree(repo, `${ARCHIVE}/${name}`, tree);
}

/**
 * Changes the index by `update-index --index-info` lines: entries removed (`remove`) and added
 * (`add`, marked skip-worktree).
 */
async function editIndex(repo: Repo, remove: readonly IndexEntry[], add: readonly IndexEntry[]) {
  if (remove.length === 0 && add.length === 0) return;
  const lines = [
    ...remove.map((e) => `0 ${"0".repeat(e.oid.length)}\t${e.path}\0`),
    ...add.map((e) => `${e.mode} ${e.oid}\t${e.path}\0`),
  ];
  await mustGit(
    repo,
    ["update-index", "-z", "--index-info"],
    "update-index",
    GIT_HINT,
    new TextEncoder().encode(lines.join("")),
  );
  await skipWorktree(repo, add.map((e) => e.path));
}

/** Removes the root's folder `sub` from the index (the commit then drops it). */
async function removeIndexSub(repo: Repo, sub: string): Promise<void> {
  await editIndex(repo, await indexEntries(repo, sub), []);
}

/** Removes `archive/<name>` of the root from the index (the commit then drops it). */
async function removeIndexArchive(repo: Repo, name: string): Promise<void> {
  await removeIndexSub(repo, `${ARCHIVE}/${name}`);
}

/** Renames the root's folder `from` to `to` in the index: the same objects under a new name. */
async function moveInIndex(repo: Repo, from: string, to: string): Promise<void> {
  const entries = await indexEntries(repo, from);
  const at = `${inRoot(repo, from)}/`;
  const dest = `${inRoot(repo, to)}/`;
  await editIndex(repo, entries, entries.map((e) => ({ ...e, path: dest + e.path.slice(at.length) })));
}

/** A manifest text (or its absence) read as {@link readManifestOrWhy} reads a file. */
function manifestOrWhy(text: string | undefined, path: string): { manifest: Manifest } | { why: string } {
  if (text === undefined) return { why: `${path} is missing` };
  try {
    return { manifest: parseManifest(text, path) };
  } catch (e) {
    return { why: e instanceof Error ? e.message : String(e) };
  }
}

/** A backup to put in place in git only: the tree of its files, and its manifest. */
interface TreeBackup {
  tree: string;
  manifest: Manifest;
}

/**
 * {@link installBackup} for a root kept in git only (a checkout without its backups): every step
 * is a change to the index, nothing is written to the work tree. The previous `latest/` becomes
 * `archive/<name>` by renaming its index entries (the same objects: it costs nothing, and nothing
 * is fetched in a blobless clone), and `latest/` becomes the staged backup's tree. Named as for
 * folders (never trusting the previous manifest, which is read from git; its commit's time stands
 * in for a folder's). With `keepNewer`, a newer latest stays and the backup goes to `archive/`.
 */
async function placeInIndex(repo: Repo, staged: TreeBackup, opts: InstallOptions): Promise<InstallResult> {
  const now = opts.now ?? new Date();
  if ((await indexEntries(repo, LATEST)).length === 0) {
    await addIndexTree(repo, LATEST, staged.tree);
    return { placedAt: LATEST };
  }
  const label = inRoot(repo, LATEST);
  const current = manifestOrWhy(
    (await indexTexts(repo, [`${LATEST}/${MANIFEST_NAME}`]))[0],
    `${label}/${MANIFEST_NAME}`,
  );
  const taken = await indexArchiveNames(repo);
  if (opts.keepNewer) {
    const at = "manifest" in current ? new Date(current.manifest.createdAt).getTime() : NaN;
    if (at > new Date(staged.manifest.createdAt).getTime() && at <= now.getTime()) {
      const name = uniqueName(archiveName(staged.manifest), taken);
      await addIndexArchive(repo, name, staged.tree);
      return { placedAt: `${ARCHIVE}/${name}` };
    }
  }
  if (!opts.archive) {
    await removeIndexSub(repo, LATEST);
    await addIndexTree(repo, LATEST, staged.tree);
    return { placedAt: LATEST };
  }
  const committed = await git(repo, ["show", "-s", "--format=%ct", "HEAD"]);
  const when = committed.code === 0 && /^\d+$/.test(committed.stdout)
    ? new Date(Number(committed.stdout) * 1000)
    : now;
  const name = uniqueName(previousNameOf(current, label, when, now, opts.log), taken);
  await moveInIndex(repo, LATEST, `${ARCHIVE}/${name}`);
  await addIndexTree(repo, LATEST, staged.tree);
  return { placedAt: LATEST, archivedPrevious: `${ARCHIVE}/${name}` };
}

/** Where {@link installInGit} put a backup; `keptDir` holds the files of one archived in git only. */
export interface GitInstallResult extends InstallResult {
  /** The folder still holding a backup placed in `archive/` in git only; removed once published. */
  keptDir?: string;
}

/**
 * {@link installBackup} in a sparse checkout: archives are trees in git, never files in the work
 * tree. The previous `latest/` becomes `archive/<name>` as the tree of its files (only blobs git
 * lacks are written; after a checkout, none) put in the index, and is then replaced on disk by the
 * staged backup. A staged backup that goes straight to `archive/` (a newer latest stays) is put in
 * the index the same way; its folder stays until the commit is published ({@link
 * GitInstallResult.keptDir}). Naming is as for folders (never trusting the previous manifest).
 */
async function installInGit(
  repo: Repo,
  root: string,
  stagedDir: string,
  opts: InstallOptions,
): Promise<GitInstallResult> {
  const latestDir = join(root, LATEST);
  const latestInfo = await Deno.lstat(latestDir).catch(() => undefined);
  if (!latestInfo || (!opts.archive && !opts.keepNewer)) return await installBackup(root, stagedDir, opts);
  const read = await readManifestOrWhy(stagedDir);
  if (!("manifest" in read)) {
    throw new BackupError(`no readable manifest in ${stagedDir}`, {
      hint: "the staged backup is incomplete; run the backup again",
    });
  }
  const staged = read.manifest;
  const now = opts.now ?? new Date();
  const taken = await indexArchiveNames(repo);
  if (opts.keepNewer) {
    const current = await readManifestOrWhy(latestDir);
    const at = "manifest" in current ? new Date(current.manifest.createdAt).getTime() : NaN;
    if (at > new Date(staged.createdAt).getTime() && at <= now.getTime()) {
      const name = uniqueName(archiveName(staged), taken);
      await addIndexArchive(repo, name, await treeOfDir(repo, stagedDir));
      return { placedAt: `${ARCHIVE}/${name}`, keptDir: stagedDir };
    }
  }
  if (!opts.archive) return await installBackup(root, stagedDir, { ...opts, keepNewer: false });
  const base = await previousName(latestDir, `${root}/${LATEST}`, latestInfo, now, opts.log);
  const name = uniqueName(base, taken);
  await addIndexArchive(repo, name, await treeOfDir(repo, latestDir));
  // its files are in git's objects and its tree in the index: latest/ can be replaced on disk
  const placed = await installBackup(root, stagedDir, { ...opts, archive: false, keepNewer: false });
  return { ...placed, archivedPrevious: `${ARCHIVE}/${name}` };
}

/** A root of a sparse checkout, for {@link archivesInGit} and {@link removeArchiveInGit}. */
async function sparseRepoOf(root: string, signal = abortSignal): Promise<Repo | undefined> {
  // a checkout without backups may lack the root's folder, or the folders above it
  let here = root;
  while (!(await Deno.stat(here).then((i) => i.isDirectory, () => false)) && dirname(here) !== here) {
    here = dirname(here);
  }
  if (!(await findGitDir(here))) return undefined;
  let repo: Repo;
  try {
    repo = await openRepo(root, undefined, signal, false);
  } catch (e) {
    if (e instanceof BackupError && e.exitCode >= 130) throw e;
    return undefined;
  }
  return repo.sparse ? repo : undefined;
}

/** An archive of a root that is in git only (not in the work tree): its name and manifest text. */
export interface GitArchive {
  name: string;
  /** Its path relative to the work tree's top, e.g. `backups/prod/archive/<name>`. */
  path: string;
  /** manifest.json as the index holds it; undefined when it has none. */
  manifestText?: string;
}

/**
 * The archives of `root` that a sparse checkout keeps in git only: those in the index under
 * `archive/` without a folder on disk, with their manifests read from git (`cat-file --batch`; a
 * partial clone fetches them). Empty when the root is not in a sparse checkout.
 */
export async function archivesInGit(root: string): Promise<GitArchive[]> {
  const repo = await sparseRepoOf(root);
  if (!repo) return [];
  const names: string[] = [];
  for (const n of await indexArchiveNames(repo)) {
    if (!(await Deno.lstat(join(root, ARCHIVE, n)).then(() => true, () => false))) names.push(n);
  }
  if (names.length === 0) return [];
  const texts = await indexTexts(repo, names.map((n) => `${ARCHIVE}/${n}/${MANIFEST_NAME}`));
  return names.map((name, i) => ({
    name,
    path: inRoot(repo, `${ARCHIVE}/${name}`),
    ...(texts[i] !== undefined ? { manifestText: texts[i] } : {}),
  }));
}

/**
 * The root's `latest/` when it is in git only (a checkout without backups: in the index, not on
 * disk), with its manifest read from git; undefined otherwise.
 */
export async function latestInGit(root: string): Promise<GitArchive | undefined> {
  if (await Deno.lstat(join(root, LATEST)).then(() => true, () => false)) return undefined;
  const repo = await sparseRepoOf(root);
  if (!repo || (await indexEntries(repo, LATEST)).length === 0) return undefined;
  const [text] = await indexTexts(repo, [`${LATEST}/${MANIFEST_NAME}`]);
  return { name: LATEST, path: inRoot(repo, LATEST), ...(text !== undefined ? { manifestText: text } : {}) };
}

/**
 * The folders under `out` whose `latest/` a checkout without backups keeps in git only (in the
 * index, not on disk): the environments `list` and `prune` find there. Sorted.
 */
export async function environmentsInGit(out: string): Promise<string[]> {
  const repo = await sparseRepoOf(out);
  if (!repo) return [];
  const prefix = repo.rel === "." ? "" : `${repo.rel}/`;
  const listed = await mustGit(
    repo,
    ["ls-files", "-z", "--", `:(glob)${prefix}*/${LATEST}/${MANIFEST_NAME}`],
    "ls-files",
    GIT_HINT,
  );
  const envs = new Set<string>();
  for (const p of zPaths(listed)) {
    const env = p.slice(prefix.length).split("/")[0];
    if (!(await Deno.lstat(join(out, env, LATEST)).then(() => true, () => false))) envs.add(env);
  }
  return [...envs].sort();
}

/**
 * The texts of files of the root (paths relative to it) as the index holds them, in order, one
 * `cat-file --batch` for all (a partial clone fetches them); undefined for a path the index lacks.
 * The files are UTF-8 text (manifests, maps): decoded, they turn back into the bytes they were.
 */
async function indexTexts(repo: Repo, rels: string[]): Promise<(string | undefined)[]> {
  const query = rels.map((r) => `:${inRoot(repo, r)}\n`).join("");
  const r = await git(repo, ["cat-file", "--batch"], "cat-file", GIT_HINT, new TextEncoder().encode(query));
  if (r.code !== 0) throw gitFailure(r, GIT_HINT);
  // untrimmed (a file's last newline counts), the text turns back into the bytes the sizes count
  const bytes = new TextEncoder().encode(r.rawStdout);
  const out: (string | undefined)[] = [];
  let at = 0;
  const dec = new TextDecoder();
  for (let i = 0; i < rels.length; i++) {
    const nl = bytes.indexOf(10, at);
    if (nl < 0) break;
    const header = dec.decode(bytes.subarray(at, nl));
    at = nl + 1;
    const m = header.match(/^[0-9a-f]+ blob (\d+)$/);
    if (!m) {
      out.push(undefined);
      continue;
    }
    const size = Number(m[1]);
    out.push(dec.decode(bytes.subarray(at, at + size)));
    at += size + 1;
  }
  return out;
}

/**
 * The text of `file` in each archive `names` of `root` that a sparse checkout keeps in git only,
 * as the index holds it (undefined where the archive has no such file). Empty when the root is not
 * in a sparse checkout. Used by the Storage sweep to read the maps of such archives.
 */
export async function archiveFilesInGit(
  root: string,
  names: readonly string[],
  file: string,
): Promise<(string | undefined)[]> {
  const repo = await sparseRepoOf(root);
  if (!repo || names.length === 0) return [];
  return await indexTexts(repo, names.map((n) => `${ARCHIVE}/${n}/${file}`));
}

/**
 * Removes `archive/<name>` of `root` from the index of its sparse checkout (the next commit drops
 * it). Returns false when the root is not in a sparse checkout.
 */
export async function removeArchiveInGit(root: string, name: string): Promise<boolean> {
  const repo = await sparseRepoOf(root);
  if (!repo) return false;
  await removeIndexArchive(repo, name);
  return true;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });

/**
 * Applies `change` to the backup root, commits only the root, and (with `push`) pushes to the
 * current branch's upstream (or `origin <branch>`). When the push is rejected because the remote
 * moved on, it sets the change aside, runs `git fetch` and `git reset --hard <remote>/<branch>`,
 * applies the change again, and retries, up to `retries` times with random jitter.
 * Note: the reset drops local commits that were not pushed.
 * Throws a {@link BackupError} with a hint when the root is not in a git repository, HEAD is
 * detached, the push is refused for permission, or every retry lost the race.
 */
export async function commitAndPush(opts: CommitOptions, change: RootChange): Promise<CommitResult> {
  const signal = opts.signal ?? abortSignal;
  const log = opts.log ?? ((l: string) => console.error(l));
  const retries = opts.retries ?? 5;
  const [jMin, jMax] = opts.jitterMs ?? [200, 1500];
  const repo = await openRepo(opts.root, opts.repoDir, signal);
  repo.identityArgs = await identityArgs(repo, opts.identity ?? DEFAULT_IDENTITY);
  const target = opts.push ? await pushTarget(repo) : undefined;
  if (target) await refuseChangesOutsideRoot(repo);
  repo.gitOnly = await keptInGitOnly(repo, opts.root);
  let index = repo.gitOnly ? await PrivateIndex.begin(repo) : undefined;
  const view = rootRepo(repo);
  try {
    await change.apply(view);
    for (let attempt = 1;; attempt++) {
      const growth: GrowthStep | undefined = opts.growth ? { now: opts.now } : undefined;
      const committed = repo.sparse
        ? await commitIndexRoot(repo, opts.message, growth)
        : await commitRoot(repo, opts.message, growth);
      const commit = (await git(repo, ["rev-parse", "--verify", "--quiet", "HEAD"])).stdout;
      if (committed) {
        // HEAD moved: the index it was made from is the clone's now, whatever the check finds
        await index?.adopt();
        await change.check?.(commit, view);
      }
      const done = {
        commit,
        attempts: attempt,
        committed,
        ...(growth?.record ? { growth: growth.record } : {}),
      };
      if (!target || !committed) return done;

      const pushed = await git(repo, [
        "push",
        "--quiet",
        target.remote,
        `HEAD:refs/heads/${target.remoteBranch}`,
      ]);
      if (pushed.code === 0) return done;
      const kind = classifyPushError(pushed.stderr);
      const local = `the backup is committed locally as ${commit.slice(0, 7)} but not pushed`;
      if (kind === "permission") {
        throw new BackupError(`git push to ${target.remote} was refused: ${lastLines(pushed.stderr)}`, {
          hint: `${local}; give the workflow \`permissions: contents: write\` (or use a token that may push)`,
        });
      }
      if (kind === "protected") {
        throw new BackupError(
          `git push to ${target.remote} ${target.remoteBranch} was refused: ${lastLines(pushed.stderr)}`,
          {
            hint: `${local}; allow the workflow to push to this branch, or back up to an unprotected branch`,
          },
        );
      }
      if (kind !== "race") {
        throw gitFailure(pushed, `${local}; check the network and the remote URL, then push by hand`);
      }
      if (attempt > retries) {
        throw new BackupError(`git push lost the race ${attempt} times; giving up`, {
          hint: `${local}; run again later (or raise the retries)`,
        });
      }
      const wait = Math.round(jMin + Math.random() * (jMax - jMin));
      log(`push rejected (the remote moved on); redoing on the remote head in ${wait} ms`);
      await sleep(wait, signal);
      if (signal.aborted) throw signal.reason ?? new BackupError("interrupted");

      const remoteRef = `refs/remotes/${target.remote}/${target.remoteBranch}`;
      await mustGit(
        repo,
        ["fetch", "--quiet", target.remote, `+refs/heads/${target.remoteBranch}:${remoteRef}`],
        "fetch",
        `${local}; check the network and the remote URL`,
      );
      await refuseToDropWork(repo, remoteRef, local);
      await change.setAside?.(view);
      try {
        await mustGit(
          repo,
          ["reset", "--quiet", "--hard", remoteRef],
          "reset",
          "check the work tree is writable",
        );
      } finally {
        // The change goes back into the work tree either way, so nothing is lost on a failure
        // (in git only: into a new private index, the clone's own now matching the remote head).
        if (repo.gitOnly) index = await PrivateIndex.begin(repo);
        await change.apply(view);
      }
    }
  } finally {
    await index?.drop();
  }
}

/**
 * Before the reset to the remote head after a lost race: nothing outside the root may be
 * uncommitted (it appeared during the run), and the commit the backup was made on must be on the
 * remote (else the reset would drop local commits that were never pushed). Throws otherwise; the
 * backup stays committed locally.
 */
async function refuseToDropWork(repo: Repo, remoteRef: string, local: string): Promise<void> {
  const changed = await changesOutsideRoot(repo);
  if (changed.length) {
    throw new BackupError(
      `git push lost a race, and redoing the backup on the remote head would discard uncommitted changes outside the backup root: ${
        someOf(changed)
      }`,
      { hint: `${local}; ${CLEAN_HINT}` },
    );
  }
  const base = await git(repo, ["rev-parse", "--verify", "--quiet", "HEAD^"]);
  if (base.code !== 0) return; // the backup is the first commit: nothing under it
  const onRemote = await git(repo, ["merge-base", "--is-ancestor", base.stdout, remoteRef]);
  if (onRemote.code === 0) return;
  if (onRemote.code !== 1) throw gitFailure(onRemote, `${local}; ${GIT_HINT}`);
  throw new BackupError(
    `git push lost a race, and redoing the backup on the remote head would drop local commits that were never pushed (up to ${
      base.stdout.slice(0, 7)
    })`,
    {
      hint: `${local}; merge or rebase the local commits onto ${
        remoteRef.replace("refs/remotes/", "")
      } and push them, then run again`,
    },
  );
}

/** Options of {@link publishToGit}. */
export interface PublishOptions extends Omit<CommitOptions, "root"> {
  root: string;
  /** A complete backup (with manifest.json) in a staging directory inside `root`. */
  stagedDir: string;
  /**
   * Complete backups that dead runs left (lib/store/leftover.ts), oldest first: put in place
   * before `stagedDir`, in the same commit (a newer latest stays), and set aside with it on a race.
   */
  recovered?: readonly string[];
  /** The run: set-aside folders are its own, so no other run takes them meanwhile. */
  owner: StagingOwner;
  /** Archive the previous latest (true) or replace it (false). */
  archive: boolean;
  /**
   * Runs after each installation, in the same commit: e.g. pruning the root. It runs again after
   * a push race, on top of the remote head, so its effect is not lost to the reset.
   */
  afterInstall?: () => Promise<void>;
}

/** One backup that publishToGit puts in place: where it is now. */
interface Piece {
  /** Its folder while it is not in the root. */
  from: string;
  /** Where it is in the root (`latest`, `archive/<name>`), while it is. */
  at?: string;
  /** The folder still holding its files while it is `archive/<name>` in git only (sparse). */
  kept?: string;
  /** Deleted by the rotation (a replaced latest with `archive: false`). */
  gone?: boolean;
  /** Set aside in the git directory (its holder). */
  held?: boolean;
  /**
   * In a checkout without backups: its files in git's objects, as one tree, and its manifest. Its
   * folder (`from`) stays as it is until the commit is published, then goes.
   */
  inGit?: TreeBackup;
  recovered: boolean;
}

/**
 * Puts a staged backup in place ({@link installBackup}; in a sparse checkout {@link installInGit},
 * archives then being trees in git only) with any recovered ones, commits the backup root, checks
 * that the commit holds every file of each backup put in place as it is on disk (a
 * `.gitattributes` filter such as Git LFS, or a file git would not add, is caught before anything
 * is pushed), and with `push` pushes it, redoing the rotation on the remote head after a push race
 * (the newest `createdAt` wins `latest/`, the other goes to `archive/`). Returns where the backup
 * went, the commit and the number of attempts. Throws like {@link commitAndPush}; the backup is
 * then still in the work tree.
 */
export async function publishToGit(
  opts: PublishOptions,
): Promise<InstallResult & { commit: string; attempts: number; growth?: GrowthRecord; inGitOnly: boolean }> {
  const pieces: Piece[] = [
    ...(opts.recovered ?? []).map((from) => ({ from, recovered: true })),
    { from: opts.stagedDir, recovered: false },
  ];
  const mine = pieces[pieces.length - 1];
  let result: InstallResult | undefined;
  let raced = false;
  let sparseRepo: Repo | undefined;
  const inPlace = async (p: Piece) => {
    if (!p.at) return false;
    if (p.inGit && sparseRepo) return (await indexEntries(sparseRepo, p.at)).length > 0;
    if (p.kept && sparseRepo) {
      return (await indexArchiveNames(sparseRepo)).includes(p.at.slice(ARCHIVE.length + 1));
    }
    return await Deno.lstat(join(opts.root, p.at)).then(() => true, () => false);
  };
  const done = await commitAndPush(opts, {
    apply: async (view) => {
      sparseRepo = view.sparse
        ? await openRepo(opts.root, opts.repoDir, opts.signal ?? abortSignal)
        : undefined;
      for (const p of pieces) {
        if (p.at || p.gone) continue; // still in place (set aside was not reached), or deleted
        // Recovered backups, and this one after a race: a newer latest stays.
        const install = {
          archive: opts.archive,
          keepNewer: p.recovered || raced,
          owner: opts.owner,
          log: opts.log ?? ((l: string) => console.error(l)),
        };
        if (view.gitOnly && sparseRepo && !p.inGit) p.inGit = await treeBackup(sparseRepo, p.from);
        const placed: GitInstallResult = view.gitOnly && sparseRepo && p.inGit
          ? await placeInIndex(sparseRepo, p.inGit, install)
          : sparseRepo
          ? await installInGit(sparseRepo, opts.root, p.from, install)
          : await installBackup(opts.root, p.from, install);
        if (p.held && !placed.keptDir) await releaseHeld(p.from);
        p.held = p.held && placed.keptDir !== undefined;
        for (const q of pieces) {
          if (q === p || q.at !== LATEST || placed.placedAt !== LATEST) continue;
          q.at = placed.archivedPrevious;
          q.gone = q.at === undefined;
        }
        p.at = placed.placedAt;
        p.kept = placed.keptDir;
        if (p === mine) result = placed;
      }
      await opts.afterInstall?.();
      for (const p of pieces) {
        // pruned by afterInstall
        if (p.at && !(await inPlace(p))) {
          p.at = undefined;
          p.gone = true;
        }
      }
    },
    setAside: async (repo) => {
      raced = true;
      for (const p of pieces) {
        if (!p.at) continue;
        if (p.inGit) {
          // in git's objects: it goes into the index again from there, its folder never moved
        } else if (p.kept) {
          // archived in git only: its folder never left, and goes in again from there
          p.from = p.kept;
          p.kept = undefined;
        } else {
          p.from = await holdAside(repo.gitDir, opts.owner, repo.rel, join(opts.root, p.at));
          p.held = true;
        }
        p.at = undefined;
      }
    },
    check: async (commit, repo) => {
      for (const p of pieces) {
        if (!p.at) continue;
        if (p.inGit) {
          if ((await repo.treeAt(commit, p.at)) === p.inGit.tree) continue;
          throw new BackupError(
            `commit ${commit.slice(0, 7)} does not hold the backup in ${inRoot(repo, p.at)} as written`,
            {
              hint:
                "nothing was pushed; run the backup again, and check that no other git process changes the clone meanwhile",
            },
          );
        }
        const dir = p.kept ?? join(opts.root, p.at);
        const path = join(dir, MANIFEST_NAME);
        const expected = [
          MANIFEST_NAME,
          ...Object.keys(parseManifest(await Deno.readTextFile(path), path).files),
        ];
        const committed = await repo.committedFiles(commit, p.at);
        const disk = await repo.diskObjects(p.at, expected.filter((f) => committed.has(f)), p.kept);
        const problems = commitShortfall(expected, committed, disk);
        if (problems.length === 0) continue;
        const where = `${repo.rel === "." ? "" : `${repo.rel}/`}${p.at}`;
        const pattern = repo.rel === "." ? "**" : `${repo.rel}/**`;
        throw new BackupError(
          `commit ${commit.slice(0, 7)} does not hold the backup in ${where} as written: ${
            someOf(problems, 2)
          }`,
          {
            hint:
              `nothing was pushed; the backup is complete in the work tree. A .gitattributes filter (Git LFS, text/eol, ident) or the index (skip-worktree) changed what git stored: turn it off for the backup root ('${pattern} -filter -text -ident' in .gitattributes) and run again`,
          },
        );
      }
    },
  });
  // published: a backup archived in git only needs its folder no more
  for (const p of pieces) {
    if (p.inGit) await Deno.remove(p.from, { recursive: true }).catch(() => {});
    else if (p.kept) {
      await Deno.remove(p.kept, { recursive: true }).catch(() => {});
      if (p.held) await releaseHeld(p.kept);
    }
  }
  // kept in git only, the root's folders on disk were only for this run's staging
  if (pieces.some((p) => p.inGit)) await Deno.remove(join(opts.root, ARCHIVE)).catch(() => {});
  return {
    ...result!,
    commit: done.commit,
    attempts: done.attempts,
    inGitOnly: pieces.some((p) => p.inGit),
    ...(done.growth ? { growth: done.growth } : {}),
  };
}
