/**
 * Prune: remove the archives of a backup root that a retention policy does not keep. The decisions
 * come from retention.ts (pure); this module only renames and removes directories. `latest/` is
 * never touched.
 * @module
 */
import { StagingOwner } from "./staging.ts";
import { BackupError } from "../base/errors.ts";
import { readArchives } from "./listing.ts";
import { removeArchiveInGit } from "./git.ts";
import { applyPolicy, type RetentionDecision, type RetentionPolicy } from "./retention.ts";

/** A prune decision with the archive's directory. */
export interface PruneDecision extends RetentionDecision {
  path: string;
}

/**
 * Applies `policy` to the archives of `root` at time `now` and, unless `dryRun`, removes the
 * archives it does not keep (one a sparse checkout keeps in git only leaves the index, and the
 * next commit drops it) (each is first renamed to a staging folder of `opts.owner`, or of an
 * owner taken for the removals, so a half-removed archive never remains under archive/ and no
 * other run takes the folder meanwhile). Returns every decision, newest first. Never touches
 * `latest/`.
 * Throws a usage error for an empty policy, and a {@link BackupError} when a removal fails.
 */
export async function pruneRoot(
  root: string,
  policy: RetentionPolicy,
  opts: { dryRun: boolean; now: Date; owner?: StagingOwner },
): Promise<PruneDecision[]> {
  const archives = await readArchives(root, { git: true });
  const inGit = new Set(archives.filter((a) => a.inGit).map((a) => a.name));
  const byName = new Map(archives.map((a) => [a.name, a.dir]));
  const decisions = applyPolicy(
    archives.map((a) => ({ name: a.name, createdAt: a.createdAt })),
    policy,
    opts.now,
  )
    .map((d) => ({ ...d, path: byName.get(d.name)! }));
  if (opts.dryRun || decisions.every((d) => d.keep)) return decisions;
  const owner = opts.owner ?? await StagingOwner.open(root);
  try {
    for (const d of decisions) {
      if (d.keep) continue;
      if (inGit.has(d.name)) {
        await removeArchiveInGit(root, d.name);
        continue;
      }
      const doomed = owner.path("trash");
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
  } finally {
    if (!opts.owner) owner.releaseSync();
  }
  return decisions;
}
