/**
 * Sizes: parsing `--max-file-size` values and formatting byte counts for summaries. Pure.
 *
 * Decimal units are powers of 1000 (kB, MB, GB, TB: what GitHub means by "100 MB"), binary units
 * powers of 1024 (KiB, MiB, GiB, TiB). Units are case-insensitive; a bare number is bytes.
 * @module
 */
import { usageError } from "./errors.ts";

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  ki: 1024,
  kib: 1024,
  mi: 1024 ** 2,
  mib: 1024 ** 2,
  gi: 1024 ** 3,
  gib: 1024 ** 3,
  ti: 1024 ** 4,
  tib: 1024 ** 4,
};

/**
 * Parses a size such as `95MB`, `50mb`, `1GiB`, `1.5GB` or `123` (bytes) into whole bytes
 * (rounded down). `origin` names the flag or variable in errors (default `--max-file-size`).
 * Throws a usage error (exit 2) for text that is not a size, and for zero or negative sizes.
 */
export function parseSize(text: string, origin = "--max-file-size"): number {
  const hint = "give a positive size such as 95MB, 50MB, 1GiB or 1.5GB (MB = 1000², MiB = 1024²)";
  const m = text.trim().match(/^([+-]?\d+(?:\.\d+)?|[+-]?\.\d+)\s*([a-z]*)$/i);
  const factor = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || factor === undefined) {
    throw usageError(`${origin} '${text}' is not a size`, hint);
  }
  const bytes = Math.floor(Number(m[1]) * factor);
  if (!Number.isFinite(bytes) || bytes <= 0) {
    throw usageError(`${origin} must be greater than zero, got '${text}'`, hint);
  }
  if (!Number.isSafeInteger(bytes)) {
    throw usageError(`${origin} '${text}' is too large`, hint);
  }
  return bytes;
}

const STEPS = ["kB", "MB", "GB", "TB", "PB"];

/**
 * Formats a byte count for people, in decimal units with one decimal: `512 B`, `1.2 MB`,
 * `95.0 MB`, `3.4 GB`. Negative or non-finite input is shown as `0 B`.
 */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n <= 0) return "0 B";
  if (n < 1000) return `${Math.round(n)} B`;
  let value = n;
  let i = -1;
  // Pick the unit after rounding, so 999_950 bytes reads "1.0 MB", not "1000.0 kB".
  while (i < STEPS.length - 1 && Number(value.toFixed(1)) >= 1000) {
    value /= 1000;
    i++;
  }
  return `${value.toFixed(1)} ${STEPS[Math.max(i, 0)]}`;
}

/** A row count for people: `1 row`, `3 rows`, `? rows` when unknown. Pure. */
export function rowCount(n: number | null): string {
  return n === null ? "? rows" : `${n} row${n === 1 ? "" : "s"}`;
}
