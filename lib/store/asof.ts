/**
 * Point-in-time choice: which backup of a root was the newest at a given time (`--as-of`, or a date
 * given to `diff`). Parsing the time and choosing are pure; lib/history/backups.ts (`backupAsOf`)
 * gives them the root's backups: `latest/`, `archive/` and git history.
 * @module
 */
import { usageError } from "../base/errors.ts";
import { durationStart, parseDuration } from "./retention.ts";

/** A backup that can be chosen by time. */
export interface Dated {
  /** `latest` or `archive/<name>`. */
  label: string;
  createdAt: Date;
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?$/i;
const DURATION = /^(\d+[hdwmy])+$/i;

/** Whether `text` reads as a time {@link parseAsOf} accepts (a date, a date and time, or a duration ago). */
export function looksLikeTime(text: string): boolean {
  const t = text.trim();
  return DATE_ONLY.test(t) || DATE_TIME.test(t) || DURATION.test(t);
}

/**
 * Parses a point in time. Pure. Accepts:
 * - a date `2026-12-01`: the end of that day in UTC (so the day's last backup is chosen);
 * - a date and time `2026-12-01T09:30`, `2026-12-01 09:30:00Z`, `…+02:00` (UTC when no zone is given): the
 *   end of the minute or second it names, unless it has a fraction of a second;
 * - a duration ago: `36h`, `2d`, `1w` (units as for `--keep-within`).
 * Throws a usage error naming `origin` for anything else.
 */
export function parseAsOf(text: string, now: Date, origin = "--as-of"): Date {
  const t = text.trim();
  const hint = "give a date (2026-12-01), a UTC time (2026-12-01T09:30:00Z) or a duration ago (36h, 2d)";
  let at: Date;
  if (DATE_ONLY.test(t)) at = new Date(`${t}T23:59:59.999Z`);
  else if (DATE_TIME.test(t)) {
    const iso = t.replace(" ", "T");
    at = new Date(/(Z|[+-]\d{2}(:?\d{2})?)$/i.test(iso) ? iso : `${iso}Z`);
    // A time names its whole last unit, as a date names its whole day: 09:30 is up to 09:30:59.999 and
    // 09:30:10 up to 09:30:10.999, so the time `list` prints (whole seconds) chooses that backup.
    const [, seconds, fraction] = DATE_TIME.exec(t) ?? [];
    if (fraction === undefined) at = new Date(at.getTime() + (seconds === undefined ? 59_999 : 999));
  } else if (DURATION.test(t)) at = durationStart(parseDuration(t, origin), now);
  else throw usageError(`${origin} '${text}' is not a time`, hint);
  if (Number.isNaN(at.getTime())) throw usageError(`${origin} '${text}' is not a valid time`, hint);
  return at;
}

/** Formats a time as ISO UTC without milliseconds. Pure. */
function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * The newest of `backups` taken at or before `at`; of several with that time, the last in
 * `backups` (callers list them oldest first, so a store's two backups named with the same second,
 * dated by that second, give the newer, lib/store/remotelayout.ts). Pure. Throws a usage error when there are no
 * backups, or when every backup is newer than `at` (the message names the first backup's time).
 */
export function chooseAsOf<T extends Dated>(backups: readonly T[], at: Date, where: string): T {
  const valid = backups.filter((b) => !Number.isNaN(b.createdAt.getTime()));
  if (valid.length === 0) {
    throw usageError(
      `no backups in ${where} to choose from`,
      "run 'backup.ts backup' first, or point --out (and --env) at the backup root",
    );
  }
  let best: T | undefined;
  let first = valid[0];
  for (const b of valid) {
    if (b.createdAt.getTime() < first.createdAt.getTime()) first = b;
    if (b.createdAt.getTime() > at.getTime()) continue;
    if (!best || b.createdAt.getTime() >= best.createdAt.getTime()) best = b;
  }
  if (!best) {
    throw usageError(
      `no backup in ${where} was taken at or before ${isoSeconds(at)}`,
      `the first backup there (${first.label}) is from ${
        isoSeconds(first.createdAt)
      }; give a later time, or see 'backup.ts list'`,
    );
  }
  return best;
}
