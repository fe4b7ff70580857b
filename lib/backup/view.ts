/**
 * The `--dry-run` view of a backup plan: schemas, tables and the files each would produce, and what
 * the backup cannot capture as far as it is known before dumping. Pure. SQL names are shown as the
 * restore shows them ({@link sqlIdent}: quoted when needed, `U&"…"` for a non-printing character),
 * so `x."a.b"` and `x.a.b` differ; reasons have control characters escaped (file paths are encoded
 * already).
 * @module
 */
import { type BackupPlan, planTotals } from "./plan.ts";
import { escapeControl } from "../base/output.ts";
import { sqlIdent, sqlQualified } from "../pg/ident.ts";
import type { ManifestNotCaptured, ManifestSkipped } from "../store/manifest.ts";

/**
 * A skipped table as SQL names it, `schema.table` each part as {@link sqlIdent} writes it; a whole
 * schema (table `*`, as the manifest records one) as `schema.*`. Pure.
 */
export function skippedName(k: Pick<ManifestSkipped, "schema" | "table">): string {
  return k.table === "*" ? `${sqlIdent(k.schema)}.*` : sqlQualified(k.schema, k.table);
}

/**
 * What a backup could not capture, `KIND name`: a database-level object or subscription by its name
 * as {@link sqlIdent} writes it; a user mapping (`FOR user SERVER server`, its parts already written
 * so) and the count of large objects as recorded, with control characters escaped. Pure.
 */
export function notCapturedName(n: Pick<ManifestNotCaptured, "kind" | "name">): string {
  const phrase = n.kind === "USER MAPPING" || n.kind === "LARGE OBJECT";
  return `${escapeControl(n.kind)} ${phrase ? escapeControl(n.name) : sqlIdent(n.name)}`;
}

/** Formats a plan as text, or as JSON with `json`. */
export function formatPlan(
  plan: BackupPlan,
  ctx: { environment?: string; root: string; connection: string; json: boolean },
): string {
  if (ctx.json) {
    return JSON.stringify(
      {
        dryRun: true,
        environment: ctx.environment ?? null,
        root: ctx.root,
        connection: ctx.connection,
        roles: plan.roles,
        catalog: plan.catalog.file,
        schemas: plan.schemas.map((s) => ({
          name: s.name,
          dump: s.dump,
          tables: s.tables.map((t) => ({ name: t.name, schemaFile: t.schemaFile, dataFile: t.dataFile })),
        })),
        skipped: plan.skipped,
        skippedSchemas: plan.skippedSchemas,
        notCaptured: plan.notCaptured,
      },
      null,
      2,
    );
  }
  const out: string[] = [];
  const { tables } = planTotals(plan);
  out.push(
    `Dry run${
      ctx.environment ? ` (${ctx.environment})` : ""
    }: ${plan.schemas.length} schemas, ${tables} tables from ${ctx.connection}`,
  );
  out.push(`would write into ${ctx.root}/latest:`, `  ${plan.roles}`, `  ${plan.catalog.file}`);
  for (const s of plan.schemas) {
    out.push(`  ${s.dump}${s.managed ? "  (Supabase-managed schema)" : ""}`);
    for (const t of s.tables) out.push(`    ${t.schemaFile}`, `    ${t.dataFile}`);
  }
  for (const k of plan.skipped) out.push(`skip ${skippedName(k)}: ${escapeControl(k.reason)}`);
  for (const k of plan.skippedSchemas) {
    out.push(`skip schema ${sqlIdent(k.schema)}: ${escapeControl(k.reason)}`);
  }
  for (const n of plan.notCaptured) {
    out.push(`not captured: ${notCapturedName(n)}: ${escapeControl(n.reason)}`);
  }
  return out.join("\n");
}
