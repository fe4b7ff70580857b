/**
 * Showing a comparison: the text report for people, the JSON document for programs, and each
 * changed row as SQL (`INSERT`/`DELETE`/`UPDATE` that turn FROM's rows into TO's) or as a JSON
 * object. Pure.
 * @module
 */
import { sqlIdent, sqlQualified } from "../pg/ident.ts";
import { decodeField } from "./copy.ts";
import type { BackupDiff, RowContext, TableDiff } from "./compare.ts";
import type { RowChange } from "./rows.ts";
import type { SchemaChange } from "./schema.ts";
import { secondOf, type TimelineEntry } from "./timeline.ts";
import { formatBytes, rowCount } from "../base/size.ts";
import { escapeControl } from "../base/output.ts";

// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

function hex4(c: string): string {
  return c.charCodeAt(0).toString(16).padStart(4, "0");
}

/**
 * A SQL literal for a value: `NULL`, `'text'`, or `E'…'` with escapes when the value holds a
 * backslash or a control character (so the SQL stays on one line and means the same whatever
 * `standard_conforming_strings` is). Pure.
 */
export function sqlLiteral(v: string | null): string {
  if (v === null) return "NULL";
  if (!v.includes("\\") && !CONTROL.test(v)) return `'${v.replaceAll("'", "''")}'`;
  let out = "";
  for (const c of v) {
    if (c === "\\") out += "\\\\";
    else if (c === "'") out += "''";
    else if (c === "\n") out += "\\n";
    else if (c === "\r") out += "\\r";
    else if (c === "\t") out += "\\t";
    else if (CONTROL.test(c)) out += `\\x${hex4(c).slice(2)}`;
    else out += c;
  }
  return `E'${out}'`;
}

function values(columns: string[], fields: string[]): Map<string, string | null> {
  const m = new Map<string, string | null>();
  columns.forEach((c, i) => m.set(c, decodeField(fields[i] ?? "\\N")));
  return m;
}

function where(ctx: RowContext, from: Map<string, string | null>, q: string): string {
  if (ctx.key.length > 0) {
    return `WHERE ${ctx.key.map((k) => `${sqlIdent(k)} = ${sqlLiteral(from.get(k) ?? null)}`).join(" AND ")}`;
  }
  // No key: one row equal to the old one, compared as text (works for every type, json included).
  const cond = [...from].map(([c, v]) => `${sqlIdent(c)}::text IS NOT DISTINCT FROM ${sqlLiteral(v)}`)
    .join(" AND ");
  return `WHERE ctid = (SELECT ctid FROM ${q} WHERE ${cond || "true"} LIMIT 1)`;
}

/** One row change as a SQL statement that turns FROM's row into TO's. Pure. */
export function rowSql(ctx: RowContext, c: RowChange): string {
  const q = `${sqlIdent(ctx.schema)}.${sqlIdent(ctx.table)}`;
  if (c.kind === "added") {
    const v = values(ctx.toColumns, c.to!);
    return `INSERT INTO ${q} (${[...v.keys()].map(sqlIdent).join(", ")}) VALUES (${
      [...v.values()].map(sqlLiteral).join(", ")
    });`;
  }
  const before = values(ctx.fromColumns, c.from!);
  if (c.kind === "removed") return `DELETE FROM ${q} ${where(ctx, before, q)};`;
  const after = values(ctx.toColumns, c.to!);
  const sets = [...after].filter(([col, v]) => before.has(col) && before.get(col) !== v)
    .map(([col, v]) => `${sqlIdent(col)} = ${sqlLiteral(v)}`);
  return `UPDATE ${q} SET ${sets.join(", ")} ${where(ctx, before, q)};`;
}

/** One row change as a JSON-ready object: table, change, key values and the row(s). Pure. */
export function rowJson(ctx: RowContext, c: RowChange): Record<string, unknown> {
  const before = c.from ? values(ctx.fromColumns, c.from) : undefined;
  const after = c.to ? values(ctx.toColumns, c.to) : undefined;
  const keyed = before ?? after!;
  return {
    table: `${ctx.schema}.${ctx.table}`,
    schema: ctx.schema,
    name: ctx.table,
    change: c.kind,
    ...(ctx.key.length ? { key: Object.fromEntries(ctx.key.map((k) => [k, keyed.get(k) ?? null])) } : {}),
    ...(before ? { from: Object.fromEntries(before) } : {}),
    ...(after ? { to: Object.fromEntries(after) } : {}),
  };
}

function clip(s: string, n = 100): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/** One schema change as a line of text. Pure. */
export function describeSchemaChange(c: SchemaChange): string {
  if (c.kind === "rls") {
    return `row level security ${c.name === "forced" ? "forcing " : ""}${
      c.change === "added" ? "on" : "off"
    }`;
  }
  if (c.kind === "other") return `${c.change === "added" ? "+" : "-"} ${escapeControl(clip(c.name))}`;
  const name = sqlIdent(c.name);
  const show = (s: string, n?: number) => escapeControl(clip(s, n));
  if (c.change === "added") return `${c.kind} ${name} added${c.kind === "column" ? `: ${show(c.to!)}` : ""}`;
  if (c.change === "removed") {
    return `${c.kind} ${name} removed${c.kind === "column" ? ` (was ${show(c.from!)})` : ""}`;
  }
  return c.kind === "column"
    ? `column ${name} changed: ${show(c.from!, 60)} -> ${show(c.to!, 60)}`
    : `${c.kind} ${name} changed`;
}

function rowsLine(t: TableDiff): string | undefined {
  const r = t.rows;
  if (!r || r.added + r.removed + r.changed === 0) return undefined;
  const by = r.key.length ? `by ${r.key.map(sqlIdent).join(", ")}` : "whole rows, no primary key";
  return `rows: ${r.added} added, ${r.removed} removed, ${r.changed} changed (${by}; ${r.fromRows} -> ${r.toRows})`;
}

/** Counts of tables by status. Pure. */
export function diffSummary(d: BackupDiff): Record<TableDiff["status"], number> {
  const s = { unchanged: 0, changed: 0, added: 0, removed: 0, unreadable: 0 };
  for (const t of d.tables) s[t.status]++;
  return s;
}

/** The text report: FROM and TO, one block per table that is not unchanged, and a total line. Pure. */
export function formatDiff(d: BackupDiff): string {
  const out = [
    escapeControl(`from ${d.from.label} (${d.from.createdAt})`),
    escapeControl(`to   ${d.to.label} (${d.to.createdAt})`),
  ];
  for (const t of d.tables) {
    if (t.status === "unchanged") continue;
    const name = qualifiedName(t.schema, t.table);
    if (t.status === "added") out.push(`added      ${name} (${rowCount(t.toRows)})`);
    else if (t.status === "removed") out.push(`removed    ${name} (${rowCount(t.fromRows)})`);
    else if (t.status === "unreadable") out.push(`unreadable ${name} (${escapeControl(t.note ?? "")})`);
    else {
      out.push(`changed    ${name}`);
      for (const c of t.schemaChanges) out.push(`             ${describeSchemaChange(c)}`);
      const rows = rowsLine(t);
      if (rows) out.push(`             ${rows}`);
    }
  }
  const s = diffSummary(d);
  const parts = [
    `${s.unchanged} unchanged`,
    `${s.changed} changed`,
    `${s.added} added`,
    `${s.removed} removed`,
  ];
  if (s.unreadable) parts.push(`${s.unreadable} unreadable`);
  out.push(`${d.tables.length} table${d.tables.length === 1 ? "" : "s"}: ${parts.join(", ")}`);
  return out.join("\n");
}

/** The JSON document (without row changes, which the command streams after it). Pure. */
export function diffJson(d: BackupDiff): Record<string, unknown> {
  return {
    from: d.from,
    to: d.to,
    equal: d.equal,
    summary: diffSummary(d),
    tables: d.tables.map((t) => ({
      table: `${t.schema}.${t.table}`,
      schema: t.schema,
      name: t.table,
      status: t.status,
      ...(t.note ? { note: t.note } : {}),
      fromRows: t.fromRows,
      toRows: t.toRows,
      schemaChanges: t.schemaChanges,
      ...(t.rows ? { rows: t.rows } : {}),
    })),
  };
}

/**
 * A table's name as the text reports show it: quoted as PostgreSQL needs it (`Sales "EU"."a.b"`
 * would be ambiguous), and as `U&"…"` with a control character (lib/pg/ident.ts sqlQualified), so
 * that a name with a line break stays on its one line, cannot forge another, and is shown the way
 * `--table` and the restore's plan and hints take it. Pure.
 */
export function qualifiedName(schema: string, table: string): string {
  return sqlQualified(schema, table);
}

/**
 * The JSON document of `history --table … --json`: the table as `schema` and `name` (as `diff --json`
 * gives them; `table`, `schema.name` joined, stays for scripts that read it, but is ambiguous for names
 * with dots), the root, the counts and the changes. Pure.
 */
export function timelineJson(
  q: { schema: string; table: string },
  root: string,
  t: { entries: readonly TimelineEntry[]; backups: number; present: number },
): Record<string, unknown> {
  return {
    table: `${q.schema}.${q.table}`,
    schema: q.schema,
    name: q.table,
    root,
    backups: t.backups,
    present: t.present,
    changes: t.entries,
  };
}

/**
 * The text of `history --table`: one line per backup in which the table changed, its time to the
 * second, or to the millisecond when another backup was taken in the same second (`sharedSeconds`),
 * so that the time printed, given to `diff` or `restore --as-of`, chooses that backup. Pure.
 */
export function formatTimeline(
  table: string,
  t: {
    entries: readonly TimelineEntry[];
    backups: number;
    present: number;
    sharedSeconds?: ReadonlySet<string>;
  },
): string {
  const head = `${table}: ${t.entries.length} change${
    t.entries.length === 1 ? "" : "s"
  } in ${t.backups} backup${t.backups === 1 ? "" : "s"} (the table is in ${t.present})`;
  const rows = [["CREATED", "CHANGE", "ROWS", "SIZE", "BACKUP"]];
  for (const e of t.entries) {
    rows.push([
      t.sharedSeconds?.has(secondOf(e.createdAt)) ? e.createdAt : secondOf(e.createdAt),
      e.change,
      e.rows === null ? "-" : String(e.rows),
      e.bytes === null ? "-" : formatBytes(e.bytes),
      escapeControl(e.label),
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) =>
    r.map((c, i) => (i === 2 || i === 3 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  ").trimEnd()
  );
  return [head, ...lines].join("\n");
}
