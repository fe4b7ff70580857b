/**
 * Retention: which archives a policy keeps, restic-style. Pure: it takes a list of archives, a
 * policy and a clock value, and returns keep or remove with the reasons for each. It never sees
 * `latest/`, which no policy can remove.
 *
 * Calendar buckets (day, ISO week, month) are taken in UTC, the time zone of the archive names.
 * @module
 */
import { usageError } from "../base/errors.ts";

/** A `--keep-within` duration: its text and its parts. */
export interface Duration {
  text: string;
  hours: number;
  days: number;
  months: number;
  years: number;
}

/** A retention policy; unset rules keep nothing by themselves. */
export interface RetentionPolicy {
  /** Keep the N newest archives. */
  keepLast?: number;
  /** Keep the newest archive of each of the last N days that have archives. */
  keepDaily?: number;
  /** Keep the newest archive of each of the last N ISO weeks that have archives. */
  keepWeekly?: number;
  /** Keep the newest archive of each of the last N months that have archives. */
  keepMonthly?: number;
  /** Keep every archive created within this duration before now. */
  keepWithin?: Duration;
}

/** Retention as a config file writes it (`retention` of a database; `keepWithin` still text). */
export interface RetentionConfig {
  keepLast?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepWithin?: string;
}

/** One archive as retention sees it. */
export interface RetentionInput {
  name: string;
  /** Its creation time; an invalid date means unknown (such an archive is kept). */
  createdAt: Date;
}

/** The decision for one archive. */
export interface RetentionDecision {
  name: string;
  createdAt: Date;
  keep: boolean;
  /** Why it is kept (empty when it is removed). */
  reasons: string[];
}

/**
 * The policy a `backup --commit` (and so the central workflow) applies when none is given: the 7
 * newest archives whatever their day (a backup before each deploy stays, however many a day), and
 * 14 daily, 8 weekly and 12 monthly ones: about a year of history in at most 41 archives, which
 * keeps a git tree, a full clone and a GitHub listing small. `--keep-all` turns it off.
 */
export const DEFAULT_GIT_RETENTION: Readonly<RetentionPolicy> = Object.freeze({
  keepLast: 7,
  keepDaily: 14,
  keepWeekly: 8,
  keepMonthly: 12,
});

/**
 * The retention of one backup run (pure): the flags' policy, else the config file's, else with
 * `--commit` {@link DEFAULT_GIT_RETENTION} unless `keepAll`; undefined keeps every archive.
 */
export function runPolicy(
  o: { flags?: RetentionPolicy; config?: RetentionPolicy; commit: boolean; keepAll: boolean },
): RetentionPolicy | undefined {
  if (o.keepAll) return undefined;
  return o.flags ?? o.config ?? (o.commit ? { ...DEFAULT_GIT_RETENTION } : undefined);
}

/** The flags a policy is made of, for hints. */
export const POLICY_FLAGS =
  "--keep-last N, --keep-daily N, --keep-weekly N, --keep-monthly N, --keep-within 14d";

/**
 * Parses a duration such as `36h`, `14d`, `2w`, `6m`, `1y` or a sum like `1y6m`. Units: h hours,
 * d days, w weeks, m months, y years. Throws a usage error naming `origin` on junk or zero.
 */
export function parseDuration(text: string, origin = "--keep-within"): Duration {
  const hint = "use a number and a unit h, d, w, m or y: 36h, 14d, 2w, 6m, 1y (or 1y6m)";
  const t = text.trim();
  if (!/^(\d+[hdwmy])+$/i.test(t)) throw usageError(`${origin} '${text}' is not a duration`, hint);
  const d: Duration = { text: t, hours: 0, days: 0, months: 0, years: 0 };
  for (const [, n, u] of t.matchAll(/(\d+)([hdwmy])/gi)) {
    const v = Number(n);
    switch (u.toLowerCase()) {
      case "h":
        d.hours += v;
        break;
      case "d":
        d.days += v;
        break;
      case "w":
        d.days += 7 * v;
        break;
      case "m":
        d.months += v;
        break;
      default:
        d.years += v;
    }
  }
  if (d.hours + d.days + d.months + d.years === 0) {
    throw usageError(`${origin} must be longer than zero, got '${text}'`, hint);
  }
  if (![d.hours, d.days, d.months, d.years].every(Number.isSafeInteger) || d.years > 10_000) {
    throw usageError(`${origin} '${text}' is too long`, hint);
  }
  return d;
}

/** The earliest time `d` before `now` (calendar months and years in UTC). */
export function durationStart(d: Duration, now: Date): Date {
  const t = new Date(now.getTime());
  t.setUTCFullYear(t.getUTCFullYear() - d.years, t.getUTCMonth() - d.months);
  return new Date(t.getTime() - d.days * 86_400_000 - d.hours * 3_600_000);
}

/**
 * The policy of a config file's `retention` entry (its values already checked by the config
 * loader); undefined when it keeps nothing. `origin` names the entry in an error.
 */
export function policyFromConfig(
  r: RetentionConfig,
  origin = "retention.keepWithin",
): RetentionPolicy | undefined {
  const { keepWithin, ...counts } = r;
  const policy: RetentionPolicy = { ...counts };
  if (keepWithin !== undefined) policy.keepWithin = parseDuration(keepWithin, origin);
  return isEmptyPolicy(policy) ? undefined : policy;
}

/** True when the policy has no rule that keeps anything. */
export function isEmptyPolicy(p: RetentionPolicy | undefined): boolean {
  return !p ||
    (!p.keepLast && !p.keepDaily && !p.keepWeekly && !p.keepMonthly && p.keepWithin === undefined);
}

/** The policy in flag form, e.g. `--keep-last 3 --keep-within 14d`. */
export function describePolicy(p: RetentionPolicy): string {
  const parts: string[] = [];
  if (p.keepLast) parts.push(`--keep-last ${p.keepLast}`);
  if (p.keepDaily) parts.push(`--keep-daily ${p.keepDaily}`);
  if (p.keepWeekly) parts.push(`--keep-weekly ${p.keepWeekly}`);
  if (p.keepMonthly) parts.push(`--keep-monthly ${p.keepMonthly}`);
  if (p.keepWithin) parts.push(`--keep-within ${p.keepWithin.text}`);
  return parts.join(" ");
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** The UTC day of a time: `2025-01-31`. */
export function dayKey(d: Date): string {
  return d.toISOString().slice(0, 10);
}

/** The ISO 8601 week of a time (UTC): `2025-W01`. Weeks start on Monday; week 1 holds 4 January. */
export function isoWeekKey(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const weekday = t.getUTCDay() || 7; // Monday 1 … Sunday 7
  t.setUTCDate(t.getUTCDate() + 4 - weekday); // the Thursday of this week decides the year
  const year = t.getUTCFullYear();
  const week = Math.ceil(((t.getTime() - Date.UTC(year, 0, 1)) / 86_400_000 + 1) / 7);
  return `${year}-W${pad(week)}`;
}

/** The UTC month of a time: `2025-01`. */
export function monthKey(d: Date): string {
  return d.toISOString().slice(0, 7);
}

/**
 * Applies `policy` to `archives` at time `now`. Returns one decision per archive, newest first.
 * - keep-last N keeps the N newest;
 * - keep-daily/weekly/monthly N keep the newest archive of each of the last N days/ISO weeks/
 *   months that have archives;
 * - keep-within D keeps every archive created at or after `now - D` (and any from the future).
 * Safety rails: the newest archive is always kept, and an archive with an unknown time is kept.
 * Throws a usage error ("prune needs a policy") when the policy has no rule.
 */
export function applyPolicy(
  archives: readonly RetentionInput[],
  policy: RetentionPolicy | undefined,
  now: Date,
): RetentionDecision[] {
  if (!policy || isEmptyPolicy(policy)) {
    throw usageError("prune needs a policy", `give at least one of ${POLICY_FLAGS}`);
  }
  for (const [k, v] of Object.entries(policy)) {
    if (typeof v === "number" && (!Number.isSafeInteger(v) || v < 0)) {
      throw usageError(`retention ${k} must be a whole number of at least 0, got ${v}`);
    }
  }
  const sorted = [...archives].sort((a, b) => {
    const ta = a.createdAt.getTime(), tb = b.createdAt.getTime();
    const va = Number.isNaN(ta), vb = Number.isNaN(tb);
    if (va !== vb) return va ? 1 : -1; // unknown times last
    if (!va && ta !== tb) return tb - ta;
    return a.name < b.name ? 1 : a.name > b.name ? -1 : 0;
  });
  const buckets: { key: (d: Date) => string; left: number; label: string; last?: string }[] = [];
  if (policy.keepDaily) buckets.push({ key: dayKey, left: policy.keepDaily, label: "daily" });
  if (policy.keepWeekly) buckets.push({ key: isoWeekKey, left: policy.keepWeekly, label: "weekly" });
  if (policy.keepMonthly) buckets.push({ key: monthKey, left: policy.keepMonthly, label: "monthly" });
  const withinStart = policy.keepWithin ? durationStart(policy.keepWithin, now).getTime() : undefined;
  let lastLeft = policy.keepLast ?? 0;
  let position = 0;

  return sorted.map((a, i) => {
    const reasons: string[] = [];
    const t = a.createdAt.getTime();
    if (Number.isNaN(t)) {
      return {
        name: a.name,
        createdAt: a.createdAt,
        keep: true,
        reasons: ["unknown time (kept to be safe)"],
      };
    }
    position++;
    if (lastLeft > 0) {
      reasons.push(`last ${position} of ${policy.keepLast}`);
      lastLeft--;
    }
    for (const b of buckets) {
      const key = b.key(a.createdAt);
      if (b.left > 0 && key !== b.last) {
        reasons.push(`${b.label} ${key}`);
        b.last = key;
        b.left--;
      }
    }
    if (withinStart !== undefined && t >= withinStart) reasons.push(`within ${policy.keepWithin!.text}`);
    if (i === 0 && reasons.length === 0) reasons.push("newest archive (always kept)");
    return { name: a.name, createdAt: a.createdAt, keep: reasons.length > 0, reasons };
  });
}

/**
 * Formats prune decisions for people (pure): a heading with the counts, then one line per
 * archive, `keep` with its reasons or `remove`.
 */
export function formatDecisions(
  root: string,
  policy: RetentionPolicy,
  decisions: readonly RetentionDecision[],
  dryRun: boolean,
): string {
  const kept = decisions.filter((d) => d.keep).length;
  const removed = decisions.length - kept;
  const lines = [
    `${root} (${describePolicy(policy)}): keep ${kept}, ${dryRun ? "would remove" : "removed"} ${removed}` +
    (dryRun ? " (dry run, nothing changed)" : ""),
  ];
  if (decisions.length === 0) lines.push(`  no archives in ${root}/archive; latest/ is never pruned`);
  const width = Math.max(0, ...decisions.map((d) => d.name.length));
  for (const d of decisions) {
    lines.push(`${d.keep ? "keep  " : "remove"}  ${d.name.padEnd(width)}  ${d.reasons.join(", ")}`.trimEnd());
  }
  return lines.join("\n");
}

/** The JSON form of prune decisions (pure). */
export function decisionsJson(
  root: string,
  policy: RetentionPolicy,
  decisions: readonly RetentionDecision[],
  dryRun: boolean,
): Record<string, unknown> {
  return {
    root,
    policy: describePolicy(policy),
    dryRun,
    kept: decisions.filter((d) => d.keep).length,
    removed: decisions.filter((d) => !d.keep).length,
    archives: decisions.map((d) => ({
      name: d.name,
      createdAt: Number.isNaN(d.createdAt.getTime()) ? null : d.createdAt.toISOString(),
      keep: d.keep,
      reasons: d.reasons,
    })),
  };
}
