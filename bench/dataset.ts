/**
 * The benchmark's database: N tables in `public` (or spread over `--schemas` schemas) with a
 * realistic spread of sizes (a few big tables, many small ones), a mix of int/text/jsonb/timestamptz/uuid
 * columns, primary keys, a few secondary indexes and foreign keys, and optionally one table holding a
 * single large bytea value (`--big-value`). Every row comes from `generate_series`, so the content is
 * the same on every run. Pure: builds SQL text, runs nothing.
 * @module
 */

/** What to build. */
export interface DatasetSpec {
  tables: number;
  /** Target size of the table data (heap, no indexes) in MB; the real size is measured after. */
  mb: number;
  /** Schemas the tables are spread over (default 1: all in `public`). At most `tables`. */
  schemas?: number;
}

/** One table of the dataset. */
export interface DatasetTable {
  /** 1-based position. */
  index: number;
  /** Its schema: `public`, or `s001` … when the tables are spread over several schemas. */
  schema: string;
  name: string;
  rows: number;
  /** "event" (bigint id, jsonb), "account" (uuid id, text) or "ledger" (FK to its group's first table). */
  shape: "event" | "account" | "ledger";
  /** The table a ledger row points at (by id), if any. */
  parent?: string;
}

/**
 * Relative sizes within each group of ten tables: one large, two medium, seven small. Every group
 * has the same spread, so a subset that takes each position equally often holds 1/10 of the data
 * per ten tables (see {@link perTableSubset}).
 */
const GROUP_WEIGHTS = [40, 16, 12, 8, 6, 5, 4, 3, 3, 3];

/** Average heap bytes of one row over the three shapes (measured on PostgreSQL 17, rounded). */
export const BYTES_PER_ROW = 172;

/** The table name for a 1-based index: `t001` … `t200`. */
export function tableName(index: number, tables: number): string {
  return `t${String(index).padStart(Math.max(3, String(tables).length), "0")}`;
}

/** The schema name for a 1-based index when there are `schemas` of them: `public` for one, else `s001` …. */
export function schemaName(index: number, schemas: number): string {
  return schemas <= 1 ? "public" : `s${String(index).padStart(Math.max(3, String(schemas).length), "0")}`;
}

/**
 * The schemas of a spec, in order (`["public"]` for one). Tables fill them in contiguous runs, so a
 * group of ten tables stays together when each schema holds ten or more.
 */
export function datasetSchemas(spec: DatasetSpec): string[] {
  const n = spec.schemas ?? 1;
  return Array.from({ length: n }, (_, i) => schemaName(i + 1, n));
}

/**
 * Plans the tables: schemas, names, shapes and row counts. Throws on a non-positive table count,
 * size or schema count, or more schemas than tables.
 */
export function planDataset(spec: DatasetSpec): DatasetTable[] {
  if (!(spec.tables >= 1) || !(spec.mb > 0)) throw new Error("--tables and --mb must be positive");
  const schemas = spec.schemas ?? 1;
  if (!Number.isInteger(schemas) || schemas < 1) throw new Error("--schemas must be a positive integer");
  if (schemas > spec.tables) throw new Error(`--schemas ${schemas} needs at least as many --tables`);
  const totalRows = Math.round((spec.mb * 1024 * 1024) / BYTES_PER_ROW);
  const weights = Array.from({ length: spec.tables }, (_, i) => GROUP_WEIGHTS[i % 10]);
  const sum = weights.reduce((a, b) => a + b, 0);
  const out: DatasetTable[] = [];
  for (let i = 1; i <= spec.tables; i++) {
    const pos = (i - 1) % 10;
    const rows = Math.max(1, Math.round((totalRows * weights[i - 1]) / sum));
    const name = tableName(i, spec.tables);
    const schema = schemaName(Math.floor(((i - 1) * schemas) / spec.tables) + 1, schemas);
    if (pos === 1 || pos === 5) {
      out.push({ index: i, schema, name, rows, shape: "ledger", parent: tableName(i - pos, spec.tables) });
    } else {
      out.push({ index: i, schema, name, rows, shape: pos % 2 === 0 ? "event" : "account" });
    }
  }
  return out;
}

/** The CREATE TABLE and INSERT of one table (as one script; the caller runs it in a transaction). */
export function tableSql(t: DatasetTable, all: DatasetTable[]): string {
  const q = `${t.schema}.${t.name}`;
  const seed = t.index * 7919;
  switch (t.shape) {
    case "event":
      return [
        `CREATE TABLE ${q} (id bigint NOT NULL, kind integer NOT NULL, label text NOT NULL,`,
        `  payload jsonb NOT NULL, created_at timestamptz NOT NULL);`,
        `INSERT INTO ${q} SELECT g, (g * 31 + ${seed}) % 97, 'event-' || md5((g + ${seed})::text),`,
        `  jsonb_build_object('n', g, 'tag', 'tag' || (g % 50), 'ok', g % 3 = 0,`,
        `    'v', substr(md5((g * 3 + ${seed})::text), 1, 16)),`,
        `  timestamptz '2024-01-01 00:00:00+00' + g * interval '37 seconds'`,
        `FROM generate_series(1, ${t.rows}) g;`,
        `ALTER TABLE ${q} ADD PRIMARY KEY (id);`,
        `CREATE INDEX ${t.name}_created_at_idx ON ${q} (created_at);`,
      ].join("\n");
    case "account":
      return [
        `CREATE TABLE ${q} (id uuid NOT NULL, email text NOT NULL, display_name text,`,
        `  score integer NOT NULL, meta jsonb, updated_at timestamptz NOT NULL);`,
        `INSERT INTO ${q} SELECT md5((g + ${seed})::text)::uuid, 'user' || g || '@example.com',`,
        `  CASE WHEN g % 7 = 0 THEN NULL ELSE initcap(substr(md5(g::text), 1, 10)) END,`,
        `  (g * 13) % 1000, CASE WHEN g % 4 = 0 THEN NULL ELSE jsonb_build_object('plan', 'p' || (g % 5)) END,`,
        `  timestamptz '2023-06-01 00:00:00+00' + g * interval '11 minutes'`,
        `FROM generate_series(1, ${t.rows}) g;`,
        `ALTER TABLE ${q} ADD PRIMARY KEY (id);`,
      ].join("\n");
    case "ledger": {
      const parent = all.find((p) => p.name === t.parent)!;
      return [
        `CREATE TABLE ${q} (id bigint NOT NULL, parent_id bigint NOT NULL, amount numeric(12,2) NOT NULL,`,
        `  note text, booked_at timestamptz NOT NULL);`,
        `INSERT INTO ${q} SELECT g, (g % ${parent.rows}) + 1, ((g * 7 + ${seed}) % 100000) / 100.0,`,
        `  CASE WHEN g % 3 = 0 THEN NULL ELSE 'ref ' || substr(md5((g + ${seed})::text), 1, 20) END,`,
        `  timestamptz '2024-03-01 00:00:00+00' + g * interval '5 seconds'`,
        `FROM generate_series(1, ${t.rows}) g;`,
        `ALTER TABLE ${q} ADD PRIMARY KEY (id);`,
        `ALTER TABLE ${q} ADD FOREIGN KEY (parent_id) REFERENCES ${parent.schema}.${parent.name} (id);`,
        `CREATE INDEX ${t.name}_parent_id_idx ON ${q} (parent_id);`,
      ].join("\n");
    }
  }
}

/**
 * The tables the per-table approach is timed on: `count` tables spread evenly over the whole set,
 * each position within a group of ten taken equally often, so the subset's share of the data is
 * close to count/tables.
 */
export function perTableSubset(tables: DatasetTable[], count: number): DatasetTable[] {
  const n = Math.min(count, tables.length);
  const step = tables.length / n;
  const out: DatasetTable[] = [];
  for (let j = 0; j < n; j++) {
    const group = Math.floor(j * step);
    const base = group - (group % 10);
    const pick = Math.min(tables.length - 1, base + (j % 10));
    if (!out.includes(tables[pick])) out.push(tables[pick]);
  }
  return out;
}

/** The share of all rows that `subset` holds. */
export function subsetShare(all: DatasetTable[], subset: DatasetTable[]): number {
  const rows = (ts: DatasetTable[]) => ts.reduce((n, t) => n + t.rows, 0);
  return rows(subset) / rows(all);
}

/** The table that holds the `--big-value` row. */
export const BIG_VALUE_TABLE = "public.big_value";

/**
 * The largest `--big-value`, in MiB: a bytea's COPY text is twice its size, and PostgreSQL sends at
 * most 1 GB in one row.
 */
export const MAX_BIG_VALUE_MB = 500;

/**
 * The table and the one row of `--big-value MB`: a bytea of exactly `mb` MiB (MD5 digests of a
 * series, so it does not compress). Throws on a size that is not a positive integer or above
 * {@link MAX_BIG_VALUE_MB}.
 */
export function bigValueSql(mb: number): string {
  if (!Number.isInteger(mb) || mb < 1 || mb > MAX_BIG_VALUE_MB) {
    throw new Error(`--big-value must be 1-${MAX_BIG_VALUE_MB} (MB)`);
  }
  const bytes = mb * 1024 * 1024;
  return [
    `CREATE TABLE ${BIG_VALUE_TABLE} (id integer PRIMARY KEY, v bytea NOT NULL);`,
    `INSERT INTO ${BIG_VALUE_TABLE}`,
    `SELECT 1, substring(decode(string_agg(md5(g::text), '' ORDER BY g), 'hex') FROM 1 FOR ${bytes})`,
    `FROM generate_series(1, ${Math.ceil(bytes / 16)}) g;`,
  ].join("\n");
}
