/**
 * The `--dry-run` view of a backup plan: schemas, tables and the files each would produce, and what
 * the backup cannot capture as far as it is known before dumping. Pure. Names are shown with control
 * characters escaped (file paths are encoded already).
 * @module
 */
import { type BackupPlan, planTotals } from "./plan.ts";
import { escapeControl } from "../base/output.ts";

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
  for (const k of plan.skipped) out.push(escapeControl(`skip ${k.schema}.${k.table}: ${k.reason}`));
  for (const k of plan.skippedSchemas) out.push(escapeControl(`skip schema ${k.schema}: ${k.reason}`));
  for (const n of plan.notCaptured) out.push(escapeControl(`not captured: ${n.kind} ${n.name}: ${n.reason}`));
  return out.join("\n");
}
