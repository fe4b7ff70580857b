/**
 * The benchmark's database: N tables in `public` with a realistic spread of sizes (a few big
 * tables, many small ones), a mix of int/text/jsonb/timestamptz/uuid columns, primary keys, a few
 * secondary indexes and foreign keys. Every row comes from `generate_series`, so the content is the
 * same on every run. Pure: builds SQL text, runs nothing.
 * @module
 */

/** What to build. */
export interface DatasetSpec {
  tables: number;
  /** Target size of the table data (heap, no indexes) in MB; the real size is measured after. */
  mb: number;
}

/** One table of the dataset. */
export interface DatasetTable {
  /** 1-based position. */
  index: number;
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

/** Plans the tables: names, shapes and row counts. Throws on a non-positive table count or size. */
export function planDataset(spec: DatasetSpec): DatasetTable[] {
  if (!(spec.tables >= 1) || !(spec.mb > 0)) throw new Error("--tables and --mb must be positive");
  const totalRows = Math.round((spec.mb * 1024 * 1024) / BYTES_PER_ROW);
  const weights = Array.from({ length: spec.tables }, (_, i) => GROUP_WEIGHTS[i % 10]);
  const sum = weights.reduce((a, b) => a + b, 0);
  const out: DatasetTable[] = [];
  for (let i = 1; i <= spec.tables; i++) {
    const pos = (i - 1) % 10;
    const rows = Math.max(1, Math.round((totalRows * weights[i - 1]) / sum));
    const name = tableName(i, spec.tables);
    if (pos === 1 || pos === 5) {
      out.push({ index: i, name, rows, shape: "ledger", parent: tableName(i - pos, spec.tables) });
    } else {
      out.push({ index: i, name, rows, shape: pos % 2 === 0 ? "event" : "account" });
    }
  }
  return out;
}

/** The CREATE TABLE and INSERT of one table (as one script; the caller runs it in a transaction). */
export function tableSql(t: DatasetTable, all: DatasetTable[]): string {
  const q = `public.${t.name}`;
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
        `ALTER TABLE ${q} ADD FOREIGN KEY (parent_id) REFERENCES public.${parent.name} (id);`,
        `CREATE INDEX ${t.name}_parent_id_idx ON ${q} (parent_id);`,
      ].join("\n");
    }
  }
}

/**
 * The tables the per-table approach is timed on: `count` tables spread evenly over the whole set,
 * each position within a group of ten taken equally often, so the subset's share of the data is
 * close to count/tables. Returns qualified names (`public.t006`).
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
