/**
 * The `prune` command: apply a retention policy to a root's archives, print keep/remove with the
 * reasons, and remove the rest (unless `--dry-run`); with `--commit`/`--push`, commit the removal
 * and push it, redoing the prune on the remote head after a push race. `latest/` is never touched.
 * @module
 */
import { join } from "node:path";
import { STAGING_PREFIX } from "../lib/store/rotation.ts";
import { boolValue, type ParsedArgs, stringValue } from "../lib/cli/flags.ts";
import { BackupError, ExitCode, usageError } from "../lib/base/errors.ts";
import { commitAndPush } from "../lib/store/git.ts";
import { findEnvironments, readArchives } from "../lib/store/listing.ts";
import {
  applyPolicy,
  decisionsJson,
  describePolicy,
  formatDecisions,
  parsePolicy,
  POLICY_FLAGS,
  type RetentionDecision,
  type RetentionPolicy,
} from "../lib/store/retention.ts";
import { rootsFromArgs } from "./list.ts";

/** A prune decision with the archive's directory. */
export interface PruneDecision extends RetentionDecision {
  path: string;
}

/**
 * Applies `policy` to the archives of `root` at time `now` and, unless `dryRun`, removes the
 * archives it does not keep (each is first renamed to a staging name, so a half-removed archive
 * never remains under archive/). Returns every decision, newest first. Never touches `latest/`.
 * Throws a usage error for an empty policy, and a {@link BackupError} when a removal fails.
 */
export async function pruneRoot(
  root: string,
  policy: RetentionPolicy,
  opts: { dryRun: boolean; now: Date },
): Promise<PruneDecision[]> {
  const archives = await readArchives(root);
  const byName = new Map(archives.map((a) => [a.name, a.dir]));
  const decisions = applyPolicy(
    archives.map((a) => ({ name: a.name, createdAt: a.createdAt })),
    policy,
    opts.now,
  )
    .map((d) => ({ ...d, path: byName.get(d.name)! }));
  if (opts.dryRun) return decisions;
  for (const d of decisions) {
    if (d.keep) continue;
    const doomed = join(root, `${STAGING_PREFIX}prune-${crypto.randomUUID().slice(0, 8)}`);
    try {
      await Deno.rename(d.path, doomed);
      await Deno.remove(doomed, { recursive: true });
    } catch (e) {
      throw new BackupError(
        `cannot remove archive ${d.path}: ${(e as Error).message.split(" (os error")[0]}`,
        {
          hint: "check that the backup root is writable; archives removed so far stay removed",
          cause: e,
        },
      );
    }
  }
  return decisions;
}

async function hasDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/** Runs `backup.ts prune`; returns the exit code. */
export async function run(args: ParsedArgs): Promise<number> {
  const policy = parsePolicy(args);
  if (!policy) throw usageError("prune needs a policy", `give at least one of ${POLICY_FLAGS}`);
  const dryRun = boolValue(args, "dry-run");
  const json = boolValue(args, "json");
  const push = boolValue(args, "push");
  const commit = (boolValue(args, "commit") || push) && !dryRun;
  const identity = {
    name: stringValue(args, "git-name"),
    email: stringValue(args, "git-email"),
  };
  const { out, roots } = rootsFromArgs(args);
  if (roots.length === 1 && !roots[0].env && !(await hasDir(join(out, "archive")))) {
    const envs = await findEnvironments(out);
    if (envs.length > 0) {
      throw usageError(
        `${out} holds environments (${envs.join(", ")}), not archives`,
        `prune one with --env ${envs[0]}${envs.length > 1 ? " (or --env both for prod and dev)" : ""}`,
      );
    }
  }
  const now = new Date();
  const results: Record<string, unknown>[] = [];
  const texts: string[] = [];
  for (const { root, env } of roots) {
    let decisions: PruneDecision[] = [];
    let note = "";
    if (commit) {
      const r = await commitAndPush({
        root,
        message: `prune${env ? `(${env})` : ""}: ${describePolicy(policy)}`,
        push,
        identity,
      }, {
        apply: async () => {
          decisions = await pruneRoot(root, policy, { dryRun: false, now });
        },
      });
      note = r.committed
        ? `committed ${r.commit.slice(0, 7)}${push ? ` and pushed (${r.attempts} attempt(s))` : ""}`
        : "nothing to commit";
    } else {
      decisions = await pruneRoot(root, policy, { dryRun, now });
    }
    results.push({ ...decisionsJson(root, policy, decisions, dryRun), ...(note ? { git: note } : {}) });
    texts.push(formatDecisions(root, policy, decisions, dryRun) + (note ? `\n${note}` : ""));
  }
  console.log(json ? JSON.stringify({ roots: results }, null, 2) : texts.join("\n\n"));
  return ExitCode.ok;
}
