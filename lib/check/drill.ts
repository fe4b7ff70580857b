/**
 * The drill: restore a whole backup into a scratch database and compare every table's exact row
 * count with the manifest.
 * @module
 */
import { openDb, type Sql } from "../pg/connect.ts";
import { type DbUrl, parseDbUrl } from "../pg/url.ts";
import { type Manifest, readManifest } from "../store/manifest.ts";
import type { BackupSource } from "../store/reader.ts";
import { restoreBackup, type RestoreResult } from "../restore/restorer.ts";
import type { RestoreOptions } from "../restore/context.ts";
import { qualified, sqlQualified } from "../pg/ident.ts";

/** Table counts for the drill. */
export interface DrillResult {
  matched: number;
  total: number;
  mismatches: RowCount[];
  restore: RestoreResult;
}

/**
 * One table's row count: `table` as SQL names it ({@link sqlQualified}: `x."a.b"` is not `"x.a".b`,
 * `U&"…"` for a non-printing character), for messages; `schema` and `name` as they are.
 */
export interface RowCount {
  table: string;
  schema: string;
  name: string;
  expected: number;
  actual: number | null;
  error?: string;
}

/**
 * Exact row counts of every table of `m` in the database behind `sql` (partitioned tables count
 * their partitions; other tables count only their own rows, as the backup did).
 */
export async function countRows(sql: Sql, m: Manifest): Promise<RowCount[]> {
  const out: RowCount[] = [];
  for (const s of m.schemas) {
    for (const t of s.tables) {
      if (t.rows === null) continue;
      const names = { table: sqlQualified(s.name, t.name), schema: s.name, name: t.name };
      try {
        const [{ n }] = await sql.unsafe(
          `select count(*)::bigint as n from ${t.kind === "p" ? "" : "only "}${qualified(s.name, t.name)}`,
        );
        out.push({ ...names, expected: t.rows, actual: Number(n) });
      } catch (e) {
        out.push({ ...names, expected: t.rows, actual: null, error: (e as Error).message.split("\n")[0] });
      }
    }
  }
  return out;
}

/**
 * The drill: restores the whole backup in `backupDir` (roles included) into `target` (a URL or a
 * parsed {@link DbUrl}), an empty scratch database, and compares every table's exact row count with
 * the manifest. Throws like {@link restoreBackup} (the guard refuses a target that already holds the
 * tables); a count mismatch is reported in the result, not thrown.
 */
export async function drill(
  backupDir: BackupSource,
  target: DbUrl | string,
  opts: Omit<RestoreOptions, "backupDir" | "target" | "request" | "dryRun">,
): Promise<DrillResult> {
  if (typeof target === "string") target = parseDbUrl(target, "the drill's target URL");
  const m = await readManifest(backupDir);
  const restore = await restoreBackup({
    ...opts,
    backupDir,
    target,
    request: {
      schemas: [],
      tables: [],
      roles: m.roles !== null,
      dataOnly: false,
      schemaOnly: false,
      clean: false,
    },
  });
  const db = await openDb(target, {
    ipv4: opts.ipv4,
    connectTimeout: opts.connectTimeout,
    retries: opts.retries,
  });
  try {
    const counts = await countRows(db.sql, m);
    const mismatches = counts.filter((c) => c.actual !== c.expected);
    return { matched: counts.length - mismatches.length, total: counts.length, mismatches, restore };
  } finally {
    await db.close();
  }
}
