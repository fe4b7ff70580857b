/**
 * Publishing a staged backup to an object store (`backup --store`): the backup is written and
 * checked in a local staging folder as for `--out`, then its files are uploaded as
 * content-addressed blobs (a blob already in the store is not sent again), several at a time with
 * retries, and its manifest last, in one PUT, under a name no other run uses. Until that PUT the
 * backup does not exist for `list`, `verify`, `restore` or `prune`; a run killed before it leaves
 * only blobs, which the next backup reuses and `prune` removes. Layout: lib/store/remotelayout.ts.
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { runPool } from "../base/pool.ts";
import { throwIfInterrupted } from "../base/interrupt.ts";
import { type Manifest, serializeManifest } from "./manifest.ts";
import type { ObjectStore } from "./object.ts";
import {
  blobKey,
  BLOBS,
  dumpTimeRange,
  manifestKey,
  reuseUnchanged,
  storedManifestText,
  storedOf,
  type StoreIndex,
} from "./remotelayout.ts";
import { type HeldLock, takeBackupLock } from "./remotelock.ts";
import { latestBackup, unreadableWarning } from "./remoteread.ts";
import { BUFFER } from "./sink.ts";

/** What {@link publishBackup} did. */
export interface PublishResult {
  /** The manifest's key, `backups/<name>.json`. */
  key: string;
  /** The backup's name. */
  name: string;
  /** The manifest as published (reused entries taken from the previous backup). */
  manifest: Manifest;
  uploaded: { files: number; bytes: number };
  /** Files whose blob was already in the store. */
  present: { files: number; bytes: number };
}

/**
 * The SHA-256 of each schema dump's plaintext in `dir`, by schema name, with pg_dump's creation time
 * zeroed (see {@link dumpTimeRange}): equal for two dumps of an unchanged schema. A dump split in
 * parts is hashed as its parts in order (the time is in the first). Read before the files are
 * encoded.
 */
export async function dumpHashes(dir: string, m: Manifest): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const buf = new Uint8Array(BUFFER);
  for (const s of m.schemas) {
    const hash = createHash("sha256");
    let first = true;
    for (const rel of s.dumpParts ?? [s.dump]) {
      const f = await Deno.open(join(dir, rel), { read: true });
      try {
        for (;;) {
          const n = await f.read(buf);
          if (n === null) break;
          const chunk = buf.subarray(0, n);
          if (first) {
            const r = dumpTimeRange(chunk);
            if (r) chunk.fill(0, r[0], r[1]);
            first = false;
          }
          hash.update(chunk);
        }
      } finally {
        f.close();
      }
    }
    out[s.name] = hash.digest("hex");
  }
  return out;
}

/** The SHA-256 of a sorted recipient list (undefined: not encrypted). Pure. */
export function recipientsId(recipients: readonly string[]): string | undefined {
  if (recipients.length === 0) return undefined;
  return createHash("sha256").update([...recipients].sort().join("\n")).digest("hex");
}

const randomSuffix = () =>
  Array.from(crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, "0")).join("");

/**
 * Uploads the staged backup in `dir` (its files in stored form, checked against `m`) to `store`,
 * under a backup lock (lib/store/remotelock.ts): `lock`, when the run took it already (a backup
 * with Storage files holds it from before it looks at the store's blobs), else one of its own,
 * released at the end. Unchanged files are taken from the newest backup whose manifest reads
 * (`previous`, when the run read it already): a newer one that does not read is logged as a
 * warning naming it, never a silent full upload. Throws on the first upload that fails after its retries;
 * the manifest is then not written and the store's backups are as they were.
 */
export async function publishBackup(
  store: ObjectStore,
  dir: string,
  m: Manifest,
  o: {
    index: StoreIndex;
    jobs: number;
    log: (l: string) => void;
    lock?: HeldLock;
    previous?: Awaited<ReturnType<typeof latestBackup>>;
  },
): Promise<PublishResult> {
  const lock = o.lock ?? await takeBackupLock(store, { log: o.log });
  try {
    const present = new Set<string>();
    for await (const b of store.list(BLOBS)) present.add(b.key);
    const read = o.previous ?? await latestBackup(store);
    const warning = unreadableWarning(store.display, read);
    if (warning) o.log(`warning: ${warning}`);
    const { manifest } = reuseUnchanged(m, o.index, read.latest, present);
    const uploads = new Map<string, { rel: string; bytes: number; sha256: string }>();
    const result: PublishResult = {
      key: manifestKey(manifest, randomSuffix()),
      name: "",
      manifest,
      uploaded: { files: 0, bytes: 0 },
      present: { files: 0, bytes: 0 },
    };
    for (const [rel, f] of Object.entries(manifest.files)) {
      const s = storedOf(f);
      const key = blobKey(s.sha256);
      if (present.has(key) || uploads.has(key)) {
        result.present.files++;
        result.present.bytes += s.bytes;
      } else uploads.set(key, { rel, ...s });
    }
    await runPool(
      [...uploads].map(([key, u]) => async () => {
        throwIfInterrupted();
        await store.put(key, { path: join(dir, u.rel), size: u.bytes }, {
          sha256: u.sha256,
          contentType: "application/octet-stream",
        });
        result.uploaded.files++;
        result.uploaded.bytes += u.bytes;
      }),
      o.jobs,
    );
    throwIfInterrupted();
    const text = storedManifestText(serializeManifest(manifest), o.index);
    await store.put(result.key, { bytes: new TextEncoder().encode(text) }, {
      contentType: "application/json",
    });
    result.name = result.key.slice("backups/".length, -".json".length);
    return result;
  } finally {
    if (!o.lock) await lock.release();
  }
}
