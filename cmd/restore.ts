/**
 * The `restore` command: restore a backup, whole or by schema or table, into --target-url.
 * @module
 */
import { backupRoot } from "../lib/store/rotation.ts";
import {
  boolValue,
  intValue,
  listValue,
  optionalString,
  type ParsedArgs,
  stringValue,
} from "../lib/cli/flags.ts";
import { type DbUrl, describeDb, parseDbUrl } from "../lib/pg/url.ts";
import { ExitCode, usageError } from "../lib/base/errors.ts";
import { parseQualifiedName } from "../lib/pg/ident.ts";
import { setInterruptNote } from "../lib/base/interrupt.ts";
import { withPgpass } from "../lib/pg/pgpass.ts";
import { redact } from "../lib/base/redact.ts";
import { restoreBackup, type RestoreResult } from "../lib/restore/restorer.ts";
import type { RestoreRequest } from "../lib/restore/plan.ts";
import { resolveFrom } from "../lib/store/listing.ts";

/**
 * Reads --target-url (or $RESTORE_DB_URL). It never falls back to the source database: a missing
 * target is a usage error (exit 2).
 */
export function targetUrl(args: ParsedArgs, env: Record<string, string | undefined>): Promise<DbUrl> {
  const raw = optionalString(args, "target-url");
  if (raw === undefined) {
    throw usageError(
      `'${args.command}' needs a target database: --target-url or $RESTORE_DB_URL`,
      "pass --target-url postgresql://user:pass@host:5432/db of an empty database; the source is never used",
    );
  }
  return withPgpass(
    parseDbUrl(raw, args.origin["target-url"] ?? "--target-url", env),
    env,
    (l) => console.error(l),
  );
}

/** The restore selection from the flags; throws a usage error for a table without a schema. */
export function restoreRequest(args: ParsedArgs): RestoreRequest {
  return {
    schemas: listValue(args, "schema"),
    tables: listValue(args, "table").map((t) => parseQualifiedName(t, "--table")),
    roles: boolValue(args, "roles"),
    dataOnly: boolValue(args, "data-only"),
    schemaOnly: boolValue(args, "schema-only"),
    clean: boolValue(args, "clean"),
  };
}

/** The backup `--from` names, under the root of --out/--env. */
export async function backupFrom(args: ParsedArgs): Promise<{ dir: string; label: string }> {
  const root = backupRoot(stringValue(args, "out"), optionalString(args, "env"));
  return await resolveFrom(root, stringValue(args, "from"));
}

function summary(r: RestoreResult, label: string, target: string): string {
  const secs = (r.durationMs / 1000).toFixed(1);
  const what = r.plan.schemaOnly ? "definitions only" : `${r.tablesLoaded} table(s), ${r.rowsLoaded} row(s)`;
  const warn = r.warnings.length ? `, ${r.warnings.length} warning(s)` : "";
  return `restored ${what} from ${label} into ${target} in ${secs}s${warn}`;
}

/** Runs `backup.ts restore`; returns the exit code. */
export async function run(args: ParsedArgs): Promise<number> {
  setInterruptNote(
    "the target keeps what was committed before the signal (each schema and file is one transaction); " +
      "run the restore again with --clean",
  );
  const env = Deno.env.toObject();
  const request = restoreRequest(args);
  const target = await targetUrl(args, env);
  const jobs = intValue(args, "jobs");
  const connectTimeout = intValue(args, "connect-timeout");
  const retries = intValue(args, "retries");
  const json = boolValue(args, "json");
  const dryRun = boolValue(args, "dry-run");
  const { dir, label } = await backupFrom(args);
  const log = (line: string) => console.error(redact(line));
  const r = await restoreBackup({
    backupDir: dir,
    label,
    target,
    request,
    jobs,
    ipv4: boolValue(args, "ipv4"),
    connectTimeout,
    retries,
    pgBin: optionalString(args, "pg-bin"),
    decode: { identityFile: optionalString(args, "identity-file") },
    dryRun,
    log,
  });
  const where = describeDb(target);
  if (json) {
    const tables = [...r.plan.schemas.flatMap((s) => s.tables), ...r.plan.tables].map((t) => ({
      schema: t.schema,
      table: t.table.name,
      action: t.action,
      reason: t.reason,
      rows: t.table.rows,
    }));
    console.log(JSON.stringify(
      {
        dryRun,
        from: label,
        target: where,
        kind: r.plan.kind,
        roles: r.plan.roles,
        tables,
        notes: r.plan.notes,
        ...(dryRun ? {} : {
          tablesLoaded: r.tablesLoaded,
          rowsLoaded: r.rowsLoaded,
          warnings: r.warnings,
          durationMs: r.durationMs,
        }),
      },
      null,
      2,
    ));
  } else if (dryRun) {
    console.log(redact(`Dry run: nothing changed.\n${r.planText}`));
  } else {
    console.log(redact(summary(r, label, where)));
  }
  return ExitCode.ok;
}
