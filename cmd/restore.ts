/**
 * The `restore` command: restore a backup, whole or by schema or table, into --target-url.
 * @module
 */
import { boolValue, intValue, listValue, optionalString, type ParsedArgs } from "../lib/cli/flags.ts";
import { backupFrom, connectionSettings, targetUrl } from "../lib/cli/args.ts";
import { describeDb } from "../lib/pg/url.ts";
import { ExitCode } from "../lib/base/errors.ts";
import { parseQualifiedName } from "../lib/pg/ident.ts";
import { setInterruptNote } from "../lib/base/interrupt.ts";
import { stderrText, stdoutLine, stdoutText } from "../lib/base/output.ts";
import { restoreBackup, type RestoreResult } from "../lib/restore/restorer.ts";
import type { RestoreRequest } from "../lib/restore/plan.ts";

/** The restore selection from the flags; throws a usage error for a table without a schema. */
export function restoreRequest(args: ParsedArgs): RestoreRequest {
  return {
    schemas: listValue(args, "schema"),
    tables: listValue(args, "table").map((t) => parseQualifiedName(t, "--table")),
    roles: boolValue(args, "roles"),
    dataOnly: boolValue(args, "data-only"),
    schemaOnly: boolValue(args, "schema-only"),
    clean: boolValue(args, "clean"),
    strict: boolValue(args, "strict"),
    excludeTables: listValue(args, "exclude-table").map((t) => parseQualifiedName(t, "--exclude-table")),
    excludeSchemas: listValue(args, "exclude-schema"),
  };
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
  const connection = connectionSettings(args);
  const json = boolValue(args, "json");
  const dryRun = boolValue(args, "dry-run");
  const { dir, label } = await backupFrom(args);
  // The restore prints its plan, several lines, through `log`: stderrText keeps those breaks.
  const log = (text: string) => stderrText(text);
  const r = await restoreBackup({
    backupDir: dir,
    label,
    target,
    request,
    jobs,
    ...connection,
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
    stdoutText(JSON.stringify(
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
    stdoutText(`Dry run: nothing changed.\n${r.planText}`);
  } else {
    stdoutLine(summary(r, label, where));
  }
  return ExitCode.ok;
}
