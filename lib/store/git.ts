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
 * credentials masked.
 * @module
 */
import { cp } from "node:fs/promises";
import { join, relative } from "node:path";
import { ensureRoot, installBackup, type InstallResult } from "./rotation.ts";
import { BackupError } from "../base/errors.ts";
import { abortSignal } from "../base/interrupt.ts";
import type { ManifestSource } from "./manifest.ts";
import { redact } from "../base/redact.ts";
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
}

/** A change to the backup root that can be redone on top of another commit. */
export interface RootChange {
  /** Makes the change in the work tree (again after a race). */
  apply(): Promise<void>;
  /** Moves anything that must survive `git reset --hard` out of the work tree. */
  setAside?(): Promise<void>;
}

/** The outcome of {@link commitAndPush}. */
export interface CommitResult {
  /** The commit holding the change (HEAD when nothing changed). */
  commit: string;
  /** Commit/push rounds made (1 without a race). */
  attempts: number;
  /** False when the change left the root as it was (nothing committed). */
  committed: boolean;
}

interface Repo {
  top: string;
  gitDir: string;
  /** The root relative to the work tree (`.` for the top). */
  rel: string;
  signal: AbortSignal;
  identityArgs: string[];
}

interface GitRun {
  code: number;
  stdout: string;
  stderr: string;
  /** How it was run, for {@link gitFailure}. */
  program: Program;
  /** Its stderr as git wrote it (masked in messages by the runner). */
  rawStderr: string;
}

/** The hint of a git step that is not expected to fail. */
const GIT_HINT = "run again; if it keeps failing, check that git works here (git status)";

/** Runs git in the repository; returns its exit code (non-zero is not an error here) and output. */
async function git(
  repo: Pick<Repo, "top" | "signal">,
  args: string[],
  what = args[0],
  hint = GIT_HINT,
): Promise<GitRun> {
  const program: Program = {
    path: "git",
    args: ["-C", repo.top, ...args],
    env: { GIT_TERMINAL_PROMPT: "0", LC_ALL: "C" },
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

async function mustGit(repo: Repo, args: string[], what: string, hint: string): Promise<string> {
  const r = await git(repo, args, what, hint);
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

async function openRepo(root: string, repoDir: string | undefined, signal: AbortSignal): Promise<Repo> {
  await ensureRoot(root);
  const probe = { top: repoDir ?? root, signal };
  const top = await git(probe, ["rev-parse", "--show-toplevel"]);
  if (top.code !== 0) {
    throw new BackupError(`${repoDir ?? root} is not inside a git repository`, {
      hint:
        "clone the backup repository (or run 'git init') and put --out inside it, or drop --commit/--push",
    });
  }
  const repo = { top: top.stdout, signal };
  const gitDir = (await git(repo, ["rev-parse", "--absolute-git-dir"])).stdout;
  const rel = relative(await Deno.realPath(top.stdout), await Deno.realPath(root)) || ".";
  if (rel.startsWith("..")) {
    throw new BackupError(`backup root ${root} is outside the git repository ${top.stdout}`, {
      hint: "point --out at a folder inside the repository",
    });
  }
  return { ...repo, gitDir, rel, identityArgs: [] };
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

/** Stages the root only (never staging dirs), and commits it when it changed. */
async function commitRoot(repo: Repo, message: string): Promise<boolean> {
  const exclude = `:(exclude)${repo.rel === "." ? "" : `${repo.rel}/`}.staging-*`;
  await mustGit(
    repo,
    ["add", "-A", "--", repo.rel, exclude],
    "add",
    "check that the backup root is readable and that no other git process holds the index lock",
  );
  const diff = await git(repo, ["diff", "--cached", "--quiet", "--", repo.rel]);
  if (diff.code === 0) return false;
  await mustGit(
    repo,
    [...repo.identityArgs, "commit", "--quiet", "--no-verify", "-m", redact(message), "--", repo.rel],
    "commit",
    "set user.name/user.email (or --git-name/--git-email) and check the repository is not mid-merge",
  );
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

  await change.apply();
  for (let attempt = 1;; attempt++) {
    const committed = await commitRoot(repo, opts.message);
    const commit = (await git(repo, ["rev-parse", "--verify", "--quiet", "HEAD"])).stdout;
    if (!target || !committed) return { commit, attempts: attempt, committed };

    const pushed = await git(repo, [
      "push",
      "--quiet",
      target.remote,
      `HEAD:refs/heads/${target.remoteBranch}`,
    ]);
    if (pushed.code === 0) return { commit, attempts: attempt, committed };
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

    await change.setAside?.();
    try {
      const remoteRef = `refs/remotes/${target.remote}/${target.remoteBranch}`;
      await mustGit(
        repo,
        ["fetch", "--quiet", target.remote, `+refs/heads/${target.remoteBranch}:${remoteRef}`],
        "fetch",
        "check the network and the remote URL",
      );
      await mustGit(
        repo,
        ["reset", "--quiet", "--hard", remoteRef],
        "reset",
        "check the work tree is writable",
      );
    } finally {
      // The change goes back into the work tree either way, so nothing is lost on a failure.
      await change.apply();
    }
  }
}

/** Options of {@link publishToGit}. */
export interface PublishOptions extends Omit<CommitOptions, "root"> {
  root: string;
  /** A complete backup (with manifest.json) in a staging directory inside `root`. */
  stagedDir: string;
  /** Archive the previous latest (true) or replace it (false). */
  archive: boolean;
  /**
   * Runs after each installation, in the same commit: e.g. pruning the root. It runs again after
   * a push race, on top of the remote head, so its effect is not lost to the reset.
   */
  afterInstall?: () => Promise<void>;
}

async function moveDir(from: string, to: string): Promise<void> {
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
 * Puts a staged backup in place ({@link installBackup}), commits the backup root, and with
 * `push` pushes it, redoing the rotation on the remote head after a push race (the newest
 * `createdAt` wins `latest/`, the other goes to `archive/`). Returns where the backup went, the
 * commit and the number of attempts. Throws like {@link commitAndPush}; the backup is then still
 * in the work tree.
 */
export async function publishToGit(
  opts: PublishOptions,
): Promise<InstallResult & { commit: string; attempts: number }> {
  let source = opts.stagedDir;
  let placed: InstallResult | undefined;
  let aside: string | undefined;
  const result = await commitAndPush(opts, {
    apply: async () => {
      if (placed && !aside) return; // still in place (set aside was not reached)
      // After a race (placed already once), a newer latest on the remote head stays.
      placed = await installBackup(opts.root, source, {
        archive: opts.archive,
        keepNewer: placed !== undefined,
        log: opts.log ?? ((l: string) => console.error(l)),
      });
      aside = undefined;
      await opts.afterInstall?.();
    },
    setAside: async () => {
      if (!placed) return;
      const gitDir = (await git({ top: opts.root, signal: opts.signal ?? abortSignal }, [
        "rev-parse",
        "--absolute-git-dir",
      ])).stdout;
      const holder = join(gitDir, "supabase-backup");
      await Deno.mkdir(holder, { recursive: true, mode: 0o700 });
      const to = join(holder, `race-${crypto.randomUUID().slice(0, 8)}`);
      await moveDir(join(opts.root, placed.placedAt), to);
      source = to;
      aside = to;
    },
  });
  return { ...placed!, commit: result.commit, attempts: result.attempts };
}
