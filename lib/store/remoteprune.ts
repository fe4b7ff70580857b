/**
 * `prune --store`: the retention policy over a store's backups (the latest is never pruned, as
 * `latest/` of a folder), their manifests removed, then the blobs no remaining backup references,
 * under a prune lock (lib/store/remotelock.ts): with a backup running, blobs are left for the next
 * prune, since that backup may be about to reference them. Locks of dead runs are removed.
 * @module
 */
import { runPool } from "../base/pool.ts";
import type { Manifest } from "./manifest.ts";
import type { ObjectStore } from "./object.ts";
import { BLOBS, unreferencedBlobs } from "./remotelayout.ts";
import { listLocks, writeLock } from "./remotelock.ts";
import { listBackups, readStoredManifest } from "./remoteread.ts";
import { applyPolicy, type RetentionDecision, type RetentionPolicy } from "./retention.ts";

/** What a store prune decided and did. */
export interface StorePruneResult {
  decisions: RetentionDecision[];
  /** Blobs removed (or that would be, with `dryRun`) and their bytes. */
  blobs: { removed: number; bytes: number };
  /** Why blobs were left alone, when they were (a backup running, an unreadable manifest). */
  blobsSkipped?: string;
}

/**
 * Prunes `store` by `policy` at time `now` (see the module doc). With `dryRun` nothing is written
 * or removed: the decisions and the blobs that would go are reported. `references` gives the blob
 * keys a kept manifest needs besides its files (the Storage files its map names); when it throws
 * for one, no blob is removed. Throws a usage error for an empty policy, a {@link BackupError} when
 * the store fails.
 */
export async function pruneStore(
  store: ObjectStore,
  policy: RetentionPolicy,
  o: {
    dryRun: boolean;
    now: Date;
    jobs: number;
    log: (l: string) => void;
    references?: (m: Manifest) => Promise<string[]>;
  },
): Promise<StorePruneResult> {
  const all = await listBackups(store);
  const manifests = new Map<string, Manifest>();
  let unreadable = 0;
  for (const b of all) {
    try {
      manifests.set(b.key, (await readStoredManifest(store, b.key)).manifest);
    } catch {
      unreadable++;
    }
  }
  const older = all.slice(0, -1);
  const decisions = older.length === 0 ? [] : applyPolicy(
    older.map((b) => ({ name: b.name, createdAt: new Date(manifests.get(b.key)?.createdAt ?? NaN) })),
    policy,
    o.now,
  );
  const doomed = new Set(decisions.filter((d) => !d.keep).map((d) => d.name));
  if (!o.dryRun) {
    for (const b of older) if (doomed.has(b.name)) await store.delete(b.key);
  }
  const result: StorePruneResult = { decisions, blobs: { removed: 0, bytes: 0 } };
  const lock = o.dryRun ? undefined : await writeLock(store, "prune");
  try {
    if (lock) {
      const { live, stale } = await listLocks(store, lock.writtenAt, lock.key);
      for (const key of stale) await store.delete(key);
      const backup = live.find((l) => l.kind === "backup");
      if (backup) {
        result.blobsSkipped = `a backup is running (${backup.key}); its blobs may not be listed yet`;
        return result;
      }
    }
    // after the lock: every backup that completes from now on waited for this prune or is listed here
    const kept: Manifest[] = [];
    const also = new Set<string>();
    unreadable = 0;
    for (const b of await listBackups(store)) {
      if (o.dryRun && doomed.has(b.name)) continue;
      const m = manifests.get(b.key) ?? await readStoredManifest(store, b.key).then((r) => r.manifest).catch(
        () => undefined,
      );
      const refs = m && o.references ? await o.references(m).catch(() => undefined) : [];
      if (m && refs) {
        kept.push(m);
        for (const k of refs) also.add(k);
      } else unreadable++;
    }
    if (unreadable > 0) {
      result.blobsSkipped =
        `${unreadable} manifest(s) or Storage map(s) cannot be read; no blob is removed while one might need it`;
      return result;
    }
    const blobs: { key: string; size: number }[] = [];
    for await (const b of store.list(BLOBS)) blobs.push({ key: b.key, size: b.size });
    const sizes = new Map(blobs.map((b) => [b.key, b.size]));
    const gone = unreferencedBlobs(blobs.map((b) => b.key), kept, 0).filter((k) => !also.has(k));
    result.blobs = { removed: gone.length, bytes: gone.reduce((n, k) => n + (sizes.get(k) ?? 0), 0) };
    if (!o.dryRun) await runPool(gone.map((k) => () => store.delete(k)), o.jobs);
    return result;
  } finally {
    await lock?.release();
  }
}

/** The text lines of a store prune's blob step. Pure. */
export function formatBlobStep(r: StorePruneResult, dryRun: boolean): string {
  if (r.blobsSkipped) return `blobs: none removed: ${r.blobsSkipped}; run prune again later`;
  return `blobs: ${
    dryRun ? "would remove" : "removed"
  } ${r.blobs.removed} unreferenced blob(s), ${r.blobs.bytes} bytes`;
}
