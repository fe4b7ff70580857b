/**
 * Reading backups in an object store (`--store`): the backups (one manifest each, names in time
 * order), the latest, the one `--from` names, and a {@link BackupReader} that streams each file's
 * blob, so that verify, restore and the drill read straight from the store (no local copy; a
 * schema dump pg_restore needs whole goes to a temp file, lib/store/decode.ts). Also the listing
 * rows of `list --store`. Layout: lib/store/remotelayout.ts.
 * @module
 */
import { BackupError, usageError } from "../base/errors.ts";
import { throwIfInterrupted } from "../base/interrupt.ts";
import { type Manifest, type ManifestFile, parseManifest } from "./manifest.ts";
import type { ObjectStore } from "./object.ts";
import type { BackupReader } from "./reader.ts";
import {
  backupName,
  BACKUPS,
  blobKey,
  compareBackupNames,
  indexOf,
  storedOf,
  type StoreIndex,
} from "./remotelayout.ts";
import { entryFromManifest, type ListEntry } from "./listing.ts";
import { LATEST, timeFromArchiveName } from "./rotation.ts";

/** One backup in a store: its name and manifest key. */
export interface StoredBackup {
  name: string;
  key: string;
  size: number;
}

/**
 * The backups in the store, oldest first: by their time to the millisecond, then name
 * ({@link compareBackupNames}), so of two backups taken in one second the newer is last.
 */
export async function listBackups(store: ObjectStore): Promise<StoredBackup[]> {
  const out: StoredBackup[] = [];
  for await (const o of store.list(BACKUPS)) {
    const name = backupName(o.key);
    if (name) out.push({ name, key: o.key, size: o.size });
  }
  return out.sort((a, b) => compareBackupNames(a.name, b.name));
}

/** Reads a stream whole as text. */
async function text(stream: ReadableStream<Uint8Array>): Promise<string> {
  return await new Response(stream).text();
}

/**
 * Reads and checks one backup's manifest and store index. Throws a {@link BackupError} when it is
 * missing or damaged.
 */
export async function readStoredManifest(
  store: ObjectStore,
  key: string,
): Promise<{ manifest: Manifest; index: StoreIndex }> {
  const body = await store.get(key);
  const where = `${store.display}/${key}`;
  if (!body) {
    throw new BackupError(`no manifest at ${where}`, {
      hint: "it was removed meanwhile (prune?); run 'backup.ts list --store …' to see the backups",
    });
  }
  const t = await text(body);
  return { manifest: parseManifest(t, where), index: indexOf(t) };
}

/** A stored backup with its manifest and store index, as {@link latestBackup} reads it. */
export interface ReadBackup {
  manifest: Manifest;
  index: StoreIndex;
  backup: StoredBackup;
}

/**
 * The newest backup whose manifest reads (`latest`, undefined when the store holds none that
 * does), and why each newer one did not (`unreadable`: its key and the reason, one line each):
 * a damaged, invalid or unreadable manifest is passed over for the one before it, never taken
 * for "no backup". Throws only when the store cannot be listed.
 */
export async function latestBackup(
  store: ObjectStore,
): Promise<{ latest?: ReadBackup; unreadable: { key: string; why: string }[] }> {
  const all = await listBackups(store);
  const unreadable: { key: string; why: string }[] = [];
  for (let i = all.length - 1; i >= 0; i--) {
    try {
      return { latest: { ...await readStoredManifest(store, all[i].key), backup: all[i] }, unreadable };
    } catch (e) {
      throwIfInterrupted(); // an interrupted read is the run's end, not a damaged manifest
      // the reason without the location it starts with ("<store>/<key> is not valid JSON")
      const where = `${store.display}/${all[i].key}`;
      const why = (e instanceof Error ? e.message : String(e)).split("\n")[0];
      unreadable.push({
        key: all[i].key,
        why: why.startsWith(where) ? why.slice(where.length).replace(/^[:\s]+/, "") : why,
      });
    }
  }
  return { unreadable };
}

/**
 * The warning of a backup run whose newest stored backups' manifests do not read (see
 * {@link latestBackup}): it names each, and what is reused instead. Undefined when they all read.
 * Pure.
 */
export function unreadableWarning(
  store: string,
  read: { latest?: ReadBackup; unreadable: readonly { key: string; why: string }[] },
): string | undefined {
  if (read.unreadable.length === 0) return undefined;
  const which = read.unreadable.map((u) => `${store}/${u.key} (${u.why})`).join("; ");
  const instead = read.latest
    ? `unchanged files are reused from the backup before it, ${read.latest.backup.name}`
    : "no earlier backup reads either: every file is uploaded again";
  return `the previous backup's manifest cannot be read: ${which}; ${instead}`;
}

/**
 * The backup `from` names: `latest`, a backup's name, or its key (`backups/<name>.json`). Throws a
 * usage error (exit 2) when the store has no backups or none of that name.
 */
export async function findStoredBackup(store: ObjectStore, from: string): Promise<StoredBackup> {
  const all = await listBackups(store);
  if (all.length === 0) {
    throw usageError(
      `no backups in ${store.display}`,
      "run 'backup.ts backup --store …' first, or check --store and --env",
    );
  }
  if (from === LATEST) return all[all.length - 1];
  const name = backupName(from) ?? from.replace(/^archive\//, "");
  const hit = all.find((b) => b.name === name);
  if (!hit) {
    throw usageError(
      `no backup named '${from}' in ${store.display}`,
      "run 'backup.ts list --store …' and pass one of the names shown (or latest) to --from",
    );
  }
  return hit;
}

/** The label of a stored backup in messages: `latest` for the newest, else its name. Pure. */
export function storedLabel(b: StoredBackup, all: readonly StoredBackup[]): string {
  return all.length > 0 && all[all.length - 1].name === b.name ? `latest (${b.name})` : b.name;
}

/** Reads backup files from their blobs (see the module doc). */
export class StoredBackupReader implements BackupReader {
  readonly where: string;
  readonly manifest: Manifest;
  #store: ObjectStore;

  constructor(store: ObjectStore, backup: StoredBackup, manifest: Manifest) {
    this.#store = store;
    this.where = `${store.display}/${backup.key}`;
    this.manifest = manifest;
  }

  /** The blob's bytes; throws Deno.errors.NotFound naming the blob when it is missing. */
  async open(rel: string, entry: ManifestFile): Promise<ReadableStream<Uint8Array>> {
    const key = blobKey(storedOf(entry).sha256);
    const body = await this.#store.get(key);
    if (!body) throw new Deno.errors.NotFound(`${rel}: blob ${key} is missing from ${this.#store.display}`);
    return body;
  }
}

/** Opens the backup `from` names as a reader. Throws like {@link findStoredBackup}. */
export async function openStoredBackup(
  store: ObjectStore,
  from: string,
): Promise<{ reader: StoredBackupReader; label: string; backup: StoredBackup }> {
  const all = await listBackups(store);
  const backup = await findStoredBackup(store, from);
  const { manifest } = await readStoredManifest(store, backup.key);
  return { reader: new StoredBackupReader(store, backup, manifest), label: storedLabel(backup, all), backup };
}

/**
 * The rows of `list --store`, newest first: the newest backup labelled `latest`, the others by
 * name; a manifest that does not read is `damaged`.
 */
export async function storeListing(store: ObjectStore): Promise<ListEntry[]> {
  const all = await listBackups(store);
  const out: ListEntry[] = [];
  for (let i = all.length - 1; i >= 0; i--) {
    const b = all[i];
    const label = i === all.length - 1 ? LATEST : b.name;
    const path = `${store.display}/${b.key}`;
    try {
      out.push(entryFromManifest(label, path, (await readStoredManifest(store, b.key)).manifest, 0));
    } catch (e) {
      const t = timeFromArchiveName(b.name);
      out.push({
        label,
        path,
        ...(t ? { createdAt: t.toISOString() } : {}),
        status: "damaged",
        bytes: 0,
        problem: e instanceof Error ? e.message.split("\n")[0] : String(e),
      });
    }
  }
  return out;
}
