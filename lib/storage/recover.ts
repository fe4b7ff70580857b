/**
 * Storage files of backups that dead runs left (lib/store/leftover.ts). A complete backup a dead
 * run left is checked against its manifest when the next run takes it over; its Storage map names
 * blobs that are not files of the backup folder: the dead run may have died before it linked its
 * downloads from its holder folder into the store. {@link checkRecoveredBlobs} makes sure each
 * such blob is in the store before the backup is put in place, taking it from the dead run's
 * holder (hashed against its name first), and drops a backup whose blobs are missing or damaged.
 * @module
 */
import { join } from "node:path";
import type { Claimed } from "../store/leftover.ts";
import type { Manifest } from "../store/manifest.ts";
import { LATEST } from "../store/rotation.ts";
import { readMap } from "./map.ts";
import { blobOf, readIndex } from "./seal.ts";
import { blobPresent, type BlobRef, placeCheckedBlob, storeDir } from "./blobs.ts";

/** The first file of a backup's map whose blob is in neither the store nor a holder, or why the map is unusable. */
async function ensureBlobs(
  root: string,
  dir: string,
  m: Manifest,
  holders: readonly string[],
  done: Set<string>,
): Promise<string | undefined> {
  let blobs: { blob: BlobRef; what: string }[];
  try {
    // without the identity: an encrypted backup's blobs are named by its blob index
    const ix = await readIndex(dir, m);
    blobs = ix
      ? ix.objects.map((e) => ({ blob: blobOf(e), what: `an encrypted file (blob ${e.stored.sha256})` }))
      : ((await readMap(dir, m))?.objects ?? []).map((o) => ({
        blob: blobOf(o),
        what: `the file ${o.bucket}/${o.name}`,
      }));
  } catch (e) {
    return `its Storage map cannot be read (${(e as Error).message.split("\n")[0]})`;
  }
  const store = storeDir(root);
  for (const { blob: b, what } of blobs) {
    const key = `${b.sha256}.${b.parts ?? 1}`;
    if (done.has(key)) continue;
    let ok = await blobPresent(store, b);
    for (const h of holders) {
      if (ok) break;
      ok = await placeCheckedBlob(h, root, b);
    }
    if (!ok) {
      return `${what} is in neither the store nor the interrupted run's downloads`;
    }
    done.add(key);
  }
  return undefined;
}

/**
 * Before recovered backups are put in place (lib/store/leftover.ts `installRecovered`, or the git
 * publisher): for each one with Storage files, every blob its map names is in the store, or is
 * taken from a dead run's holder among `claimed.garbage` after its bytes hash to its name; a
 * backup for which that fails is moved to the garbage instead, with a warning on `log`. A previous
 * latest put back (`claimed.restored`) is only checked, with a warning when a blob is missing
 * (`verify` names it). Holders stay garbage: they are removed after the run succeeds.
 */
export async function checkRecoveredBlobs(
  root: string,
  claimed: Claimed,
  log: (line: string) => void,
): Promise<void> {
  const holders: string[] = [];
  for (const g of claimed.garbage) {
    if (await Deno.lstat(g).then((i) => i.isDirectory, () => false)) holders.push(g);
  }
  const done = new Set<string>();
  const kept: Claimed["recovered"] = [];
  for (const r of claimed.recovered) {
    const why = r.manifest.storage ? await ensureBlobs(root, r.dir, r.manifest, holders, done) : undefined;
    if (why === undefined) {
      kept.push(r);
      continue;
    }
    claimed.garbage.push(r.dir);
    log(
      `warning: a backup left by an interrupted run (created ${r.manifest.createdAt}) is not put back: ${why}`,
    );
  }
  claimed.recovered = kept;
  if (claimed.restored?.storage) {
    const why = await ensureBlobs(root, join(root, LATEST), claimed.restored, holders, done);
    if (why) log(`warning: the recovered ${join(root, LATEST)}: ${why}; run 'backup.ts verify'`);
  }
}
