/**
 * Restore planning: which schemas and tables of a backup to restore, in which way, what the guard
 * refuses, and how the SQL that pg_restore writes is adapted to the target (ownership it cannot
 * apply, privileges for missing roles, `\restrict` lines, `SET transaction_timeout` on servers
 * older than 17, foreign keys to absent tables). Pure: no I/O.
 * @module
 */
import { BackupError, usageError } from "./errors.ts";
import type { Manifest, ManifestExtension, ManifestSchema, ManifestTable } from "./manifest.ts";
import type { QualifiedName } from "./plan.ts";

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
}

/** One table that exists in the target. */
export interface TargetTable {
  /** pg_class.relkind: r, p, v, m, f. */
  kind: string;
  /** true/false once checked; undefined when it could not be read. */
  empty?: boolean;
}

/** What the planner needs to know about the target database. */
export interface TargetState {
  serverMajor: number;
  user: string;
  superuser: boolean;
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
  | "refuse";

/** One table of the plan. */
export interface PlannedTable {
  schema: string;
  table: ManifestTable;
  action: TableAction;
  /** Why (shown in the plan and in refusals). */
  reason: string;
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
  /**
   * The backup's extensions (from the manifest) and what happens to each; empty for --data-only and
   * for backups whose manifest has no extension list (the restore then reads them from the dumps).
   */
  extensions: PlannedExtension[];
  notes: string[];
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

/** Quotes an identifier the way PostgreSQL needs it: plain when lower-case simple, else in double quotes. */
export function quoteIdent(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) && !RESERVED_WORDS.has(name)
    ? name
    : `"${name.replaceAll('"', '""')}"`;
}

/** `schema.table`, each part quoted as needed. */
export function qualified(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

// Reserved key words that pg_dump always quotes (enough for names people actually use).
const RESERVED_WORDS = new Set([
  "all",
  "analyse",
  "analyze",
  "and",
  "any",
  "array",
  "as",
  "asc",
  "both",
  "case",
  "cast",
  "check",
  "collate",
  "column",
  "constraint",
  "create",
  "default",
  "desc",
  "distinct",
  "do",
  "else",
  "end",
  "except",
  "false",
  "for",
  "foreign",
  "from",
  "grant",
  "group",
  "having",
  "in",
  "limit",
  "not",
  "null",
  "offset",
  "on",
  "only",
  "or",
  "order",
  "primary",
  "references",
  "select",
  "table",
  "then",
  "to",
  "true",
  "union",
  "unique",
  "user",
  "using",
  "when",
  "where",
  "with",
]);

function findSchema(m: Manifest, name: string, flag: string): ManifestSchema {
  const s = m.schemas.find((x) => x.name === name);
  if (!s) {
    throw usageError(
      `${flag} '${name}' is not in this backup`,
      `the backup holds: ${m.schemas.map((x) => x.name).join(", ") || "no schemas"}`,
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
  const out: { schema: ManifestSchema; table: ManifestTable }[] = [];
  if (req.tables.length === 0) {
    const names = req.schemas.length > 0 ? req.schemas : m.schemas.map((s) => s.name);
    for (const n of names) {
      const s = findSchema(m, n, "--schema");
      for (const t of s.tables) out.push({ schema: s, table: t });
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
    const s = findSchema(m, q.schema, "--table");
    const t = s.tables.find((x) => x.name === q.table);
    if (!t) {
      const skipped = m.skipped.find((k) => k.schema === q.schema && k.table === q.table);
      throw usageError(
        `--table '${q.schema}.${q.table}' is not in this backup${skipped ? `: ${skipped.reason}` : ""}`,
        `tables of ${q.schema}: ${s.tables.map((x) => x.name).join(", ") || "none"}`,
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
function decide(
  schema: string,
  table: ManifestTable,
  target: TargetState,
  req: RestoreRequest,
  managedData: boolean,
): PlannedTable {
  const there = target.tables.get(tableKey(schema, table.name));
  const name = `${schema}.${table.name}`;
  const mk = (action: TableAction, reason: string): PlannedTable => ({ schema, table, action, reason });
  if (!there) {
    if (req.dataOnly) return mk("refuse", "absent from the target, and --data-only needs an existing table");
    return mk("create", "absent from the target");
  }
  if (there.kind === "v" || there.kind === "m" || there.kind === "f") {
    return mk("refuse", `the target has a view or foreign table named ${name}`);
  }
  if (managedData) {
    if (req.schemaOnly) return mk("keep", "Supabase-managed table: its definition is the target's own");
    if (there.empty === true) return mk("load", "Supabase-managed table, empty in the target");
    if (isServiceTable(schema, table.name)) {
      return mk("keep", "the target's own migration history (the service fills it)");
    }
    if (there.empty === undefined) {
      return mk("refuse", `${req.clean ? "" : "exists and "}cannot be read in the target`);
    }
    if (req.clean) {
      return mk("empty-load", "Supabase-managed table with rows: emptied (--clean), then loaded");
    }
    return mk("refuse", "Supabase-managed table that already holds rows");
  }
  if (req.clean) return mk("recreate", "exists: dropped and recreated (--clean)");
  if (req.dataOnly) {
    if (there.empty === true) return mk("load", "exists and is empty (--data-only)");
    return mk("refuse", there.empty === false ? "already holds rows" : "exists and cannot be read");
  }
  return mk("refuse", there.empty === false ? "already exists and holds rows" : "already exists");
}

/**
 * Plans a restore of `m` into `target`. Whole restores (all schemas, or `--schema`) work per schema
 * from the dumps; a Supabase-managed schema that already exists in the target gets only its rows.
 * `--table` works per table from schema.sql and the data files. Refused tables are listed in
 * `refused` (see {@link guardError}). Throws a usage error for selections the backup cannot satisfy.
 */
export function planRestore(m: Manifest, req: RestoreRequest, target: TargetState): RestorePlan {
  const selected = selectTables(m, req);
  const plan: RestorePlan = {
    kind: req.tables.length > 0 ? "tables" : "schemas",
    roles: req.roles,
    dataOnly: req.dataOnly,
    schemaOnly: req.schemaOnly,
    clean: req.clean,
    schemas: [],
    tables: [],
    files: [],
    refused: [],
    extensions: req.dataOnly ? [] : planExtensions(m.extensions ?? [], target),
    notes: [],
  };
  const files = new Set<string>();
  if (req.roles) {
    if (!m.roles) throw usageError("--roles: this backup has no roles file", "restore without --roles");
    files.add(m.roles);
  }
  if (plan.kind === "tables") {
    for (const { schema, table } of selected) {
      const p = decide(schema.name, table, target, req, false);
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
      const p = decide(schema.name, table, target, req, ps.mode === "data");
      if (ps.mode === "data") {
        if (p.action === "create") {
          p.reason = "absent from this Supabase-managed schema in the target: created on its own";
          plan.tables.push(p);
          for (const f of tableFiles(table, req)) files.add(f);
          for (const f of dumpFiles(schema)) files.add(f);
        } else {
          ps.tables.push(p);
          if (p.action === "load" || p.action === "empty-load") {
            for (const f of table.dataFiles) files.add(f);
          }
        }
      } else {
        ps.tables.push(p);
      }
    }
    // Schemas without tables still carry types, functions, views.
    const names = req.schemas.length > 0 ? req.schemas : m.schemas.map((s) => s.name);
    for (const n of names) {
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
      `Supabase-managed schemas already in the target (${managed.join(", ")}): rows only; ` +
        "their definitions stay the target's",
    );
  }
  const all = [...plan.schemas.flatMap((s) => s.tables), ...plan.tables];
  plan.refused = all.filter((t) => t.action === "refuse");
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
  const names = plan.refused.map((t) => `${t.schema}.${t.table.name} (${t.reason})`);
  const shown = names.slice(0, 5).join(", ") + (names.length > 5 ? `, and ${names.length - 5} more` : "");
  const absent = plan.refused.every((t) => t.reason.startsWith("absent"));
  return new BackupError(
    `refusing to restore into ${targetName}: ${plan.refused.length} selected table(s) in the way: ${shown}`,
    {
      hint: absent
        ? "leave out --data-only to create the missing tables"
        : "restore into an empty database, or add --clean to drop and recreate them (--data-only loads into existing empty tables)",
    },
  );
}

const ACTION_WORDS: Record<TableAction, string> = {
  create: "create + load",
  load: "load rows",
  recreate: "DROP, recreate + load",
  "empty-load": "DELETE rows, load",
  keep: "leave as is",
  refuse: "REFUSED",
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
  out.push(`restore ${ctx.from} into ${ctx.target} (${what})`);
  if (plan.roles) out.push("  roles: roles.sql (roles that already exist are left as they are)");
  const created = plan.extensions.filter((e) => e.action === "create");
  const present = plan.extensions.filter((e) => e.action !== "create");
  if (created.length > 0) {
    out.push(`  extensions to create: ${created.map((e) => `${e.name} (in ${e.schema})`).join(", ")}`);
  }
  if (present.length > 0) {
    out.push(
      `  extensions already in the target (left as they are): ${present.map((e) => e.name).join(", ")}`,
    );
  }
  for (const s of plan.schemas) {
    const how = s.mode === "data"
      ? "Supabase-managed, exists: rows only"
      : s.exists
      ? "exists: objects created in it"
      : "created";
    out.push(`  schema ${s.name} (${how})`);
    for (const t of s.tables) out.push(`    ${t.table.name}: ${actionWord(t, plan)}${rowsNote(t, plan)}`);
  }
  if (plan.tables.length > 0) {
    out.push(plan.kind === "tables" ? "  tables:" : "  tables restored on their own:");
    for (const t of plan.tables) {
      out.push(`    ${t.schema}.${t.table.name}: ${actionWord(t, plan)}${rowsNote(t, plan)}`);
    }
  }
  for (const n of plan.notes) out.push(`  note: ${n}`);
  return out.join("\n");
}

function rowsNote(t: PlannedTable, plan: RestorePlan): string {
  if (t.action === "refuse") return ` (${t.reason})`;
  if (plan.schemaOnly || t.action === "keep" || t.table.kind === "p" || t.table.rows === null) return "";
  return ` (${t.table.rows} rows)`;
}

// ---------------------------------------------------------------------------------------------
// The SQL that pg_restore writes, and how it is adapted to the target.

/** One entry of a pg_restore text script: its `-- Name: …; Type: …` header and its statements. */
export interface ScriptBlock {
  name: string;
  type: string;
  schema: string;
  owner: string;
  /** The block's text, header comment included. */
  text: string;
}

/** A pg_restore text script cut into its preamble (SET lines) and entry blocks. */
export interface Script {
  preamble: string;
  blocks: ScriptBlock[];
  /** Text after the last block's statements (`\unrestrict`, the closing comment). */
  trailer: string;
}

const HEADER = /^-- (?:Data for )?Name: (.*); Type: (.*); Schema: (.*); Owner: (.*)$/;

/**
 * Cuts a pg_restore/pg_dump plain-text script into blocks at its `-- Name: …; Type: …; Schema: …;
 * Owner: …` comments. Text before the first header is the preamble; a trailing
 * `-- PostgreSQL database dump complete` comment and what follows is the trailer.
 */
export function parseScript(text: string): Script {
  const lines = text.split("\n");
  let end = lines.length;
  for (let i = lines.length - 1; i >= 0; i--) {
    if (/^-- PostgreSQL database dump complete/.test(lines[i])) {
      end = i > 0 && lines[i - 1] === "--" ? i - 1 : i;
      break;
    }
  }
  const blocks: ScriptBlock[] = [];
  const preamble: string[] = [];
  let cur: { head: RegExpMatchArray; lines: string[] } | undefined;
  const flush = () => {
    if (!cur) return;
    blocks.push({
      name: cur.head[1],
      type: cur.head[2],
      schema: cur.head[3],
      owner: cur.head[4],
      text: cur.lines.join("\n"),
    });
  };
  for (let i = 0; i < end; i++) {
    const head = lines[i] === "--" && lines[i + 2] === "--" ? lines[i + 1]?.match(HEADER) : null;
    if (head) {
      flush();
      cur = { head, lines: [] };
    }
    if (cur) cur.lines.push(lines[i]);
    else preamble.push(lines[i]);
  }
  flush();
  return {
    preamble: preamble.join("\n"),
    blocks,
    trailer: lines.slice(end).join("\n"),
  };
}

/** Serialises a script (possibly with blocks removed) back to text. */
export function scriptText(s: Script): string {
  return [s.preamble, ...s.blocks.map((b) => b.text), s.trailer].join("\n");
}

/** What the filters know about the target and the client. */
export interface FilterContext {
  /** The target is older than 17 and rejects `SET transaction_timeout`. */
  dropTransactionTimeout: boolean;
  /** psql is older than the `\restrict` fix and does not know the meta-command. */
  dropRestrict: boolean;
  target: Pick<TargetState, "roles" | "assumable" | "schemas" | "extensions">;
}

/** What a filter removed. */
export interface FilterCounts {
  /** `ALTER … OWNER TO`, `SET SESSION AUTHORIZATION` the target cannot apply. */
  owners: number;
  /** GRANT/REVOKE to missing roles, default privileges of other roles, comments/ACLs on schemas not ours. */
  privileges: number;
}

/** Adds `b` into `a`. */
export function addCounts(a: FilterCounts, b: FilterCounts): void {
  a.owners += b.owners;
  a.privileges += b.privileges;
}

function readRole(text: string): string {
  const q = text.match(/^"((?:[^"]|"")*)"$/);
  return q ? q[1].replaceAll('""', '"') : text;
}

const ROLE = `("(?:[^"]|"")*"|[^\\s;"]+)`;
const OWNER_RE = new RegExp(`^ALTER .* OWNER TO ${ROLE};$`);
const SESSION_RE = new RegExp(`^SET SESSION AUTHORIZATION ${ROLE};$`);
const GRANTEE_RE = new RegExp(
  `^(?:GRANT|REVOKE) .* (?:TO|FROM) ${ROLE}(?: WITH GRANT OPTION)?(?: GRANTED BY ${ROLE})?;$`,
);
const DEFAULT_PRIV_RE = new RegExp(`^ALTER DEFAULT PRIVILEGES FOR ROLE ${ROLE} `);

/**
 * Decides, for one line outside COPY data, whether to keep it. Returns "keep", "owner" or
 * "privilege" (dropped, and why), or "drop" (dropped silently: `\restrict`, transaction_timeout).
 */
export function judgeLine(line: string, ctx: FilterContext): "keep" | "owner" | "privilege" | "drop" {
  if (ctx.dropRestrict && /^\\(un)?restrict /.test(line)) return "drop";
  if (ctx.dropTransactionTimeout && /^SET transaction_timeout = /.test(line)) return "drop";
  const { roles, assumable } = ctx.target;
  let m = line.match(OWNER_RE);
  if (m) return assumable.has(readRole(m[1])) ? "keep" : "owner";
  m = line.match(SESSION_RE);
  if (m) return assumable.has(readRole(m[1])) ? "keep" : "owner";
  m = line.match(DEFAULT_PRIV_RE);
  if (m) return assumable.has(readRole(m[1])) ? "keep" : "privilege";
  m = line.match(GRANTEE_RE);
  if (m) {
    const grantee = readRole(m[1]);
    if (grantee !== "PUBLIC" && !roles.has(grantee)) return "privilege";
    if (m[2] !== undefined && !assumable.has(readRole(m[2]))) return "privilege";
  }
  return "keep";
}

/**
 * Adapts a definitions script (pre-data, or a table's schema.sql) to the target: drops the blocks
 * of schemas that already exist (and their comment/ACL when the user does not own the schema), of
 * extensions that already exist (and their comment when the user does not own the extension),
 * ownership and privilege lines it cannot apply, `RESET SESSION AUTHORIZATION` paired with a dropped
 * `SET SESSION AUTHORIZATION`, and lines the server or psql do not know. In `--clean` scripts,
 * `DROP SCHEMA` and `DROP EXTENSION` lines are removed (schemas and extensions are never dropped)
 * and other `DROP … IF EXISTS` get CASCADE. COPY data is left untouched.
 */
export function filterDefinitions(
  text: string,
  ctx: FilterContext,
  opts: { dropBlock?: (b: ScriptBlock) => boolean } = {},
): { text: string; counts: FilterCounts } {
  const script = parseScript(text);
  const counts: FilterCounts = { owners: 0, privileges: 0 };
  const schemaOwnedByOthers = (name: string) => {
    const owner = ctx.target.schemas.get(name);
    return owner !== undefined && !ctx.target.assumable.has(owner);
  };
  script.blocks = script.blocks.filter((b) => {
    if (opts.dropBlock?.(b)) return false;
    if (b.type === "SCHEMA" && b.schema === "-" && ctx.target.schemas.has(unquoteName(b.name))) return false;
    // The restore creates missing extensions before any definitions; one the target has is left
    // as it is (on Supabase, supabase_admin owns them: COMMENT ON EXTENSION would fail).
    if (b.type === "EXTENSION" && b.schema === "-" && ctx.target.extensions?.has(unquoteName(b.name))) {
      return false;
    }
    if (b.type === "COMMENT" && b.schema === "-" && b.name.startsWith("EXTENSION ")) {
      const there = ctx.target.extensions?.get(unquoteName(b.name.slice(10)));
      if (there && !ctx.target.assumable.has(there.owner)) {
        counts.privileges++;
        return false;
      }
    }
    if ((b.type === "COMMENT" || b.type === "ACL") && b.schema === "-" && b.name.startsWith("SCHEMA ")) {
      if (schemaOwnedByOthers(unquoteName(b.name.slice(7)))) {
        counts.privileges++;
        return false;
      }
    }
    return true;
  });
  const lineFilter = (chunk: string) => {
    const out: string[] = [];
    let dropReset = false;
    let inCopy = false;
    for (const line of chunk.split("\n")) {
      if (inCopy) {
        out.push(line);
        if (line === "\\.") inCopy = false;
        continue;
      }
      if (/^COPY .* FROM stdin;$/.test(line)) {
        inCopy = true;
        out.push(line);
        continue;
      }
      if (/^DROP (SCHEMA|EXTENSION) (IF EXISTS )?/.test(line)) continue;
      const drop = line.match(CLEAN_DROP);
      if (drop) {
        // `--clean` scripts: objects outside the backup may depend on these (a trigger on
        // auth.users calling a public function); the restore recreates those it knows.
        out.push(`${drop[1]} CASCADE;`);
        continue;
      }
      if (line === "RESET SESSION AUTHORIZATION;" && dropReset) {
        dropReset = false;
        continue;
      }
      const v = judgeLine(line, ctx);
      if (v === "keep") out.push(line);
      else if (v === "owner") {
        counts.owners++;
        if (line.startsWith("SET SESSION AUTHORIZATION")) dropReset = true;
      } else if (v === "privilege") counts.privileges++;
    }
    return out.join("\n");
  };
  script.preamble = lineFilter(script.preamble);
  script.blocks = script.blocks.map((b) => ({ ...b, text: lineFilter(b.text) }));
  script.trailer = lineFilter(script.trailer);
  return { text: scriptText(script), counts };
}

const CLEAN_DROP =
  /^(DROP (?:TABLE|VIEW|MATERIALIZED VIEW|FUNCTION|PROCEDURE|AGGREGATE|TYPE|DOMAIN|SEQUENCE) IF EXISTS .*);$/;

/** `"My Schema"` → `My Schema`; plain names unchanged. */
export function unquoteName(name: string): string {
  const q = name.match(/^"((?:[^"]|"")*)"$/);
  return q ? q[1].replaceAll('""', '"') : name;
}

/**
 * A streaming line filter for data files (COPY blocks and setval calls): drops `\restrict` lines
 * and `SET transaction_timeout` as {@link FilterContext} says, never touching COPY data. Feed it
 * text chunks; it returns the text to pass on. Call with `flush: true` at the end.
 */
export function dataLineFilter(ctx: Pick<FilterContext, "dropRestrict" | "dropTransactionTimeout">) {
  let rest = "";
  let inCopy = false;
  const judge = (line: string): boolean => {
    if (inCopy) {
      if (line === "\\.") inCopy = false;
      return true;
    }
    if (/^COPY .* FROM stdin;$/.test(line)) {
      inCopy = true;
      return true;
    }
    if (ctx.dropRestrict && /^\\(un)?restrict /.test(line)) return false;
    if (ctx.dropTransactionTimeout && /^SET transaction_timeout = /.test(line)) return false;
    return true;
  };
  return (chunk: string, flush = false): string => {
    const text = rest + chunk;
    const cut = flush ? text.length : text.lastIndexOf("\n") + 1;
    rest = text.slice(cut);
    if (cut === 0) return "";
    const body = text.slice(0, cut);
    if (!ctx.dropRestrict && !ctx.dropTransactionTimeout) return body;
    const endsNl = body.endsWith("\n");
    const kept = (endsNl ? body.slice(0, -1) : body).split("\n").filter(judge);
    return kept.length ? kept.join("\n") + (endsNl ? "\n" : "") : "";
  };
}

/**
 * The table a foreign key block references: `… REFERENCES schema.table(col)`. Undefined when the
 * block is not a foreign key or the name cannot be read.
 */
export function fkTarget(block: ScriptBlock): QualifiedName | undefined {
  if (block.type !== "FK CONSTRAINT") return undefined;
  const m = block.text.match(/REFERENCES ((?:"(?:[^"]|"")*"|[^\s.("]+)\.(?:"(?:[^"]|"")*"|[^\s.("]+))\(/);
  if (!m) return undefined;
  const parts = m[1].match(/^("(?:[^"]|"")*"|[^.]+)\.(.*)$/)!;
  return { schema: unquoteName(parts[1]), table: unquoteName(parts[2]) };
}

/**
 * Splits a table's schema.sql into what runs before its data (table, sequences, defaults,
 * constraints, indexes, triggers, policies, grants) and its foreign keys (run after every selected
 * table is loaded). Foreign keys to tables for which `present` is false are dropped and named.
 */
export function splitTableScript(
  text: string,
  present: (q: QualifiedName) => boolean,
): { main: string; fks: string; droppedFks: { name: string; references: string }[] } {
  const s = parseScript(text);
  const fkBlocks: ScriptBlock[] = [];
  const dropped: { name: string; references: string }[] = [];
  const main = s.blocks.filter((b) => {
    if (b.type !== "FK CONSTRAINT") return true;
    const ref = fkTarget(b);
    if (ref && !present(ref)) {
      dropped.push({ name: `${b.schema}.${b.name}`, references: `${ref.schema}.${ref.table}` });
    } else fkBlocks.push(b);
    return false;
  });
  return {
    main: scriptText({ ...s, blocks: main }),
    fks: fkBlocks.length ? scriptText({ ...s, blocks: fkBlocks }) : "",
    droppedFks: dropped,
  };
}

/** A type, domain, sequence or function a table may need that lives outside its schema.sql. */
export interface Dependency {
  schema: string;
  /** Name without argument list. */
  name: string;
  type: "TYPE" | "DOMAIN" | "SEQUENCE" | "FUNCTION";
  block: ScriptBlock;
}

const DEP_TYPES = new Set(["TYPE", "DOMAIN", "SEQUENCE", "FUNCTION"]);
const DEP_ORDER: Record<string, number> = { TYPE: 0, DOMAIN: 1, SEQUENCE: 2, FUNCTION: 3 };

function mentions(text: string, schema: string, name: string): boolean {
  const forms = (n: string) => [...new Set([quoteIdent(n), `"${n.replaceAll('"', '""')}"`, n])];
  for (const s of forms(schema)) {
    for (const n of forms(name)) {
      const i = text.indexOf(`${s}.${n}`);
      if (i < 0) continue;
      const after = text[i + s.length + 1 + n.length] ?? "";
      if (!/[a-z0-9_$]/i.test(after)) return true;
    }
  }
  return false;
}

/**
 * Picks, from pre-data scripts of the backup's schema dumps, the types, domains, sequences and
 * functions that `text` (a table's schema.sql) refers to and the target lacks (`exists` false),
 * following references among them. Objects already defined in `text` are not picked. Returns them
 * in a creatable order (types, domains, sequences, functions; dump order within each).
 */
export function pickDependencies(
  text: string,
  scripts: { schema: string; script: Script }[],
  exists: (d: Omit<Dependency, "block">) => boolean,
): Dependency[] {
  const own = new Set(parseScript(text).blocks.map((b) => `${b.type}\u0000${b.schema}\u0000${b.name}`));
  const candidates: Dependency[] = [];
  for (const { script } of scripts) {
    for (const b of script.blocks) {
      if (!DEP_TYPES.has(b.type) || own.has(`${b.type}\u0000${b.schema}\u0000${b.name}`)) continue;
      const name = unquoteName(b.name.replace(/\(.*$/s, ""));
      const d = { schema: b.schema, name, type: b.type as Dependency["type"] };
      if (exists(d)) continue;
      candidates.push({ ...d, block: b });
    }
  }
  const picked: Dependency[] = [];
  let haystack = text;
  for (let changed = true; changed;) {
    changed = false;
    for (const c of candidates) {
      if (picked.includes(c) || !mentions(haystack, c.schema, c.name)) continue;
      picked.push(c);
      haystack += "\n" + c.block.text;
      changed = true;
    }
  }
  const order = new Map(candidates.map((c, i) => [c, i]));
  return picked.sort((a, b) => DEP_ORDER[a.type] - DEP_ORDER[b.type] || order.get(a)! - order.get(b)!);
}

/** Line that summarises skipped ownership/privilege statements (undefined when none were). */
export function skippedLine(c: FilterCounts, user: string): string | undefined {
  if (c.owners === 0 && c.privileges === 0) return undefined;
  const parts: string[] = [];
  if (c.owners) parts.push(`${c.owners} ownership statement(s)`);
  if (c.privileges) parts.push(`${c.privileges} privilege statement(s)`);
  return `skipped ${
    parts.join(" and ")
  } the target cannot apply as ${user} (role missing or not permitted); ` +
    `those objects belong to ${user}`;
}
