/**
 * Restore planning: which schemas and tables of a backup to restore, in which way, which extensions
 * to create, and what the guard refuses. The plan's text is in view.ts; how the SQL that
 * pg_restore writes is adapted to the target is in filter.ts. Pure: no I/O.
 * @module
 */
import { BackupError, usageError } from "../base/errors.ts";
import type { Manifest, ManifestExtension, ManifestSchema, ManifestTable } from "../store/manifest.ts";
import type { QualifiedName } from "../pg/ident.ts";
import { qualified, sqlIdent, sqlQualified } from "../pg/ident.ts";
import { rowCount } from "../base/size.ts";
import type { CatalogPlan } from "./catalog.ts";

/** What the user asked to restore. */
export interface RestoreRequest {
  /** Only these schemas (empty: every schema, unless `tables` is given). */
  schemas: string[];
  /** Only these tables (table mode). */
  tables: QualifiedName[];
  roles: boolean;
  dataOnly: boolean;
  schemaOnly: boolean;
  clean: boolean;
  /** A Supabase-managed table with rows that cannot be restored fails the restore instead of a warning. */
  strict?: boolean;
  /** Tables left out (`--exclude-table`): of a whole schema, its definitions, rows and indexes. */
  excludeTables?: QualifiedName[];
  /** Schemas left out (`--exclude-schema`). */
  excludeSchemas?: string[];
  /** `--into`: the one `--table` is restored under this name, beside the live table (into.ts). */
  into?: QualifiedName;
}

/** One table that exists in the target. */
export interface TargetTable {
  /** pg_class.relkind: r, p, v, m, f. */
  kind: string;
  /** true/false once checked; undefined when it could not be read. */
  empty?: boolean;
  /** Once checked: the columns rows can be loaded into, in order (generated columns left out). */
  columns?: string[];
  /** Once checked: whether the restoring role may insert into it. */
  insertable?: boolean;
}

/** What the planner needs to know about the target database. */
export interface TargetState {
  serverMajor: number;
  user: string;
  superuser: boolean;
  /** The user may set session_replication_role (a superuser, or granted SET on it). */
  canReplica?: boolean;
  /** Every role in the target cluster. */
  roles: ReadonlySet<string>;
  /** Roles the connected user may give objects to (itself, roles it can SET ROLE to). */
  assumable: ReadonlySet<string>;
  /** Schema name → owner. */
  schemas: ReadonlyMap<string, string>;
  /** {@link tableKey} → table. */
  tables: ReadonlyMap<string, TargetTable>;
  /** Extension name → its schema and owner (absent: not read; treated as none). */
  extensions?: ReadonlyMap<string, { schema: string; owner: string }>;
  /**
   * Database-level objects the target has, as `globalKey`s of catalog.ts (access methods, foreign data
   * wrappers, servers, casts, publications, event triggers); absent: not read.
   */
  globals?: ReadonlySet<string>;
  /** Foreign data wrappers of the target the connected user may create servers on (USAGE); absent: not read. */
  usableWrappers?: ReadonlySet<string>;
  /** The connected user's default privileges in the target (absent: not read). */
  defaultAcl?: readonly TargetDefaultAcl[];
}

/** One default privilege of the connected user in the target: `ALTER DEFAULT PRIVILEGES … GRANT`. */
export interface TargetDefaultAcl {
  /** The schema, or null for database-wide. */
  schema: string | null;
  /** pg_default_acl.defaclobjtype: r (tables), S (sequences), f (functions), T (types), n (schemas). */
  type: string;
  grantee: string;
  priv: string;
  grantable: boolean;
}

/** What a restore does about one extension of the backup. */
export interface PlannedExtension extends ManifestExtension {
  /**
   * create: absent from the target, created before any definitions (CREATE EXTENSION IF NOT EXISTS
   * … WITH SCHEMA …). present: the target has it in the same schema, left as it is. elsewhere: the
   * target has it in another schema, left as it is (objects that name the backup's schema may fail).
   */
  action: "create" | "present" | "elsewhere";
  /** The target's schema of it, when it has it. */
  targetSchema?: string;
}

/** How one table is restored. */
export type TableAction =
  /** absent from the target: created, then loaded */
  | "create"
  /** exists and is empty: data loaded into it */
  | "load"
  /** exists, `--clean`: dropped and recreated */
  | "recreate"
  /** Supabase-managed table with rows, `--clean`: emptied, then loaded */
  | "empty-load"
  /** the Supabase service's own migration history, already filled in the target: left alone */
  | "keep"
  /** the guard refuses */
  | "refuse"
  /** a Supabase-managed table the target lacks, or the restoring role may not write: left out, with a warning */
  | "skip"
  /** the Supabase CLI's migration history: versions the target lacks are added, its own stay */
  | "merge";

/** One table of the plan. */
export interface PlannedTable {
  schema: string;
  table: ManifestTable;
  action: TableAction;
  /** Why (shown in the plan and in refusals). */
  reason: string;
  /**
   * Rows go into an existing table whose columns differ from the backup's: only the shared ones are
   * loaded (`load`); `onlyBackup` values are not restored, `onlyTarget` columns get their defaults.
   */
  columns?: { load: string[]; onlyBackup: string[]; onlyTarget: string[] };
}

/** One schema restored from its custom-format dump. */
export interface PlannedSchema {
  name: string;
  manifest: ManifestSchema;
  /**
   * ddl: pre-data, data and post-data from the dump (the schema is ours to create).
   * data: a Supabase-managed schema that already exists in the target: its DDL is the target's
   * own, only rows go into its existing tables.
   */
  mode: "ddl" | "data";
  /** The schema exists in the target (its CREATE SCHEMA is skipped). */
  exists: boolean;
  tables: PlannedTable[];
}

/** The whole restore plan. */
export interface RestorePlan {
  kind: "schemas" | "tables";
  roles: boolean;
  dataOnly: boolean;
  schemaOnly: boolean;
  clean: boolean;
  /** Schemas restored whole (kind "schemas"). */
  schemas: PlannedSchema[];
  /** Tables restored one by one from schema.sql and data files (kind "tables", or managed tables absent from the target). */
  tables: PlannedTable[];
  /** Backup files read by this plan (checked against the manifest first). */
  files: string[];
  /** Tables the guard refuses to touch. */
  refused: PlannedTable[];
  /** Tables of restored schemas left out by `--exclude-table` (their schema.sql names their entries). */
  excluded: { schema: string; table: ManifestTable }[];
  /**
   * The backup's extensions (from the manifest) and what happens to each; empty for --data-only and
   * for backups whose manifest has no extension list (the restore then reads them from the dumps).
   */
  extensions: PlannedExtension[];
  notes: string[];
  /**
   * What the restore takes from catalog.sql (set by the restorer after planning): the order of the
   * definitions, and on a whole restore the database-level objects. Absent for backups without it
   * and for `--table`.
   */
  catalog?: CatalogPlan;
}

/**
 * What to do about each extension of `list` in `target`: create the missing ones, leave those the
 * target has (wherever they are) as they are.
 */
export function planExtensions(list: readonly ManifestExtension[], target: TargetState): PlannedExtension[] {
  const seen = new Set<string>();
  const out: PlannedExtension[] = [];
  for (const e of list) {
    if (seen.has(e.name)) continue;
    seen.add(e.name);
    const there = target.extensions?.get(e.name);
    if (!there) out.push({ ...e, action: "create" });
    else {out.push({
        ...e,
        action: there.schema === e.schema ? "present" : "elsewhere",
        targetSchema: there.schema,
      });}
  }
  return out;
}

/**
 * Supabase's own migration-history tables: the service in the target fills them; the Supabase CLI
 * leaves them out of its data dump too.
 */
export const SERVICE_TABLES = new Set([
  "auth.schema_migrations",
  "storage.migrations",
  "supabase_functions.migrations",
]);

/**
 * Is this table of a Supabase-managed schema the service's own migration history? (The listed
 * ones, and any `…migrations` table such as realtime.schema_migrations.) When the target already
 * filled it, the restore leaves it alone.
 */
export function isServiceTable(schema: string, table: string): boolean {
  return SERVICE_TABLES.has(`${schema}.${table}`) ||
    (schema !== "supabase_migrations" && /migrations$/.test(table));
}

/** The key of a table in {@link TargetState.tables}. */
export function tableKey(schema: string, table: string): string {
  return `${schema}\u0000${table}`;
}

/** Is this table left out by `--exclude-table` or `--exclude-schema`? */
export function isExcluded(req: RestoreRequest, schema: string, table?: string): boolean {
  if (req.excludeSchemas?.includes(schema)) return true;
  return table !== undefined &&
    (req.excludeTables ?? []).some((q) => q.schema === schema && q.table === table);
}

/** The schemas a whole restore covers: `--schema`, or every schema; without `--exclude-schema` ones. */
function schemaNames(m: Manifest, req: RestoreRequest): string[] {
  const names = req.schemas.length > 0 ? req.schemas : m.schemas.map((s) => s.name);
  return names.filter((n) => !isExcluded(req, n));
}

/**
 * The schemas whose dumps a whole-schema restore into a target without those schemas reads: the
 * selected schemas that are not Supabase-managed (a managed one the target has gets only its rows) and
 * whose dump (every part of it) the manifest lists, in manifest order. Known from the manifest alone,
 * so that their dumps can be checked and read before the target is read (restorer.ts); the plan's
 * own files decide what is used. Empty for `--table` and `--data-only`. Pure.
 */
export function likelyDumpSchemas(m: Manifest, req: RestoreRequest): ManifestSchema[] {
  if (!wholeSchemas(req) || req.dataOnly) return [];
  const names = new Set(schemaNames(m, req));
  return m.schemas.filter((s) =>
    names.has(s.name) && !s.managed && dumpFiles(s).every((f) => Object.hasOwn(m.files, f))
  );
}

/** The hint naming a schema's tables, as `--table` takes them. */
function tablesOf(s: ManifestSchema): string {
  return `tables of ${sqlIdent(s.name)}: ${s.tables.map((x) => sqlIdent(x.name)).join(", ") || "none"}`;
}

function findSchema(m: Manifest, name: string, flag: string): ManifestSchema {
  const s = m.schemas.find((x) => x.name === name);
  if (!s) {
    throw usageError(
      `${flag} '${name}' is not in this backup`,
      `the backup holds: ${m.schemas.map((x) => sqlIdent(x.name)).join(", ") || "no schemas"}`,
    );
  }
  return s;
}

/**
 * The tables a request selects, as {schema, table} of the manifest, in manifest order. Table mode
 * adds the partitions of a selected partitioned table. Throws a usage error for a schema or table
 * the backup does not hold (naming the flag), and for `--data-only` with `--schema-only`.
 */
export function selectTables(
  m: Manifest,
  req: RestoreRequest,
): { schema: ManifestSchema; table: ManifestTable }[] {
  if (req.dataOnly && req.schemaOnly) {
    throw usageError(
      "--data-only and --schema-only exclude each other",
      "give one of them, or neither for both",
    );
  }
  if (req.tables.length > 0 && req.schemas.length > 0) {
    throw usageError(
      "--table and --schema exclude each other",
      "give --table SCHEMA.TABLE alone, or --schema",
    );
  }
  for (const n of req.excludeSchemas ?? []) findSchema(m, n, "--exclude-schema");
  for (const q of req.excludeTables ?? []) {
    const s = findSchema(m, q.schema, "--exclude-table");
    if (!s.tables.some((t) => t.name === q.table)) {
      throw usageError(
        `--exclude-table '${sqlQualified(q.schema, q.table)}' is not in this backup`,
        tablesOf(s),
      );
    }
  }
  const out: { schema: ManifestSchema; table: ManifestTable }[] = [];
  if (req.tables.length === 0) {
    for (const n of schemaNames(m, req)) {
      const s = findSchema(m, n, "--schema");
      for (const t of s.tables) if (!isExcluded(req, s.name, t.name)) out.push({ schema: s, table: t });
    }
    return out;
  }
  const seen = new Set<string>();
  const add = (s: ManifestSchema, t: ManifestTable) => {
    const k = tableKey(s.name, t.name);
    if (seen.has(k)) return;
    seen.add(k);
    out.push({ schema: s, table: t });
    if (t.kind === "p") {
      const me = qualified(s.name, t.name);
      for (const c of s.tables) if (c.partitionOf === me) add(s, c);
    }
  };
  for (const q of req.tables) {
    if (isExcluded(req, q.schema, q.table)) continue;
    const s = findSchema(m, q.schema, "--table");
    const t = s.tables.find((x) => x.name === q.table);
    if (!t) {
      const skipped = m.skipped.find((k) => k.schema === q.schema && k.table === q.table);
      throw usageError(
        `--table '${sqlQualified(q.schema, q.table)}' is not in this backup${
          skipped ? `: ${skipped.reason}` : ""
        }`,
        tablesOf(s),
      );
    }
    add(s, t);
  }
  return out;
}

function tableFiles(t: ManifestTable, req: RestoreRequest): string[] {
  const out: string[] = [];
  if (!req.dataOnly) out.push(t.schemaFile);
  if (!req.schemaOnly) out.push(...t.dataFiles);
  return out;
}

function dumpFiles(s: ManifestSchema): string[] {
  return s.dumpParts ?? [s.dump];
}

/** Decides one table's action from the target and the flags. */
/** Why a Supabase-managed table of the target is refused (its rows would mix with the backup's). */
const MANAGED_WITH_ROWS = "Supabase-managed table that already holds rows";

function decide(
  schema: string,
  table: ManifestTable,
  target: TargetState,
  req: RestoreRequest,
  managedData: boolean,
  backupColumns?: readonly string[],
): PlannedTable {
  const there = target.tables.get(tableKey(schema, table.name));
  const name = sqlQualified(schema, table.name);
  const mk = (action: TableAction, reason: string): PlannedTable => ({ schema, table, action, reason });
  const skip = (reason: string): PlannedTable =>
    req.strict && (table.rows ?? 0) > 0
      ? mk("refuse", `${reason}, and it holds ${table.rows} rows (--strict)`)
      : mk("skip", reason);
  if (!there) {
    if (req.dataOnly) return mk("refuse", "absent from the target, and --data-only needs an existing table");
    if (managedData) {
      return skip("absent from the target's Supabase-managed schema (another Supabase version): left out");
    }
    return mk("create", "absent from the target");
  }
  if (there.kind === "v" || there.kind === "m" || there.kind === "f") {
    return mk("refuse", `the target has a view or foreign table named ${name}`);
  }
  if (managedData) {
    if (req.schemaOnly) return mk("keep", "Supabase-managed table: its definition is the target's own");
    if (isServiceTable(schema, table.name)) {
      return mk("keep", "the target's own migration history (its service keeps it)");
    }
    if (there.insertable === false) return skip(`${target.user} may not write it in the target: left out`);
    const columns = sharedColumns(backupColumns, there.columns);
    if (columns && columns.load.length === 0) return skip("no column in common with the target: left out");
    const withCols = (p: PlannedTable) => columns ? { ...p, columns } : p;
    if (schema === "supabase_migrations" && table.name === "schema_migrations") {
      if (!backupColumns || there.empty === undefined) {
        return mk(
          "keep",
          "the Supabase CLI's migration history of the target (its columns could not be read)",
        );
      }
      const load = columns?.load ?? [...backupColumns];
      return {
        ...mk("merge", "the Supabase CLI's migration history: versions the target lacks are added"),
        columns: columns ?? { load, onlyBackup: [], onlyTarget: [] },
      };
    }
    if (there.empty === undefined) {
      return mk("refuse", `${req.clean ? "" : "exists and "}cannot be read in the target`);
    }
    if (there.empty === true) return withCols(mk("load", "Supabase-managed table, empty in the target"));
    if (req.clean) {
      return withCols(mk("empty-load", "Supabase-managed table with rows: emptied (--clean), then loaded"));
    }
    return mk("refuse", MANAGED_WITH_ROWS);
  }
  if (req.clean) return mk("recreate", "exists: dropped and recreated (--clean)");
  if (req.dataOnly) {
    if (there.empty === true) return mk("load", "exists and is empty (--data-only)");
    return mk("refuse", there.empty === false ? "already holds rows" : "exists and cannot be read");
  }
  return mk("refuse", there.empty === false ? "already exists and holds rows" : "already exists");
}

/** The columns rows can go into: those of the backup the target has too (undefined: the same, or unknown). */
function sharedColumns(
  backup: readonly string[] | undefined,
  target: readonly string[] | undefined,
): PlannedTable["columns"] {
  if (!backup || !target || backup.length === 0) return undefined;
  const load = backup.filter((c) => target.includes(c));
  const onlyBackup = backup.filter((c) => !target.includes(c));
  const onlyTarget = target.filter((c) => !backup.includes(c));
  if (onlyBackup.length === 0 && onlyTarget.length === 0) return undefined;
  return { load, onlyBackup, onlyTarget };
}

/** Whether a request restores whole schemas (kind "schemas": no `--table`), the only kind catalog.sql orders. Pure. */
export function wholeSchemas(req: Pick<RestoreRequest, "tables">): boolean {
  return req.tables.length === 0;
}

/**
 * Plans a restore of `m` into `target`. Whole restores (all schemas, or `--schema`) work per schema
 * from the dumps; a Supabase-managed schema that already exists in the target gets only its rows.
 * `--table` works per table from schema.sql and the data files. Refused tables are listed in
 * `refused` (see {@link guardError}). Throws a usage error for selections the backup cannot satisfy.
 */
export function planRestore(
  m: Manifest,
  req: RestoreRequest,
  target: TargetState,
  backupColumns: ReadonlyMap<string, readonly string[]> = new Map(),
): RestorePlan {
  const selected = selectTables(m, req);
  const plan: RestorePlan = {
    kind: wholeSchemas(req) ? "schemas" : "tables",
    roles: req.roles,
    dataOnly: req.dataOnly,
    schemaOnly: req.schemaOnly,
    clean: req.clean,
    schemas: [],
    tables: [],
    files: [],
    refused: [],
    excluded: [],
    extensions: req.dataOnly
      ? []
      : planExtensions((m.extensions ?? []).filter((e) => !isExcluded(req, e.schema)), target),
    notes: [],
  };
  const files = new Set<string>();
  if (req.roles) {
    if (!m.roles) throw usageError("--roles: this backup has no roles file", "restore without --roles");
    files.add(m.roles);
  }
  if (plan.kind === "tables") {
    for (const { schema, table } of selected) {
      // A table of a Supabase-managed schema the target has is the target's (--table auth.users into a
      // new project): only its rows load, by the shared columns, as the whole restore loads them.
      const managed = !!schema.managed && target.schemas.has(schema.name);
      const p = decide(
        schema.name,
        table,
        target,
        req,
        managed,
        managed ? backupColumns.get(tableKey(schema.name, table.name)) : undefined,
      );
      plan.tables.push(p);
      for (const f of tableFiles(table, req)) files.add(f);
      if (!req.dataOnly) { for (const f of dumpFiles(schema)) files.add(f); }
    }
    // Parents before their partitions.
    plan.tables.sort((a, b) => Number(!!a.table.partitionOf) - Number(!!b.table.partitionOf));
  } else {
    const bySchema = new Map<string, PlannedSchema>();
    for (const { schema, table } of selected) {
      let ps = bySchema.get(schema.name);
      if (!ps) {
        const exists = target.schemas.has(schema.name);
        ps = {
          name: schema.name,
          manifest: schema,
          mode: exists && schema.managed ? "data" : "ddl",
          exists,
          tables: [],
        };
        bySchema.set(schema.name, ps);
        plan.schemas.push(ps);
      }
      const p = decide(
        schema.name,
        table,
        target,
        req,
        ps.mode === "data",
        backupColumns.get(tableKey(schema.name, table.name)),
      );
      ps.tables.push(p);
      if (ps.mode === "data" && ["load", "empty-load", "merge"].includes(p.action)) {
        for (const f of table.dataFiles) files.add(f);
      }
    }
    // Schemas without tables still carry types, functions, views.
    for (const n of schemaNames(m, req)) {
      if (bySchema.has(n)) continue;
      const schema = findSchema(m, n, "--schema");
      const exists = target.schemas.has(n);
      const ps: PlannedSchema = {
        name: n,
        manifest: schema,
        mode: exists && schema.managed ? "data" : "ddl",
        exists,
        tables: [],
      };
      bySchema.set(n, ps);
      plan.schemas.push(ps);
    }
    for (const q of req.excludeTables ?? []) {
      const ps = plan.schemas.find((x) => x.name === q.schema);
      if (!ps || ps.mode !== "ddl") continue;
      const t = ps.manifest.tables.find((x) => x.name === q.table)!;
      plan.excluded.push({ schema: q.schema, table: t });
      files.add(t.schemaFile);
      plan.notes.push(
        `${sqlQualified(q.schema, q.table)} is left out (--exclude-table): its definition, rows and indexes`,
      );
    }
    for (const ps of plan.schemas) {
      if (ps.mode === "ddl") {
        // The dump is what gets restored; the per-table files are checked too, so that a damaged
        // or incomplete backup is refused as a whole.
        for (const f of dumpFiles(ps.manifest)) files.add(f);
        for (const t of ps.tables) for (const f of tableFiles(t.table, req)) files.add(f);
      }
    }
  }
  const managed = plan.schemas.filter((s) => s.mode === "data").map((s) => s.name);
  if (managed.length > 0) {
    plan.notes.push(
      `Supabase-managed schemas already in the target (${managed.map(sqlIdent).join(", ")}): rows only; ` +
        "their definitions stay the target's",
    );
  }
  const all = [...plan.schemas.flatMap((s) => s.tables), ...plan.tables];
  plan.refused = all.filter((t) => t.action === "refuse");
  for (const t of all) {
    const rows = t.table.rows === null ? "" : ` (${rowCount(t.table.rows)})`;
    if (t.action === "skip") {
      plan.notes.push(`${sqlQualified(t.schema, t.table.name)}${rows} is not restored: ${t.reason}`);
    }
    if (t.columns?.onlyBackup.length) {
      plan.notes.push(
        `${sqlQualified(t.schema, t.table.name)}: column(s) ${
          t.columns.onlyBackup.join(", ")
        } only in the backup: ` +
          `their values${rows} are not restored`,
      );
    }
    if (t.columns?.onlyTarget.length) {
      plan.notes.push(
        `${sqlQualified(t.schema, t.table.name)}: column(s) ${
          t.columns.onlyTarget.join(", ")
        } only in the target: ` +
          "they get their defaults",
      );
    }
  }
  for (const e of req.dataOnly ? [] : m.extensions ?? []) {
    if (isExcluded(req, e.schema)) {
      plan.notes.push(
        `extension ${e.name} is not created: its schema ${e.schema} is left out (--exclude-schema)`,
      );
    }
  }
  for (const e of plan.extensions) {
    if (e.action === "elsewhere") {
      plan.notes.push(
        `extension ${e.name} is in schema ${e.targetSchema} in the target, in ${e.schema} in the backup: ` +
          `left as it is; definitions that name ${e.schema}.… objects of it may fail`,
      );
    }
  }
  for (const k of m.skipped) {
    if (plan.schemas.some((s) => s.name === k.schema) || plan.tables.some((t) => t.schema === k.schema)) {
      plan.notes.push(`${k.schema}.${k.table} is not in the backup: ${k.reason}`);
    }
  }
  plan.files = [...files];
  return plan;
}

/**
 * The guard: a {@link BackupError} (exit 1) naming the tables the plan refuses to write into, or
 * undefined when there are none.
 */
export function guardError(plan: RestorePlan, targetName: string): BackupError | undefined {
  if (plan.refused.length === 0) return undefined;
  const names = plan.refused.map((t) => `${sqlQualified(t.schema, t.table.name)} (${t.reason})`);
  const shown = names.slice(0, 5).join(", ") + (names.length > 5 ? `, and ${names.length - 5} more` : "");
  const absent = plan.refused.every((t) => t.reason.startsWith("absent"));
  const managed = plan.refused.every((t) => t.reason === MANAGED_WITH_ROWS);
  return new BackupError(
    `refusing to restore into ${targetName}: ${plan.refused.length} selected table(s) in the way: ${shown}`,
    {
      hint: absent
        ? "leave out --data-only to create the missing tables"
        : managed
        ? "add --clean to empty them and load the backup's rows (a Supabase-managed table keeps the target's definition: it is never dropped), or restore into a new project"
        : "restore into an empty database, or add --clean to drop and recreate them (--data-only loads into existing empty tables)",
    },
  );
}

/**
 * Before anything is written: rows that go into tables that already exist (Supabase-managed tables,
 * `--data-only`) load with session_replication_role = replica, so that their triggers and foreign keys
 * neither fire nor block. A {@link BackupError} (exit 2) when the target's user may not set it, with a
 * hint for that user; undefined when it may, or when no such load is planned.
 */
export function replicaError(plan: RestorePlan, target: TargetState): BackupError | undefined {
  if (plan.schemaOnly || target.canReplica !== false) return undefined;
  const into = [...plan.schemas.flatMap((s) => s.tables), ...plan.tables].filter((t) =>
    t.action === "load" || t.action === "empty-load"
  );
  if (into.length === 0) return undefined;
  const names = into.slice(0, 3).map((t) => sqlQualified(t.schema, t.table.name)).join(", ") +
    (into.length > 3 ? ` and ${into.length - 3} more` : "");
  return new BackupError(
    `rows for tables that already exist (${names}) load with session_replication_role = replica, ` +
      `which ${target.user} may not set; nothing was written`,
    {
      exitCode: 2,
      hint: `as a superuser, run GRANT SET ON PARAMETER session_replication_role TO ${target.user} ` +
        "(PostgreSQL 15 and newer), or restore into an empty database, where new tables need no replica",
    },
  );
}
