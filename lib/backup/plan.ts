/**
 * Backup planning: turns detected schemas and tables, the options and a clock value into the list
 * of files to write, the pg_dump selection for each schema and each file's `\restrict` key. Pure: no I/O.
 * @module
 */
import { createHash } from "node:crypto";
import { type QualifiedName, sqlIdent } from "../pg/ident.ts";
import { usageError } from "../base/errors.ts";
import type {
  Detected,
  DetectedExtension,
  DetectedGlobal,
  DetectedSetting,
  DetectedTable,
} from "../pg/detect.ts";
import type {
  ManifestNotCaptured,
  ManifestRoleSetting,
  ManifestSetting,
  ManifestUserMapping,
} from "../store/manifest.ts";
import {
  CATALOG_FILE,
  dumpPath,
  encodeSchemas,
  encodeSiblings,
  ROLES_FILE,
  tableDataPath,
  tableSchemaPath,
} from "../store/layout.ts";

/** Schemas Supabase manages (restore puts data, not DDL, into them on a Supabase target). */
export const MANAGED_SCHEMAS = new Set([
  "auth",
  "storage",
  "realtime",
  "graphql",
  "graphql_public",
  "extensions",
  "pgbouncer",
  "supabase_migrations",
  "supabase_functions",
  "vault",
  "cron",
  "net",
  "pgsodium",
  "pgsodium_masks",
  "pgmq",
  "_realtime",
  "_analytics",
  "_supavisor",
]);

/** Schemas `--scope user` leaves out (the Supabase seed's "user schemas" exclusion list). */
export const USER_SCOPE_EXCLUDED = new Set([
  "auth",
  "extensions",
  "graphql",
  "graphql_public",
  "realtime",
  "storage",
  "vault",
  "pgbouncer",
]);

/** Backup selection options. */
export interface PlanOptions {
  scope: "full" | "user";
  /** Only these schemas (empty: all in scope). */
  schemas: string[];
  /** Tables to leave out, as {schema, table}. */
  excludeTables: QualifiedName[];
}

/** One table to write. */
export interface PlannedTable {
  oid: number;
  name: string;
  kind: "r" | "p";
  partitionOf?: string;
  schemaFile: string;
  /** data.sql path when not split; the executor derives part names with {@link tableDataPath}. */
  dataFile: string;
  tableSeg: string;
}

/** One schema to dump. */
export interface PlannedSchema {
  name: string;
  seg: string;
  dump: string;
  managed: boolean;
  /** Tables whose definition and data pg_dump must leave out (`-T`): unreadable or excluded. */
  excludeTables: string[];
  /**
   * Extensions installed in this schema (`-e`): pg_dump leaves out `CREATE EXTENSION` under
   * `--schema` unless the extension is selected too.
   */
  extensions: string[];
  tables: PlannedTable[];
}

/** The whole-database schema-only dump, catalog.sql, with the exclusions of the per-schema dumps. */
export interface PlannedCatalog {
  file: string;
  /** Schemas not dumped (out of scope, or without USAGE): `--exclude-schema`. */
  excludeSchemas: string[];
  /** Tables the schema dumps leave out (unreadable or excluded): `--exclude-table`. */
  excludeTables: QualifiedName[];
}

/** What the manifest records of the database itself. */
export interface PlannedDatabase {
  settings: ManifestSetting[];
  roleSettings: ManifestRoleSetting[];
  comment: string | null;
}

/** The whole plan. */
export interface BackupPlan {
  createdAt: Date;
  roles: string;
  catalog: PlannedCatalog;
  database: PlannedDatabase;
  userMappings: ManifestUserMapping[];
  schemas: PlannedSchema[];
  /**
   * Every extension of the database (but plpgsql and those in pg_catalog), in creation order, also
   * those of schemas not backed up: the manifest lists them so that a restore can create them.
   */
  extensions: DetectedExtension[];
  skipped: { schema: string; table: string; reason: string }[];
  skippedSchemas: { schema: string; reason: string }[];
  /**
   * What the connecting role cannot capture, as known before dumping ({@link notCaptured} without
   * the dumped entries); the executor also checks catalog.sql, and records the final list.
   */
  notCaptured: ManifestNotCaptured[];
}

/** Quotes an identifier for a pg_dump pattern: inside double quotes every character is literal. */
export function patternIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function inScope(schema: string, opts: PlanOptions): boolean {
  if (opts.schemas.length > 0) return opts.schemas.includes(schema);
  if (opts.scope === "user") return !USER_SCOPE_EXCLUDED.has(schema);
  return true;
}

/**
 * Builds the plan. Unreadable tables are left out with a reason (the run is then partial);
 * extension-owned tables are left to pg_dump's schema dump. Throws a usage error when a `--schema`
 * names a schema that does not exist.
 */
export function planBackup(d: Detected, opts: PlanOptions, now: Date): BackupPlan {
  const names = new Set(d.schemas.map((s) => s.name));
  for (const s of opts.schemas) {
    if (!names.has(s)) {
      throw usageError(
        `--schema '${s}' does not exist in database ${d.database}`,
        "run with --dry-run to list the schemas",
      );
    }
  }
  const skipped: BackupPlan["skipped"] = [];
  const skippedSchemas: BackupPlan["skippedSchemas"] = [];
  const selected = d.schemas.filter((s) => inScope(s.name, opts));
  const usable = selected.filter((s) => {
    if (!s.usable) skippedSchemas.push({ schema: s.name, reason: `no USAGE privilege for ${d.currentUser}` });
    return s.usable;
  });
  const segs = encodeSchemas(usable.map((s) => s.name));
  const excluded = new Set(opts.excludeTables.map((q) => `${q.schema}\u0000${q.table}`));
  const bySchema = new Map<string, DetectedTable[]>();
  for (const t of d.tables) {
    if (!bySchema.has(t.schema)) bySchema.set(t.schema, []);
    bySchema.get(t.schema)!.push(t);
  }
  const schemas: PlannedSchema[] = usable.map((s) => {
    const seg = segs.get(s.name)!;
    const all = (bySchema.get(s.name) ?? []).filter((t) => !t.extension);
    const excludeTables: string[] = [];
    const kept: DetectedTable[] = [];
    for (const t of all) {
      if (excluded.has(`${t.schema}\u0000${t.name}`)) {
        excludeTables.push(t.name);
      } else if (!t.readable) {
        excludeTables.push(t.name);
        skipped.push({
          schema: s.name,
          table: t.name,
          reason: `permission denied: ${d.currentUser} cannot read it (definition and data not backed up)`,
        });
      } else kept.push(t);
    }
    const tableSegs = encodeSiblings(kept.map((t) => t.name));
    return {
      name: s.name,
      seg,
      dump: dumpPath(seg, now),
      managed: MANAGED_SCHEMAS.has(s.name),
      excludeTables,
      extensions: d.extensions.filter((e) => e.schema === s.name).map((e) => e.name),
      tables: kept.map((t) => {
        const tableSeg = tableSegs.get(t.name)!;
        return {
          oid: t.oid,
          name: t.name,
          kind: t.kind,
          ...(t.partitionOf ? { partitionOf: t.partitionOf } : {}),
          tableSeg,
          schemaFile: tableSchemaPath(seg, tableSeg),
          dataFile: tableDataPath(seg, tableSeg),
        };
      }),
    };
  });
  const dumped = new Set(usable.map((s) => s.name));
  return {
    createdAt: now,
    roles: ROLES_FILE,
    catalog: {
      file: CATALOG_FILE,
      excludeSchemas: d.schemas.filter((s) => !dumped.has(s.name)).map((s) => s.name),
      excludeTables: schemas.flatMap((s) => s.excludeTables.map((table) => ({ schema: s.name, table }))),
    },
    database: {
      settings: d.settings.filter((x) => !x.role).map((x) => ({ name: x.name, value: recorded(x) })),
      roleSettings: d.settings.filter((x) => x.role).map((x) => ({
        role: x.role!,
        name: x.name,
        value: recorded(x),
      })),
      comment: d.databaseComment,
    },
    userMappings: d.userMappings.map((m) => ({ server: m.server, user: m.user, options: m.options })),
    schemas,
    extensions: d.extensions.map((e) => ({ ...e })),
    skipped,
    skippedSchemas,
    notCaptured: notCaptured(d),
  };
}

/**
 * Whether a setting's value is kept out of the manifest as a possible secret: a custom setting
 * (its name has a dot: `app.settings.jwt_secret`) whose name speaks of a secret, password, token,
 * credential or key. PostgreSQL's own settings hold no secrets.
 */
export function secretSetting(name: string): boolean {
  return name.includes(".") && /secret|passw|pwd|token|credential|key/i.test(name);
}

/** A setting's value as the manifest records it: null for a {@link secretSetting}. */
function recorded(x: DetectedSetting): string | null {
  return secretSetting(x.name) ? null : x.value;
}

/** The key of a dumped entry, its pg_dump type and tag (as {@link notCaptured} compares them). */
export function entryKey(type: string, tag: string): string {
  return `${type}\u0000${tag}`;
}

/** The forms pg_dump may give an object's name in an entry header: as it is, or quoted; newlines as spaces. */
function tagForms(g: DetectedGlobal): string[] {
  const name = g.name.replace(/[\r\n]/g, " ");
  return [name, `"${name.replaceAll('"', '""')}"`];
}

/**
 * What the backup cannot hold, named, with why and what to do: user mappings whose options the
 * role may not see, subscriptions (their connection strings may hold passwords), large objects,
 * and, given `dumped` (the {@link entryKey}s of catalog.sql's entries), every event trigger,
 * foreign data wrapper, server, publication and access method that pg_dump left out of it. Pure.
 */
export function notCaptured(d: Detected, dumped?: ReadonlySet<string>): ManifestNotCaptured[] {
  const out: ManifestNotCaptured[] = [];
  for (const g of dumped ? d.globals : []) {
    if (tagForms(g).some((t) => dumped!.has(entryKey(g.kind, t)))) continue;
    out.push({
      kind: g.kind,
      name: g.name,
      reason:
        `pg_dump left it out of catalog.sql when connected as ${d.currentUser}; create it again after a restore`,
    });
  }
  for (const m of d.userMappings) {
    if (m.options !== null) continue;
    out.push({
      kind: "USER MAPPING",
      name: `FOR ${sqlIdent(m.user)} SERVER ${sqlIdent(m.server)}`,
      reason:
        `${d.currentUser} may not see its options (only the mapped role with USAGE on the server, the server's owner or a superuser may), so their names are not recorded; back up as one of them, or look them up in the source`,
    });
  }
  for (const name of d.subscriptions) {
    out.push({
      kind: "SUBSCRIPTION",
      name,
      reason:
        "subscriptions are not backed up, as their connection strings may hold passwords; create it again after a restore",
    });
  }
  if (d.largeObjects > 0) {
    out.push({
      kind: "LARGE OBJECT",
      name: `${d.largeObjects} large object(s)`,
      reason: "large objects are not backed up; export them with lo_export, or keep them in a bytea column",
    });
  }
  return out;
}

/**
 * The `--compress` value for a pg_dump of major `pgDumpMajor`: zstd level 3 from pg_dump 16 on
 * (about 5× less CPU than gzip 6 for a slightly smaller file, and faster to read back), gzip 6 before.
 */
export function dumpCompression(pgDumpMajor: number): string {
  return pgDumpMajor >= 16 ? "zstd:3" : "6";
}

/** Names per `--schema` pattern of a group: pg_dump runs one catalog query per pattern. */
const NAMES_PER_PATTERN = 100;

/**
 * `--schema` patterns matching exactly `names`: one name alone as a quoted identifier, several as an
 * alternation of quoted identifiers, `("a"|"b")` (inside double quotes every character is literal;
 * outside them pg_dump passes `(`, `|` and `)` to the regular expression it anchors), at most
 * {@link NAMES_PER_PATTERN} names each. One pattern costs pg_dump one query, one round trip.
 */
export function schemaPatterns(names: string[]): string[] {
  if (names.length === 1) return [patternIdent(names[0])];
  const out: string[] = [];
  for (let i = 0; i < names.length; i += NAMES_PER_PATTERN) {
    out.push(`(${names.slice(i, i + NAMES_PER_PATTERN).map(patternIdent).join("|")})`);
  }
  return out;
}

/** Patterns for tables `names` of `schema`: `"s".("a"|"b")`, at most 100 names each. */
export function tablePatterns(schema: string, names: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < names.length; i += NAMES_PER_PATTERN) {
    out.push(
      `${patternIdent(schema)}.(${names.slice(i, i + NAMES_PER_PATTERN).map(patternIdent).join("|")})`,
    );
  }
  return out;
}

/**
 * pg_dump arguments for one slice of a schema's data (lib/backup/slice.ts): the rows of the tables
 * `patterns` match (`slicePatterns`) only, custom format, into `file`, in the backup's snapshot.
 */
export function pgDumpSliceArgs(
  patterns: string[],
  file: string,
  pgDumpMajor: number,
  snapshot: string,
  compress = dumpCompression(pgDumpMajor),
): string[] {
  return [
    "--format=custom",
    `--compress=${compress}`,
    `--file=${file}`,
    "--data-only",
    ...patterns.map((p) => `--table=${p}`),
    `--snapshot=${snapshot}`,
    "--no-password",
  ];
}

/**
/**
 * The `--compress` of dumps committed to git (`backup --commit`, not encrypted): none. git
 * compresses every object itself, and packs a dump as a delta against its previous version only when
 * unchanged tables give unchanged bytes; a compressed stream changes from the first changed row on.
 */
export const GIT_DUMP_COMPRESSION = "0";

/**
 * pg_dump arguments selecting one planned schema, or several for a group's one archive
 * (lib/backup/group.ts), custom format, into `file`: the schemas (`-n`), the extensions installed in
 * them (`-e`, which adds their `CREATE EXTENSION`, `COMMENT ON EXTENSION` and changed privileges on
 * their member objects, nothing else of other schemas), and the tables to leave out (`-T`).
 * `compress` is {@link dumpCompression} unless given (`0` for git: see {@link GIT_DUMP_COMPRESSION}).
 */
export function pgDumpArgs(
  schemas: PlannedSchema | PlannedSchema[],
  file: string,
  pgDumpMajor: number,
  snapshot?: string,
  compress = dumpCompression(pgDumpMajor),
  /** Patterns of tables of a single schema whose rows its slices read instead (`--exclude-table-data`). */
  sliced: string[] = [],
): string[] {
  const list = Array.isArray(schemas) ? schemas : [schemas];
  const args = [
    "--format=custom",
    `--compress=${compress}`,
    `--file=${file}`,
    ...schemaPatterns(list.map((s) => s.name)).map((p) => `--schema=${p}`),
  ];
  for (const s of list) {
    for (const e of s.extensions) args.push(`--extension=${patternIdent(e)}`);
  }
  for (const s of list) {
    for (const t of s.excludeTables) args.push(`--exclude-table=${patternIdent(s.name)}.${patternIdent(t)}`);
  }
  for (const p of sliced) args.push(`--exclude-table-data=${p}`);
  if (snapshot) args.push(`--snapshot=${snapshot}`);
  args.push("--no-password");
  return args;
}

/**
 * pg_dump arguments for catalog.sql: every definition of the database in one plain script, in
 * pg_dump's one dependency order (also across schemas), and the database-level objects the schema
 * dumps leave out, without the schemas and tables the plan leaves out. Subscriptions are never
 * dumped (`--no-subscriptions`: their connection strings may hold passwords). The script goes to
 * stdout; user mappings are cut out of it afterwards (lib/backup/catalog.ts).
 */
export function pgDumpCatalogArgs(c: PlannedCatalog, snapshot?: string, key?: string): string[] {
  const args = ["--schema-only", "--format=plain", "--no-subscriptions"];
  for (const s of c.excludeSchemas) args.push(`--exclude-schema=${patternIdent(s)}`);
  for (const t of c.excludeTables) {
    args.push(`--exclude-table=${patternIdent(t.schema)}.${patternIdent(t.table)}`);
  }
  if (snapshot) args.push(`--snapshot=${snapshot}`);
  if (key) args.push(`--restrict-key=${key}`);
  args.push("--no-password");
  return args;
}

/**
 * The `\restrict` key of one written file (pg_dumpall/pg_restore `--restrict-key`), derived from its
 * names so that unchanged tables give byte-identical files.
 */
export function restrictKey(...parts: string[]): string {
  // The hex of the first 16 bytes, not a slice of the whole digest's hex: a slice keeps its 64-character
  // parent alive, and a backup keeps a key per table file (thousands) while it writes them.
  return createHash("sha256").update(["supabase-backup", ...parts].join("\u0000")).digest().subarray(0, 16)
    .toString("hex");
}

/** Counts for progress and summaries. */
export function planTotals(p: BackupPlan): { schemas: number; tables: number } {
  return { schemas: p.schemas.length, tables: p.schemas.reduce((n, s) => n + s.tables.length, 0) };
}
