/**
 * manifest.json: what one backup holds. Types, reading, writing and checksum checks.
 * The format is documented in docs/backup.md (manifest.json).
 * @module
 */
import { BackupError, ExitCode } from "../base/errors.ts";
import type { BackupSource } from "./reader.ts";

/** Where a backup came from (GitHub context, flags, or `local`). */
export interface ManifestSource {
  repo: string;
  event: string;
  sha: string;
  ref?: string;
}

/** One table of a schema. */
export interface ManifestTable {
  name: string;
  /** Exact row count, read in the backup's snapshot (a partitioned table: the sum of its partitions). */
  rows: number | null;
  /** Path of schema.sql relative to the backup directory. */
  schemaFile: string;
  /** Paths of data.sql, or of its numbered parts in restore order. Empty when there is no data entry. */
  dataFiles: string[];
  /** Bytes of schemaFile plus dataFiles. */
  bytes: number;
  /** "r" (table) or "p" (partitioned table). */
  kind?: "r" | "p";
  /** Parent partitioned table ("schema.table"), when this table is a partition. */
  partitionOf?: string;
}

/** One schema: its custom-format dump and its tables. */
export interface ManifestSchema {
  name: string;
  /** Path of the custom-format dump, or the first of its chunks. */
  dump: string;
  /** Chunks of the dump in order, when it was split (absent otherwise). */
  dumpParts?: string[];
  dumpBytes: number;
  /** True for schemas Supabase manages (auth, storage, …). */
  managed?: boolean;
  tables: ManifestTable[];
}

/** An extension of the backed-up database (every one but plpgsql and those in pg_catalog). */
export interface ManifestExtension {
  name: string;
  /** The schema it was installed in (also when that schema is not in the backup). */
  schema: string;
  /** Its version in the source (informational: a restore creates the target's default version). */
  version: string;
}

/** A setting of the source database (`ALTER DATABASE … SET`). */
export interface ManifestSetting {
  name: string;
  /**
   * As stored in `pg_db_role_setting`: the text after the first `=` (`"$user", public`). Null when
   * not recorded because the name suggests a secret (`app.settings.jwt_secret`): a restore reports it.
   */
  value: string | null;
}

/** A setting of one role in the source database (`ALTER ROLE … IN DATABASE … SET`). */
export interface ManifestRoleSetting extends ManifestSetting {
  role: string;
}

/**
 * A user mapping of the source database. Recorded here and cut out of catalog.sql, because its
 * options may hold a password: a restore reports it so that the user can create it with the secret.
 */
export interface ManifestUserMapping {
  server: string;
  /** The mapped role, or `public` for a mapping FOR PUBLIC. */
  user: string;
  /** The names of its options (never their values); null when the backing-up role could not see them. */
  options: string[] | null;
}

/** Something of the database that the backup does not hold, named, and why. */
export interface ManifestNotCaptured {
  /** What it is, as pg_dump names the kind: `EVENT TRIGGER`, `SUBSCRIPTION`, `USER MAPPING`, … */
  kind: string;
  name: string;
  reason: string;
}

/** A table whose data was not backed up, and why. */
export interface ManifestSkipped {
  schema: string;
  table: string;
  reason: string;
}

/** One file's size and checksum (of its plaintext when encrypted). */
export interface ManifestFile {
  bytes: number;
  sha256: string;
  /** Set when the stored file is compressed: its stored form. */
  compression?: "gzip" | "zstd";
  /** Set when the stored file is age-encrypted. */
  encrypted?: boolean;
  /**
   * Size and checksum of the stored bytes, when they differ from the plaintext (compressed or
   * encrypted): lets verify check an encrypted backup without its identity.
   */
  stored?: { bytes: number; sha256: string };
}

/**
 * The Storage files of a backup (`backup --storage`): where its map is, what it holds and what the
 * run fetched. See docs/storage-files.md.
 */
export interface ManifestStorage {
  /** The map file in the backup folder (also listed in `files`). */
  map: string;
  /**
   * The blob index (`storage-blobs.json`, also listed in `files`, never encrypted) of a backup whose
   * Storage files are encrypted: what a run without the identity needs (lib/storage/seal.ts).
   */
  index?: string;
  /** The S3 endpoint's scheme and host the files came from. */
  endpoint: string;
  buckets: number;
  /** Files in the map, and their bytes. */
  files: number;
  bytes: number;
  /** Files and bytes this run downloaded. */
  downloaded: { files: number; bytes: number };
  /** Files and bytes taken from the blob store without downloading (unchanged since the previous backup). */
  reused: { files: number; bytes: number };
  /** `bucket/name` of files replaced after the snapshot: their rows are in the backup, their files are not. */
  changed: string[];
  /** `bucket/name` of files deleted after the snapshot. */
  missing: string[];
  /** Against the previous backup's map, when there was one. */
  sincePrevious?: { added: number; changed: number; removed: number; unchanged: number };
}

/** The whole manifest.json. */
export interface Manifest {
  format: number;
  createdAt: string;
  tool: string;
  environment?: string;
  source: ManifestSource;
  database: {
    name: string;
    serverVersion: string;
    sizeBytes: number;
    host: string;
    /** `ALTER DATABASE … SET` settings (absent in older backups). */
    settings?: ManifestSetting[];
    /** `ALTER ROLE … IN DATABASE … SET` settings (absent in older backups). */
    roleSettings?: ManifestRoleSetting[];
    /** `COMMENT ON DATABASE`, null when there is none (absent in older backups). */
    comment?: string | null;
  };
  pgDumpVersion: string;
  snapshot: { consistent: boolean; id?: string; note?: string };
  status: "ok" | "partial";
  roles: string | null;
  /**
   * Path of catalog.sql: `pg_dump --schema-only` of the whole database in the backup's snapshot,
   * without user mappings. Absent in older backups.
   */
  catalog?: string;
  schemas: ManifestSchema[];
  /**
   * Every extension of the database, in creation order, whether or not its schema is backed up.
   * Absent in backups made before the field existed (their dumps carry no `CREATE EXTENSION`, or
   * only in the dump of the extension's schema).
   */
  extensions?: ManifestExtension[];
  /** Every user mapping of the database (absent in older backups). */
  userMappings?: ManifestUserMapping[];
  skipped: ManifestSkipped[];
  /** What the backup could not capture as the connecting role (absent in older backups). */
  notCaptured?: ManifestNotCaptured[];
  files: Record<string, ManifestFile>;
  /** Present when the backup holds Storage files (`backup --storage`). */
  storage?: ManifestStorage;
  durationMs: number;
}

/** The manifest's file name inside a backup directory. */
export const MANIFEST_NAME = "manifest.json";

/** Serialises a manifest deterministically (stable key order as declared, 2-space indent). */
export function serializeManifest(m: Manifest): string {
  return [...manifestText(m)].join("");
}

/**
 * The text of {@link serializeManifest} in pieces of about {@link PIECE} characters, for a large
 * manifest to be written without holding it whole: 5,000 tables make about 2.8 MB of JSON, which
 * as one string (and its UTF-8 copy) added 10 MB to the backup's peak memory at its very end.
 */
export function* manifestText(m: Manifest): Generator<string> {
  const files: Record<string, ManifestFile> = {};
  for (const k of Object.keys(m.files).sort()) files[k] = m.files[k];
  let piece = "";
  for (const s of jsonPieces({ ...m, files }, "", "")) {
    piece += s;
    if (piece.length >= PIECE) {
      yield piece;
      piece = "";
    }
  }
  yield piece + "\n";
}

/** The size of the pieces {@link manifestText} gives: 64 Ki characters. */
const PIECE = 1 << 16;

/**
 * `JSON.stringify(value, null, 2)` (its result for a property `key` at indent `pad`), in small
 * pieces: objects and arrays are walked, everything else is stringified. Same rules: toJSON is
 * called, properties that are undefined, functions or symbols are left out (null in arrays).
 */
function* jsonPieces(value: unknown, key: string, pad: string): Generator<string> {
  // deno-lint-ignore no-explicit-any
  const v = typeof (value as any)?.toJSON === "function" ? (value as any).toJSON(key) : value;
  if (v === null || typeof v !== "object") {
    yield JSON.stringify(v) ?? "null";
    return;
  }
  if (typeof v.toJSON !== "function" && smallJson(v, SMALL) >= 0) {
    // JSON.stringify's own text, indented to `pad` (a JSON text has no raw newline inside a string)
    yield pad ? JSON.stringify(v, null, 2).replaceAll("\n", `\n${pad}`) : JSON.stringify(v, null, 2);
    return;
  }
  const inner = pad + "  ";
  const skip = (x: unknown) => x === undefined || typeof x === "function" || typeof x === "symbol";
  if (Array.isArray(v)) {
    if (v.length === 0) return yield "[]";
    yield "[";
    for (let i = 0; i < v.length; i++) {
      yield `${i ? "," : ""}\n${inner}`;
      if (skip(v[i])) yield "null";
      else yield* jsonPieces(v[i], String(i), inner);
    }
    return yield `\n${pad}]`;
  }
  const keys = Object.keys(v).filter((k) => !skip(v[k]));
  if (keys.length === 0) return yield "{}";
  yield "{";
  for (const [i, k] of keys.entries()) {
    yield `${i ? "," : ""}\n${inner}${JSON.stringify(k)}: `;
    yield* jsonPieces(v[k], k, inner);
  }
  yield `\n${pad}}`;
}

/** The most values (at any depth) of an object or array that {@link jsonPieces} writes as one piece. */
const SMALL = 64;

/**
 * Whether `v` (an object or array, not to be turned by a toJSON of its own) holds at most `budget`
 * values at any depth: then it is one piece, as JSON.stringify writes it, instead of a generator per
 * value (a manifest's thousands of file and table entries). Returns the budget left, or -1.
 */
function smallJson(v: object, budget: number): number {
  for (const k in v) {
    if (!Object.hasOwn(v, k)) continue;
    if (--budget < 0) return -1;
    const x = (v as Record<string, unknown>)[k];
    if (x !== null && typeof x === "object") {
      budget = smallJson(x, budget);
      if (budget < 0) return -1;
    }
  }
  return budget;
}

/** A manifest field that does not have its type: its path (`files["x"].bytes`) and what is wrong. */
class FieldError {
  constructor(readonly path: string, readonly problem: string) {}
}

/** Checks one value at `path`; throws a {@link FieldError} when it does not fit. */
type Check = (value: unknown, path: string) => void;
/** A field of an object: its check, and whether it may be absent. */
type Field = Check | { check: Check; optional: true };

const must = (path: string, what: string): never => {
  throw new FieldError(path, `must be ${what}`);
};
const opt = (check: Check): Field => ({ check, optional: true });
const string: Check = (v, p) => typeof v === "string" || must(p, "a string");
const boolean: Check = (v, p) => typeof v === "boolean" || must(p, "true or false");
const number: Check = (v, p) => (typeof v === "number" && Number.isFinite(v)) || must(p, "a number");
/** A size or count: a whole number, 0 or more. */
const count: Check = (v, p) => {
  number(v, p);
  if (!Number.isSafeInteger(v) || (v as number) < 0) must(p, "a whole number, 0 or more");
};
const sha256: Check = (v, p) => {
  string(v, p);
  if (!/^[0-9a-f]{64}$/.test(v as string)) must(p, "a SHA-256 in hex (64 digits 0-9a-f)");
};
const time: Check = (v, p) => {
  string(v, p);
  if (Number.isNaN(new Date(v as string).getTime())) must(p, "an ISO 8601 time");
};
const oneOf = (...values: string[]): Check => (v, p) =>
  values.includes(v as string) || must(p, values.map((x) => JSON.stringify(x)).join(" or "));
const nullable = (check: Check): Check => (v, p) => v === null || check(v, p);
const array = (check: Check): Check => (v, p) => {
  if (!Array.isArray(v)) must(p, "an array");
  (v as unknown[]).forEach((x, i) => check(x, `${p}[${i}]`));
};
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
/** An object with these fields (others are ignored, so newer manifests still read). */
const object = (fields: Record<string, Field>): Check => (v, p) => {
  if (!isObject(v)) must(p || "the manifest", "an object");
  for (const [k, f] of Object.entries(fields)) {
    const at = p ? `${p}.${k}` : k;
    const value = Object.hasOwn(v as object, k) ? (v as Record<string, unknown>)[k] : undefined;
    if (value === undefined) {
      if (typeof f === "function") throw new FieldError(at, "is missing");
      continue;
    }
    (typeof f === "function" ? f : f.check)(value, at);
  }
};
/** An object used as a map: every value has the same shape; keys are shown quoted. */
const record = (check: Check): Check => (v, p) => {
  if (!isObject(v)) must(p, "an object");
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) check(x, `${p}[${JSON.stringify(k)}]`);
};

/** The type of every manifest field, as docs/backup.md (manifest.json) describes it. */
const MANIFEST: Check = object({
  format: number,
  createdAt: time,
  tool: string,
  environment: opt(string),
  source: object({ repo: string, event: string, sha: string, ref: opt(string) }),
  database: object({
    name: string,
    serverVersion: string,
    sizeBytes: count,
    host: string,
    settings: opt(array(object({ name: string, value: nullable(string) }))),
    roleSettings: opt(array(object({ role: string, name: string, value: nullable(string) }))),
    comment: opt(nullable(string)),
  }),
  pgDumpVersion: string,
  snapshot: object({ consistent: boolean, id: opt(string), note: opt(string) }),
  status: oneOf("ok", "partial"),
  roles: nullable(string),
  catalog: opt(string),
  schemas: array(object({
    name: string,
    dump: string,
    dumpParts: opt(array(string)),
    dumpBytes: count,
    managed: opt(boolean),
    tables: array(object({
      name: string,
      rows: nullable(count),
      schemaFile: string,
      dataFiles: array(string),
      bytes: count,
      kind: opt(oneOf("r", "p")),
      partitionOf: opt(string),
    })),
  })),
  extensions: opt(array(object({ name: string, schema: string, version: string }))),
  userMappings: opt(array(object({ server: string, user: string, options: nullable(array(string)) }))),
  skipped: array(object({ schema: string, table: string, reason: string })),
  notCaptured: opt(array(object({ kind: string, name: string, reason: string }))),
  files: record(object({
    bytes: count,
    sha256,
    compression: opt(oneOf("gzip", "zstd")),
    encrypted: opt(boolean),
    stored: opt(object({ bytes: count, sha256 })),
  })),
  storage: opt(object({
    map: string,
    index: opt(string),
    endpoint: string,
    buckets: count,
    files: count,
    bytes: count,
    downloaded: object({ files: count, bytes: count }),
    reused: object({ files: count, bytes: count }),
    changed: array(string),
    missing: array(string),
    sincePrevious: opt(object({ added: count, changed: count, removed: count, unchanged: count })),
  })),
  durationMs: count,
});

/** The hint of every manifest that cannot be read. */
const DAMAGED_HINT =
  "the backup's manifest.json was edited or damaged; use another backup ('backup.ts list'), or fix that field";

/**
 * Parses manifest text and checks the type of every field (see docs/backup.md, manifest.json).
 * Throws a {@link BackupError} (exit 2) naming `where`, and the first bad field, as in
 * `<where>: manifest field files["x"].bytes must be a number`, when it is not a manifest this
 * tool can read. Fields it does not know are ignored.
 */
export function parseManifest(text: string, where: string): Manifest {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (e) {
    throw new BackupError(`${where} is not valid JSON`, {
      hint: "the backup is damaged; restore from an archive or re-run the backup",
      exitCode: ExitCode.usage,
      cause: e,
    });
  }
  if (!isObject(m) || typeof m.format !== "number" || !Array.isArray(m.schemas)) {
    throw new BackupError(`${where} is not a supabase-backup manifest`, {
      hint: "point --from at a folder that holds a manifest.json written by supabase-backup",
      exitCode: ExitCode.usage,
    });
  }
  try {
    MANIFEST(m, "");
  } catch (e) {
    if (!(e instanceof FieldError)) throw e;
    throw new BackupError(`${where}: manifest field ${e.path} ${e.problem}`, {
      hint: DAMAGED_HINT,
      exitCode: ExitCode.usage,
    });
  }
  return m as unknown as Manifest;
}

/**
 * Reads and parses `<dir>/manifest.json` (a reader's manifest is already read). Throws when it is
 * missing or damaged.
 */
export async function readManifest(dir: BackupSource): Promise<Manifest> {
  if (typeof dir !== "string") return dir.manifest;
  const path = `${dir}/${MANIFEST_NAME}`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new BackupError(`no manifest at ${path}`, {
      hint: "the folder is not a complete backup; run 'backup.ts list' to see the backups there",
      cause: e,
    });
  }
  return parseManifest(text, path);
}

/** Total rows and table count of a manifest. */
export function manifestTotals(m: Manifest): { tables: number; rows: number; bytes: number } {
  let tables = 0, rows = 0, bytes = 0;
  for (const s of m.schemas) {
    for (const t of s.tables) {
      tables++;
      rows += t.rows ?? 0;
    }
  }
  for (const f of Object.values(m.files)) bytes += f.bytes;
  return { tables, rows, bytes };
}
