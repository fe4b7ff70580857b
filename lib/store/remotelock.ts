/**
 * Locks in an object store, so that `prune --store` never deletes a blob a running backup is
 * about to reference (restic's scheme, without conditional writes). A backup writes
 * `locks/backup-<id>.json`, then lists the locks: while a live prune lock is there it waits. A
 * prune writes `locks/prune-<id>.json`, then lists: with a live backup lock it deletes no blob.
 * Whichever writes second sees the other (stores read their own writes and lists at once: AWS S3,
 * R2, B2, Supabase Storage), so a blob is never deleted under a backup. A live run rewrites its
 * lock every {@link LOCK_REFRESH_MS}; one older than {@link LOCK_STALE_MS} (by the store's clock)
 * belongs to a dead run and is ignored, and removed by prune.
 * @module
 */
import { BackupError } from "../base/errors.ts";
import { abortSignal } from "../base/interrupt.ts";
import type { ObjectStore } from "./object.ts";
import { LOCK_REFRESH_MS, LOCKS, lockStale, parseLockKey } from "./remotelayout.ts";

/** A lock held by this run. */
export interface HeldLock {
  key: string;
  /** The store's time when the lock was written (its LastModified), or the local time. */
  writtenAt: Date;
  /** Stops refreshing and removes the lock. Idempotent; errors are ignored (a stale lock expires). */
  release(): Promise<void>;
}

const randomId = () =>
  Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, "0")).join("");

/** The other runs' live locks of `kind`, and the stale ones (any kind), seen at the store's time `now`. */
export async function listLocks(
  store: ObjectStore,
  now: Date,
  except: string,
): Promise<{ live: { key: string; kind: "backup" | "prune" }[]; stale: string[] }> {
  const live: { key: string; kind: "backup" | "prune" }[] = [];
  const stale: string[] = [];
  for await (const o of store.list(LOCKS)) {
    const l = parseLockKey(o.key);
    if (!l || o.key === except) continue;
    if (lockStale(o.lastModified, now)) stale.push(o.key);
    else live.push({ key: o.key, kind: l.kind });
  }
  return { live, stale };
}

/** Writes a lock of `kind` and keeps it fresh until released. Throws when the store refuses it. */
export async function writeLock(store: ObjectStore, kind: "backup" | "prune"): Promise<HeldLock> {
  const key = `${LOCKS}${kind}-${randomId()}.json`;
  const body = () => ({
    bytes: new TextEncoder().encode(
      JSON.stringify({ kind, host: Deno.hostname(), pid: Deno.pid, at: new Date().toISOString() }) + "\n",
    ),
  });
  await store.put(key, body(), { contentType: "application/json" });
  const info = await store.head(key);
  const writtenAt = info?.lastModified ?? (await lastModifiedOf(store, key)) ?? new Date();
  const timer = setInterval(() => {
    store.put(key, body(), { contentType: "application/json" }).catch(() => {});
  }, LOCK_REFRESH_MS);
  Deno.unrefTimer(timer);
  let released = false;
  return {
    key,
    writtenAt,
    release: async () => {
      if (released) return;
      released = true;
      clearInterval(timer);
      await store.delete(key).catch(() => {});
    },
  };
}

/** The LastModified of one key, from a listing (HEAD does not carry it in the contract). */
async function lastModifiedOf(store: ObjectStore, key: string): Promise<Date | undefined> {
  for await (const o of store.list(key)) if (o.key === key) return o.lastModified;
  return undefined;
}

/**
 * Takes a backup lock: writes it, then waits while another run's live prune lock is there
 * (polling every `pollMs`, at most `waitMs`). Throws a {@link BackupError} when the prune does not
 * end in time; the lock is then released.
 */
export async function takeBackupLock(
  store: ObjectStore,
  o: { log: (l: string) => void; pollMs?: number; waitMs?: number },
): Promise<HeldLock> {
  const lock = await writeLock(store, "backup");
  const started = Date.now();
  let told = false;
  try {
    for (;;) {
      const now = (await lastModifiedOf(store, lock.key)) ?? lock.writtenAt;
      const { live } = await listLocks(store, now, lock.key);
      const prune = live.find((l) => l.kind === "prune");
      if (!prune) return lock;
      if (!told) o.log(`a prune is deleting blobs in ${store.display} (${prune.key}); waiting for it to end`);
      told = true;
      if (Date.now() - started > (o.waitMs ?? 15 * 60_000)) {
        throw new BackupError(`a prune in ${store.display} did not end within 15 minutes (${prune.key})`, {
          hint: "run the backup again when the prune has ended; a lock older than 30 minutes is ignored",
        });
      }
      if (abortSignal.aborted) throw abortSignal.reason;
      await new Promise((r) => setTimeout(r, o.pollMs ?? 2000));
    }
  } catch (e) {
    await lock.release();
    throw e;
  }
}
