/**
 * The `prune` command: apply a retention policy to a root's archives, print keep/remove with the
 * reasons, and remove the rest (unless `--dry-run`); with `--commit`/`--push`, commit the removal
 * and push it, redoing the prune on the remote head after a push race. Storage files only removed
 * archives referred to go too (lib/storage/gc.ts). `latest/` is never touched.
 * @module
 */
import { join } from "node:path";
import { boolValue, intValue, type ParsedArgs } from "../lib/cli/flags.ts";
import { gitIdentity, policyFromArgs, rootsFromArgs, storeFromArgs } from "../lib/cli/args.ts";
import { formatBlobStep, pruneStore } from "../lib/store/remoteprune.ts";
import { ExitCode, usageError } from "../lib/base/errors.ts";
import { stderrLine, stdoutText } from "../lib/base/output.ts";
import { commitAndPush } from "../lib/store/git.ts";
import { findEnvironments } from "../lib/store/listing.ts";
import { decisionsJson, describePolicy, formatDecisions, POLICY_FLAGS } from "../lib/store/retention.ts";
import type { PruneDecision } from "../lib/store/prune.ts";
import { pruneAndSweep } from "../lib/storage/gc.ts";
import { storageBlobRefs } from "../lib/storage/remote.ts";

async function hasDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/** Runs `backup.ts prune`; returns the exit code. */
export async function run(args: ParsedArgs): Promise<number> {
  const policy = policyFromArgs(args);
  if (!policy) throw usageError("prune needs a policy", `give at least one of ${POLICY_FLAGS}`);
  const dryRun = boolValue(args, "dry-run");
  const json = boolValue(args, "json");
  const push = boolValue(args, "push");
  const commit = (boolValue(args, "commit") || push) && !dryRun;
  const identity = gitIdentity(args);
  const store = await storeFromArgs(args, Deno.env.toObject());
  if (store) {
    if (commit) {
      throw usageError(
        "--commit and --push have no meaning with --store",
        "drop them: the store is changed directly",
      );
    }
    const r = await pruneStore(store, policy, {
      dryRun,
      now: new Date(),
      jobs: intValue(args, "jobs"),
      log: stderrLine,
      references: storageBlobRefs(store), // the Storage files kept backups' maps name
    });
    stdoutText(
      json
        ? JSON.stringify(
          {
            roots: [{
              ...decisionsJson(store.display, policy, r.decisions, dryRun),
              blobs: r.blobs,
              ...(r.blobsSkipped ? { blobsSkipped: r.blobsSkipped } : {}),
            }],
          },
          null,
          2,
        )
        : `${formatDecisions(store.display, policy, r.decisions, dryRun)}\n${formatBlobStep(r, dryRun)}`,
    );
    return ExitCode.ok;
  }
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
        log: stderrLine,
      }, {
        apply: async () => {
          decisions = await pruneAndSweep(root, policy, { dryRun: false, now });
        },
      });
      note = r.committed
        ? `committed ${r.commit.slice(0, 7)}${push ? ` and pushed (${r.attempts} attempt(s))` : ""}`
        : "nothing to commit";
    } else {
      decisions = await pruneAndSweep(root, policy, { dryRun, now });
    }
    results.push({ ...decisionsJson(root, policy, decisions, dryRun), ...(note ? { git: note } : {}) });
    texts.push(formatDecisions(root, policy, decisions, dryRun) + (note ? `\n${note}` : ""));
  }
  stdoutText(json ? JSON.stringify({ roots: results }, null, 2) : texts.join("\n\n"));
  return ExitCode.ok;
}
