/**
 * Where each file of one backup goes, and how database names become safe path segments. Pure.
 *
 * ```
 * manifest.json
 * roles.sql
 * catalog.sql
 * <schema>/<schema>_schema_<YYYYMMDD_HHMMSS>.dump
 * <schema>/tables/<table>/schema.sql
 * <schema>/tables/<table>/data.sql        (or data.001.sql, data.002.sql, … when split)
 * storage-objects.json                    (backup --storage: the Storage map, lib/storage/map.ts)
 * storage-blobs.json                      (--storage --encrypt-to: the blob index, lib/storage/seal.ts)
 * ```
 * @module
 */
import { MANIFEST_NAME } from "./manifest.ts";

/** The roles file name. */
export const ROLES_FILE = "roles.sql";

/** The whole-database catalog's file name (`pg_dump --schema-only`). */
export const CATALOG_FILE = "catalog.sql";

/**
 * The files at a backup's root. A schema folder is never named like one of them, nor like one of
 * them with suffixes (their stored forms, such as `roles.sql.gz.age`: lib/store/encode.ts).
 * `storage-objects.json` is the Storage map (lib/storage/map.ts), `storage-blobs.json` the blob
 * index of encrypted Storage files (lib/storage/seal.ts).
 */
const ROOT_FILES: ReadonlySet<string> = new Set([
  MANIFEST_NAME,
  ROLES_FILE,
  CATALOG_FILE,
  "storage-objects.json",
  "storage-blobs.json",
]);
const WINDOWS_DEVICES = /^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$/i;

function pct(ch: string): string {
  return [...new TextEncoder().encode(ch)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, "0")}`)
    .join("");
}

const LETTER_OR_NUMBER = /^[\p{L}\p{N}]$/u;
/** Canonical decompositions exist only below this code point (tests/unit/store/layout.test.ts). */
const DECOMPOSABLE_BELOW = 0x30000;
let joiners: Set<string> | undefined;

/**
 * Characters that canonical composition can join to the one before them: every character that is
 * not the first of some character's canonical decomposition (computed once, on first use).
 */
function composingJoiners(): Set<string> {
  if (joiners) return joiners;
  joiners = new Set();
  for (let cp = 0x80; cp < DECOMPOSABLE_BELOW; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const parts = [...String.fromCodePoint(cp).normalize("NFD")];
    for (let i = 1; i < parts.length; i++) joiners.add(parts[i]);
  }
  return joiners;
}

/**
 * Whether a non-ASCII character can stay as it is in a segment: a letter or number that no case
 * mapping or normalisation (NFC, NFD, NFKC, NFKD) changes and that composition never joins to the
 * character before it. Every other non-ASCII character is percent-encoded, so what case-insensitive
 * and normalising file systems (APFS, NTFS) change in a segment is its ASCII letters only.
 */
export function keepsLiteral(ch: string): boolean {
  return LETTER_OR_NUMBER.test(ch) && ch.toLowerCase() === ch && ch.toUpperCase() === ch &&
    ch.normalize("NFD") === ch && ch.normalize("NFKD") === ch && ch.normalize("NFKC") === ch &&
    !composingJoiners().has(ch);
}

/**
 * Encodes one database name as a path segment that is safe on Linux, macOS and Windows and
 * round-trips through {@link decodeSegment}: `%`, `/`, `\`, control characters, `<>:"|?*` and
 * every non-ASCII character that {@link keepsLiteral} refuses (UTF-8, upper-case hex) are
 * percent-encoded, as are a leading `.`, a trailing space or dot, and Windows device names.
 * With `foldUpper`, ASCII capitals are encoded too (used when two names differ only by case).
 * A segment holds only ASCII and characters that case folding and normalisation leave alone, so
 * two different segments stay different on case-insensitive, normalising file systems unless they
 * differ only in the case of ASCII letters (which {@link encodeSiblings} prevents).
 */
export function encodeSegment(name: string, foldUpper = false): string {
  let out = "";
  for (const ch of name) {
    const code = ch.codePointAt(0)!;
    if (
      ch === "%" || ch === "/" || ch === "\\" || code < 0x20 || code === 0x7f || `<>:"|?*`.includes(ch) ||
      (foldUpper && ch >= "A" && ch <= "Z") || (code > 0x7f && !keepsLiteral(ch))
    ) {
      out += pct(ch);
    } else {
      out += ch;
    }
  }
  if (out.startsWith(".")) out = "%2E" + out.slice(1);
  if (out.endsWith(" ") || out.endsWith(".")) out = out.slice(0, -1) + pct(out.slice(-1));
  if (out === "") out = "%00";
  if (WINDOWS_DEVICES.test(out)) out = pct(out[0]) + out.slice(1);
  return out;
}

/** Reverses {@link encodeSegment}. */
export function decodeSegment(segment: string): string {
  if (segment === "%00") return "";
  return decodeURIComponent(segment);
}

/**
 * Whether `seg` is, ignoring case, one of `reserved` or one of them followed by `.` and anything
 * (any suffix a stored form adds).
 */
function isReserved(seg: string, reserved: ReadonlySet<string>): boolean {
  const lower = seg.toLowerCase();
  for (const r of reserved) if (lower === r || lower.startsWith(`${r}.`)) return true;
  return false;
}

/**
 * Encodes a set of sibling names so that no two paths collide, even on case-insensitive and
 * normalising file systems: names whose segments would differ only by the case of ASCII letters
 * get their capitals encoded. A segment that would be named like a `reserved` file (lower-case
 * names), with or without suffixes, gets its first character encoded. Returns a map from real name
 * to segment.
 */
export function encodeSiblings(
  names: readonly string[],
  reserved: ReadonlySet<string> = new Set(),
): Map<string, string> {
  const key = (n: string) => encodeSegment(n).toLowerCase();
  const counts = new Map<string, number>();
  for (const n of names) counts.set(key(n), (counts.get(key(n)) ?? 0) + 1);
  const out = new Map<string, string>();
  for (const n of names) {
    let seg = encodeSegment(n, (counts.get(key(n)) ?? 0) > 1);
    if (isReserved(seg, reserved)) seg = pct(seg[0]) + seg.slice(1);
    out.set(n, seg);
  }
  return out;
}

/**
 * Encodes schema names for the backup root: never named like manifest.json or roles.sql, in any
 * stored form (`roles.sql.gz`, `roles.sql.age`, …).
 */
export function encodeSchemas(names: readonly string[]): Map<string, string> {
  return encodeSiblings(names, ROOT_FILES);
}

/** `YYYYMMDD_HHMMSS` in UTC, for dump file names. */
export function compactTimestamp(d: Date): string {
  const iso = d.toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}_${iso.slice(11, 13)}${iso.slice(14, 16)}${
    iso.slice(17, 19)
  }`;
}

/** Relative path of a schema's custom-format dump. */
export function dumpPath(schemaSeg: string, at: Date): string {
  return `${schemaSeg}/${schemaSeg}_schema_${compactTimestamp(at)}.dump`;
}

/** Relative path of a table's schema.sql. */
export function tableSchemaPath(schemaSeg: string, tableSeg: string): string {
  return `${schemaSeg}/tables/${tableSeg}/schema.sql`;
}

/** Relative path of a table's data file; `part` (1-based) when the data is split. */
export function tableDataPath(schemaSeg: string, tableSeg: string, part?: number): string {
  const name = part === undefined ? "data.sql" : `data.${String(part).padStart(3, "0")}.sql`;
  return `${schemaSeg}/tables/${tableSeg}/${name}`;
}

/** Relative path of chunk `part` (1-based) of a split dump. */
export function dumpPartPath(dump: string, part: number): string {
  return `${dump}.${String(part).padStart(3, "0")}`;
}
