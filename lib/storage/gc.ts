/**
 * Garbage collection of a root's blob store: after archives are removed (prune, or `--no-archive`
 * replacing latest/), blobs that neither `latest/` nor any archive refers to are deleted. When any
 * backup's manifest or map cannot be read, nothing is deleted: a blob is never removed while a
 * backup might still need it.
 * @module
 */
import { join } from "node:path";
import { LATEST } from "../store/rotation.ts";
import { readArchives } from "../store/listing.ts";
import { MANIFEST_NAME, parseManifest } from "../store/manifest.ts";
import { readMap } from "./map.ts";
import { blobFiles, collectGarbage, storeDir } from "./blobs.ts";
import { type PruneDecision, pruneRoot } from "../store/prune.ts";
import type { RetentionPolicy } from "../store/retention.ts";
import { stderrLine } from "../base/output.ts";

/** How long a blob nobody refers to is kept, for a run that has placed it but not yet installed its backup. */
export const GC_GRACE_MS = 60 * 60 * 1000;

/** What a sweep did: blob files and bytes removed, or why it removed nothing. */
export interface Sweep {
  files: number;
  bytes: number;
  skipped?: string;
}

/**
 * Removes the blobs of `root` that no backup of it refers to (see the module doc). A root
 * without a blob store is left alone.
 */
export async function sweepBlobs(root: string, now = new Date()): Promise<Sweep> {
  try {
    await Deno.stat(storeDir(root));
  } catch {
    return { files: 0, bytes: 0 };
  }
  const dirs: string[] = [];
  try {
    if ((await Deno.stat(join(root, LATEST))).isDirectory) dirs.push(join(root, LATEST));
  } catch {
    // no latest
  }
  for (const a of await readArchives(root)) dirs.push(a.dir);
  const referenced = new Set<string>();
  for (const dir of dirs) {
    try {
      const m = parseManifest(await Deno.readTextFile(join(dir, MANIFEST_NAME)), join(dir, MANIFEST_NAME));
      const map = await readMap(dir, m);
      for (const o of map?.objects ?? []) for (const f of blobFiles(o)) referenced.add(f);
    } catch (e) {
      return {
        files: 0,
        bytes: 0,
        skipped: `${dir} cannot be read (${(e as Error).message.split("\n")[0]})`,
      };
    }
  }
  return await collectGarbage(root, referenced, { now, graceMs: GC_GRACE_MS });
}

/**
 * {@link pruneRoot}, then (unless a dry run, and when archives went) {@link sweepBlobs}: the
 * Storage files only the removed archives referred to go too. A sweep that cannot read every
 * backup removes nothing and says why on `warn`.
 */
export async function pruneAndSweep(
  root: string,
  policy: RetentionPolicy,
  opts: { dryRun: boolean; now: Date; warn?: (line: string) => void },
): Promise<PruneDecision[]> {
  const decisions = await pruneRoot(root, policy, opts);
  if (!opts.dryRun && decisions.some((d) => !d.keep)) {
    const swept = await sweepBlobs(root, opts.now);
    if (swept.skipped) {
      (opts.warn ?? stderrLine)(`warning: unreferenced Storage files were kept: ${swept.skipped}`);
    }
  }
  return decisions;
}
