/**
 * The restore plan as text: printed before a restore, and alone for `--dry-run`. Every name and
 * note it quotes comes from the backup or the target and is shown with its control characters
 * escaped (lib/base/output.ts), so the plan's only line breaks are its own: a schema named with a
 * line break cannot add a line that looks like a step. Schemas and tables are written as SQL (and
 * `--table`) takes them: quoted when they need it, `U&"…"` with a control character. Pure.
 * @module
 */
import { escapeControl as esc } from "../base/output.ts";
import { rowCount } from "../base/size.ts";
import { sqlIdent, sqlQualified } from "../pg/ident.ts";
import type { PlannedTable, RestorePlan, TableAction } from "./plan.ts";
import { formatCatalogPlan } from "./catalog.ts";

const ACTION_WORDS: Record<TableAction, string> = {
  create: "create + load",
  load: "load rows",
  recreate: "DROP, recreate + load",
  "empty-load": "DELETE rows, load",
  keep: "leave as is",
  refuse: "REFUSED",
  skip: "SKIPPED",
  merge: "merge rows",
};

function actionWord(p: PlannedTable, plan: RestorePlan): string {
  if (plan.schemaOnly && p.action === "create") return "create";
  if (plan.schemaOnly && p.action === "recreate") return "DROP, recreate";
  return ACTION_WORDS[p.action];
}

/** The plan as text (printed before a restore, and alone for `--dry-run`). */
export function formatRestorePlan(plan: RestorePlan, ctx: { from: string; target: string }): string {
  const out: string[] = [];
  const what = plan.dataOnly ? "data only" : plan.schemaOnly ? "definitions only" : "definitions and data";
  out.push(`restore ${esc(ctx.from)} into ${esc(ctx.target)} (${what})`);
  if (plan.roles) out.push("  roles: roles.sql (roles that already exist are left as they are)");
  const created = plan.extensions.filter((e) => e.action === "create");
  const present = plan.extensions.filter((e) => e.action !== "create");
  if (created.length > 0) {
    out.push(
      `  extensions to create: ${created.map((e) => `${esc(e.name)} (in ${esc(e.schema)})`).join(", ")}`,
    );
  }
  if (present.length > 0) {
    out.push(
      `  extensions already in the target (left as they are): ${present.map((e) => esc(e.name)).join(", ")}`,
    );
  }
  for (const s of plan.schemas) {
    const how = s.mode === "data"
      ? "Supabase-managed, exists: rows only"
      : s.exists
      ? "exists: objects created in it"
      : "created";
    out.push(`  schema ${sqlIdent(s.name)} (${how})`);
    for (const t of s.tables) {
      out.push(`    ${sqlIdent(t.table.name)}: ${actionWord(t, plan)}${rowsNote(t, plan)}`);
    }
  }
  if (plan.tables.length > 0) {
    out.push(plan.kind === "tables" ? "  tables:" : "  tables restored on their own:");
    for (const t of plan.tables) {
      out.push(`    ${sqlQualified(t.schema, t.table.name)}: ${actionWord(t, plan)}${rowsNote(t, plan)}`);
    }
  }
  out.push(...formatCatalogPlan(plan.catalog).map(esc));
  for (const n of plan.notes) out.push(`  note: ${esc(n)}`);
  return out.join("\n");
}

function rowsNote(t: PlannedTable, plan: RestorePlan): string {
  if (t.action === "refuse") return ` (${esc(t.reason)})`;
  if (t.action === "skip") return ` (${rowCount(t.table.rows)}; ${esc(t.reason)})`;
  const cols = t.columns ? `; shared columns only` : "";
  if (cols && !plan.schemaOnly) return ` (${rowCount(t.table.rows)}${cols})`;
  if (plan.schemaOnly || t.action === "keep" || t.table.kind === "p" || t.table.rows === null) return "";
  return ` (${rowCount(t.table.rows)})`;
}

/** One table's decision as `--json` gives it. */
export interface TableDecisionJson {
  schema: string;
  table: string;
  action: TableAction;
  reason: string;
  rows: number | null;
  /** Rows load by the columns backup and target share: those not restored, those left to defaults. */
  columns?: { onlyBackup: string[]; onlyTarget: string[] };
}

/**
 * The plan's decisions as `restore --json` returns them (the same as the text plan, as data):
 * each schema and how it is restored, each extension, each table with its action and reason (and
 * the columns left out of a shared-column load), tables left out by `--exclude-table`, and the
 * notes. Names stay as they are (JSON escapes control characters itself). Pure.
 */
export function planJson(plan: RestorePlan): Record<string, unknown> {
  const table = (t: PlannedTable): TableDecisionJson => ({
    schema: t.schema,
    table: t.table.name,
    action: t.action,
    reason: t.reason,
    rows: t.table.rows,
    ...(t.columns ? { columns: { onlyBackup: t.columns.onlyBackup, onlyTarget: t.columns.onlyTarget } } : {}),
  });
  return {
    kind: plan.kind,
    roles: plan.roles,
    what: plan.dataOnly ? "data" : plan.schemaOnly ? "definitions" : "definitions and data",
    schemas: plan.schemas.map((s) => ({
      name: s.name,
      // rows-only: a Supabase-managed schema the target has (its definitions are the target's)
      mode: s.mode === "data" ? "rows-only" : s.exists ? "into-existing" : "create",
    })),
    extensions: plan.extensions.map((e) => ({
      name: e.name,
      schema: e.schema,
      action: e.action,
      ...(e.targetSchema && e.targetSchema !== e.schema ? { targetSchema: e.targetSchema } : {}),
    })),
    tables: [...plan.schemas.flatMap((s) => s.tables), ...plan.tables].map(table),
    excluded: plan.excluded.map((x) => ({ schema: x.schema, table: x.table.name })),
    notes: plan.notes,
    // catalog.sql's part: each database-level object's decision (not the entries it runs)
    ...(plan.catalog
      ? {
        catalog: {
          file: plan.catalog.file,
          objects: plan.catalog.objects.map(({ entries: _, ...o }) => o),
          userMappings: plan.catalog.userMappings,
          notes: plan.catalog.notes,
        },
      }
      : {}),
  };
}

/**
 * The hint for a restore that failed because an object it creates uses an object of a schema the
 * restore leaves out (`--exclude-schema`, or not selected by `--schema`/`--table`) and the target does
 * not have: a view of `a` on `b.v` with `--exclude-schema b`. `server` is psql's error output;
 * `left` the backup's schemas that are neither restored nor in the target. Only a name of `left` is
 * quoted back, never the server's text; undefined when the error is another one.
 */
export function leftOutSchemaHint(server: string, left: ReadonlySet<string>): string | undefined {
  const m = server.match(/ERROR: {1,2}(?:relation|type|schema|function|operator) ([\s\S]*?) does not exist/);
  if (!m) return undefined;
  const named = m[1].startsWith('"') ? m[1].slice(1).replace(/"$/, "") : m[1];
  const schema = [...left].find((s) => named === s || named.startsWith(`${s}.`));
  if (schema === undefined) return undefined;
  return `an object of the restore uses schema ${
    sqlIdent(schema)
  }, which this restore leaves out and the target does not have: restore that schema too (or create what is used in the target first), then run the restore again`;
}

/** Where a restore is, for what an interruption says about its target. */
export type RestorePhase = "running" | "committing" | "committed";

/**
 * What a signal leaves behind, for `interrupted by SIGINT; <note>`: true at each phase of the one
 * transaction. `drill`: the restore of `verify --drill`; `storage`: Storage files follow (`--storage`).
 * Pure.
 */
export function interruptNote(phase: RestorePhase, o: { drill?: boolean; storage?: boolean } = {}): string {
  const target = o.drill ? "the drill target" : "the target";
  if (phase === "running") {
    return `nothing was changed in ${target}: the restore runs in one transaction, which was rolled back`;
  }
  if (phase === "committing") {
    return `the signal came as the restore was committing: ${target} holds either all of the restore or ` +
      `none of it (one transaction); ${
        o.drill ? "drop it, or drill into a new database" : "'restore --dry-run' shows which"
      }`;
  }
  if (o.drill) return "the drill target holds the restored backup: drop it, or drill into a new database";
  return o.storage
    ? "the database restore was committed before the signal (all of it); Storage files uploaded before it " +
      "stay: run the restore again with --storage-only to finish them"
    : "the restore was committed before the signal: the target holds all of it";
}
