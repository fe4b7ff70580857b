/**
 * The storage map of one backup (`storage-objects.json` in the backup folder, listed in
 * manifest.json with its checksum): the buckets with their settings, and for every file its bucket
 * and name, the sha256 of its bytes (the blob that holds them), size, ETag, content type, cache
 * control, user metadata and owner. One bucket or object a line, so `git diff` shows what changed.
 *
 * A map is read back from a backup that may have been edited: {@link parseMap} (pure) checks every
 * field (a sha256 is 64 hex digits, sizes are whole numbers, …) before anything uses it, and
 * {@link readMap} checks the file against the manifest's checksum first.
 * @module
 */
import { createHash } from "node:crypto";
import { BackupError } from "../base/errors.ts";
import { openPlaintext } from "../store/decode.ts";
import type { Manifest, ManifestFile } from "../store/manifest.ts";
import { type BackupSource, sourceName } from "../store/reader.ts";
import type { Bucket, ObjectRow } from "./catalog.ts";

/** The map's file name in a backup folder. */
export const STORAGE_MAP = "storage-objects.json";

/** The map's name when the backup is encrypted (lib/store/encode.ts adds `.age`). */
export const SEALED_MAP = `${STORAGE_MAP}.age`;

/** The map format this tool writes and reads. */
export const MAP_FORMAT = 1;

/** One file of the map. */
export interface MapObject extends ObjectRow {
  /** The sha256 (hex) of the bytes: the blob's name. */
  sha256: string;
  /** Number of blob parts when the blob is split (absent: one file). */
  parts?: number;
  /**
   * The encrypted blob that holds the bytes (`--encrypt-to`, lib/storage/seal.ts): the sha256 and
   * size of the stored bytes, which name the blob. Absent: the blob is the bytes, named by `sha256`.
   */
  stored?: { sha256: string; bytes: number };
}

/** The whole map. */
export interface StorageMap {
  format: number;
  buckets: Bucket[];
  objects: MapObject[];
}

/** The key of an object in lookups: bucket and name. Pure. */
export function objectKey(bucket: string, name: string): string {
  return `${bucket}\u0000${name}`;
}

/** The map as text: sorted buckets and objects, one a line. Pure. */
export function serializeMap(m: StorageMap): string {
  const byKey = (a: MapObject, b: MapObject) =>
    a.bucket < b.bucket ? -1 : a.bucket > b.bucket ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  const lines = (items: unknown[]) => items.map((x) => `    ${JSON.stringify(x)}`).join(",\n");
  const buckets = [...m.buckets].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return `{\n  "format": ${m.format},\n  "buckets": [\n${lines(buckets)}\n  ],\n  "objects": [\n${
    lines([...m.objects].sort(byKey))
  }\n  ]\n}\n`;
}

const HEX64 = /^[0-9a-f]{64}$/;

function bad(where: string, what: string): BackupError {
  return new BackupError(`${where} is damaged: ${what}`, {
    hint: "restore from an archive or re-run the backup; verify names the files that do not match",
  });
}

function isText(v: unknown): v is string {
  return typeof v === "string" && !v.includes("\u0000");
}

function optText(v: unknown): v is string | null {
  return v === null || isText(v);
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Parses and checks a map's text. Throws a {@link BackupError} naming `where` and the first bad
 * entry when the text is not a map of a format this tool reads.
 */
export function parseMap(text: string, where: string): StorageMap {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    throw bad(where, "not valid JSON");
  }
  const o = m as Partial<StorageMap>;
  if (typeof o !== "object" || o === null || !Array.isArray(o.buckets) || !Array.isArray(o.objects)) {
    throw bad(where, "not a storage map");
  }
  if (o.format !== MAP_FORMAT) throw bad(where, `format ${o.format}, this tool reads ${MAP_FORMAT}`);
  const ids = new Set<string>();
  o.buckets.forEach((b, i) => {
    const x = b as Partial<Bucket>;
    if (
      typeof x !== "object" || x === null || !isText(x.id) || x.id === "" || !isText(x.name) ||
      typeof x.public !== "boolean" || !(x.fileSizeLimit === null || isCount(x.fileSizeLimit)) ||
      !(x.allowedMimeTypes === null ||
        (Array.isArray(x.allowedMimeTypes) && x.allowedMimeTypes.every(isText))) ||
      !optText(x.owner) || !optText(x.ownerId)
    ) {
      throw bad(where, `bucket ${i + 1} has a missing or wrong field`);
    }
    ids.add(x.id);
  });
  const seen = new Set<string>();
  o.objects.forEach((e, i) => {
    const x = e as Partial<MapObject>;
    const ok = typeof x === "object" && x !== null && isText(x.bucket) && isText(x.name) && x.name !== "" &&
      typeof x.sha256 === "string" && HEX64.test(x.sha256) && isCount(x.size) && isText(x.etag) &&
      optText(x.contentType) && optText(x.cacheControl) && optText(x.owner) && optText(x.ownerId) &&
      "userMetadata" in x &&
      (x.parts === undefined || (isCount(x.parts) && x.parts >= 2 && x.parts <= 9999)) &&
      (x.stored === undefined ||
        (typeof x.stored === "object" && x.stored !== null && typeof x.stored.sha256 === "string" &&
          HEX64.test(x.stored.sha256) && isCount(x.stored.bytes)));
    if (!ok) throw bad(where, `object ${i + 1} has a missing or wrong field`);
    if (!ids.has(x.bucket!)) {
      throw bad(where, `object ${i + 1} is in bucket '${x.bucket}', which the map lacks`);
    }
    const key = objectKey(x.bucket!, x.name!);
    if (seen.has(key)) throw bad(where, `object ${x.bucket}/${x.name} is listed twice`);
    seen.add(key);
  });
  return o as StorageMap;
}

/**
 * Reads the map of the backup in `dir` (a folder, or a reader of a backup in an object store;
 * described by `m`), or undefined when the backup has no Storage files. Throws a
 * {@link BackupError} when the file is missing, does not match the manifest's checksum, or is not
 * a valid map.
 */
export async function readMap(
  dir: BackupSource,
  m: Manifest,
  opts: { identityFile?: string } = {},
): Promise<StorageMap | undefined> {
  if (!m.storage) return undefined;
  const rel = m.storage.map;
  const where = `${sourceName(dir)}/${rel === SEALED_MAP ? SEALED_MAP : STORAGE_MAP}`;
  if (rel !== STORAGE_MAP && rel !== SEALED_MAP) throw bad(where, `the manifest names the map '${rel}'`);
  const entry = m.files[rel];
  if (!entry) throw bad(where, "the manifest does not list it");
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await new Response(await openPlaintext(dir, rel, entry, opts)).arrayBuffer());
  } catch (e) {
    if (e instanceof BackupError) throw e;
    throw bad(where, `it cannot be read (${(e as Error).message.split(" (os error")[0]})`);
  }
  return checkedMap(bytes, entry, where);
}

/** Parses a map's bytes after checking them against the manifest's entry for it. Pure. */
function checkedMap(bytes: Uint8Array, entry: ManifestFile, where: string): StorageMap {
  const sha = createHash("sha256").update(bytes).digest("hex");
  if (bytes.length !== entry.bytes || sha !== entry.sha256) {
    throw bad(where, "it does not match the manifest");
  }
  return parseMap(new TextDecoder().decode(bytes), where);
}

/**
 * The map of a backup from its text as git holds it (an archive a sparse checkout keeps in git
 * only), checked against the manifest `m` as {@link readMap} checks it: undefined when the backup
 * has no Storage files. Throws a {@link BackupError} when the map is missing, stored encoded, does
 * not match the manifest or does not parse. Pure.
 */
export function mapFromText(dir: string, m: Manifest, text: string | undefined): StorageMap | undefined {
  if (!m.storage) return undefined;
  const where = `${dir}/${STORAGE_MAP}`;
  if (m.storage.map !== STORAGE_MAP) throw bad(where, `the manifest names the map '${m.storage.map}'`);
  const entry = m.files[STORAGE_MAP];
  if (!entry) throw bad(where, "the manifest does not list it");
  if (text === undefined) throw bad(where, "git does not hold it");
  if (entry.compression || entry.encrypted) throw bad(where, "it is stored compressed or encrypted");
  return checkedMap(new TextEncoder().encode(text), entry, where);
}
