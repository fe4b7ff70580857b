/**
 * Comparing two backups table by table. Tables whose files have the same SHA-256 in both manifests
 * are unchanged without reading anything; for the others the schema.sql facts are compared
 * (lib/history/schema.ts) and the rows matched by primary key (lib/history/rows.ts).
 * @module
 */
import { usageError } from "../base/errors.ts";
import { type QualifiedName, sqlQualified } from "../pg/ident.ts";
import type { Manifest, ManifestTable } from "../store/manifest.ts";
import type { BackupView } from "./backups.ts";
import { streamLines } from "./copy.ts";
import { type DataSide, diffRows, type RowChange, type RowDiff } from "./rows.ts";
import { compareFacts, parseTableSchema, type SchemaChange, type TableFacts } from "./schema.ts";

/** What happened to one table between FROM and TO. */
export interface TableDiff {
  schema: string;
  table: string;
  status: "unchanged" | "changed" | "added" | "removed" | "unreadable";
  /** Why a table could not be compared (status `unreadable`). */
  note?: string;
  /** Row counts from the manifests. */
  fromRows: number | null;
  toRows: number | null;
  schemaChanges: SchemaChange[];
  /** Present when the rows were read and compared. */
  rows?: Omit<RowDiff, "fromColumns" | "toColumns">;
}

/** The whole comparison. */
export interface BackupDiff {
  from: { label: string; createdAt: string };
  to: { label: string; createdAt: string };
  tables: TableDiff[];
  equal: boolean;
}

/** Which tables to compare: all when both lists are empty. */
export interface Selection {
  schemas: string[];
  tables: QualifiedName[];
}

/** Context handed with each row change. */
export interface RowContext {
  schema: string;
  table: string;
  fromColumns: string[];
  toColumns: string[];
  key: string[];
}

/** Options of {@link diffBackups}. */
export interface DiffOptions {
  selection: Selection;
  tmpDir: string;
  /** Called for every changed row; also makes added and removed tables list their rows. */
  onRow?: (ctx: RowContext, change: RowChange) => void | Promise<void>;
  partBytes?: number;
}

interface Located {
  schema: string;
  table: ManifestTable;
}

function tablesOf(m: Manifest): Map<string, Located> {
  const out = new Map<string, Located>();
  for (const s of m.schemas) {
    for (const t of s.tables) out.set(JSON.stringify([s.name, t.name]), { schema: s.name, table: t });
  }
  return out;
}

function skippedReason(m: Manifest, schema: string, table: string): string | undefined {
  return m.skipped?.find((s) => s.schema === schema && (s.table === table || s.table === "*"))?.reason;
}

function selected(sel: Selection, schema: string, table: string): boolean {
  if (sel.schemas.length === 0 && sel.tables.length === 0) return true;
  return sel.schemas.includes(schema) || sel.tables.some((t) => t.schema === schema && t.table === table);
}

function shaOf(m: Manifest, rel: string): string | undefined {
  return m.files[rel]?.sha256;
}

function dataSide(view: BackupView, t: ManifestTable | undefined): DataSide {
  const files = (t?.dataFiles ?? []).map((rel) => {
    const f = view.manifest.files[rel];
    return { rel, ...(f ? { expect: { bytes: f.bytes, sha256: f.sha256 } } : {}) };
  });
  const bytes = files.reduce((n, f) => n + (f.expect?.bytes ?? 0), 0);
  return { files, bytes, open: (rel) => view.open(rel), label: view.label };
}

async function readFacts(view: BackupView, t: ManifestTable): Promise<TableFacts | undefined> {
  if (!t.schemaFile || !view.manifest.files[t.schemaFile]) return undefined;
  const f = view.manifest.files[t.schemaFile];
  const lines: string[] = [];
  for await (
    const l of streamLines(await view.open(t.schemaFile), `${view.label}: ${t.schemaFile}`, {
      bytes: f.bytes,
      sha256: f.sha256,
    })
  ) lines.push(l);
  return parseTableSchema(lines.join("\n"));
}

const sameList = (a: (string | undefined)[], b: (string | undefined)[]) =>
  a.length === b.length && a.every((x, i) => x !== undefined && x === b[i]);

/**
 * Compares `from` and `to`. Throws a usage error when a selected table (`--table`) is in neither
 * backup; a {@link BackupError} when a file does not match its manifest.
 */
export async function diffBackups(from: BackupView, to: BackupView, opts: DiffOptions): Promise<BackupDiff> {
  const a = tablesOf(from.manifest);
  const b = tablesOf(to.manifest);
  for (const t of opts.selection.tables) {
    const id = JSON.stringify([t.schema, t.table]);
    if (!a.has(id) && !b.has(id)) {
      throw usageError(
        `table ${sqlQualified(t.schema, t.table)} is not in ${from.label} nor in ${to.label}`,
        "check the name (SCHEMA.TABLE, quoted as in SQL when it needs it); 'backup.ts history --table' shows where it is",
      );
    }
  }
  const ids = [...new Set([...a.keys(), ...b.keys()])].sort();
  const tables: TableDiff[] = [];
  for (const id of ids) {
    const [schema, table] = JSON.parse(id) as [string, string];
    if (!selected(opts.selection, schema, table)) continue;
    tables.push(await diffTable(schema, table, a.get(id)?.table, b.get(id)?.table, from, to, opts));
  }
  return {
    from: { label: from.label, createdAt: from.manifest.createdAt },
    to: { label: to.label, createdAt: to.manifest.createdAt },
    tables,
    equal: tables.every((t) => t.status === "unchanged"),
  };
}

async function diffTable(
  schema: string,
  table: string,
  ta: ManifestTable | undefined,
  tb: ManifestTable | undefined,
  from: BackupView,
  to: BackupView,
  opts: DiffOptions,
): Promise<TableDiff> {
  const base = { schema, table, fromRows: ta?.rows ?? null, toRows: tb?.rows ?? null, schemaChanges: [] };
  if (!ta || !tb) {
    const missing = !ta ? from : to;
    const reason = skippedReason(missing.manifest, schema, table);
    if (reason) return { ...base, status: "unreadable", note: `${missing.label}: ${reason}` };
    const result: TableDiff = { ...base, status: ta ? "removed" : "added" };
    if (opts.onRow) {
      const facts = ta ? await readFacts(from, ta) : await readFacts(to, tb!);
      result.rows = await compareRows(schema, table, ta, tb, from, to, opts, facts?.primaryKey);
    }
    return result;
  }
  const schemaSame = !!ta.schemaFile && shaOf(from.manifest, ta.schemaFile) !== undefined &&
    shaOf(from.manifest, ta.schemaFile) === shaOf(to.manifest, tb.schemaFile);
  const dataSame = sameList(
    ta.dataFiles.map((r) => shaOf(from.manifest, r)),
    tb.dataFiles.map((r) => shaOf(to.manifest, r)),
  ) || (ta.dataFiles.length === 0 && tb.dataFiles.length === 0);
  if (schemaSame && dataSame) return { ...base, status: "unchanged" };
  const fb = await readFacts(to, tb);
  const fa = schemaSame ? fb : await readFacts(from, ta);
  const schemaChanges = fa && fb && !schemaSame ? compareFacts(fa, fb) : [];
  let rows: TableDiff["rows"];
  if (!dataSame) {
    const key = fa?.primaryKey && fb?.primaryKey && fa.primaryKey.join("\0") === fb.primaryKey.join("\0")
      ? fa.primaryKey
      : undefined;
    rows = await compareRows(schema, table, ta, tb, from, to, opts, key);
  }
  const changed = schemaChanges.length > 0 ||
    (rows !== undefined && rows.added + rows.removed + rows.changed > 0);
  return { ...base, status: changed ? "changed" : "unchanged", schemaChanges, ...(rows ? { rows } : {}) };
}

async function compareRows(
  schema: string,
  table: string,
  ta: ManifestTable | undefined,
  tb: ManifestTable | undefined,
  from: BackupView,
  to: BackupView,
  opts: DiffOptions,
  key: string[] | undefined,
): Promise<TableDiff["rows"]> {
  let ctx: RowContext | undefined;
  const onRow = opts.onRow;
  const r = await diffRows(dataSide(from, ta), dataSide(to, tb), {
    key,
    tmpDir: opts.tmpDir,
    partBytes: opts.partBytes,
    onChange: onRow ? (c) => onRow(ctx!, c) : undefined,
    onColumns: (fromColumns, toColumns, k) => {
      ctx = { schema, table, fromColumns, toColumns, key: k };
    },
  });
  const { fromColumns: _f, toColumns: _t, ...rest } = r;
  return rest;
}
