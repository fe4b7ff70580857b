/**
 * Detection queries, read through `pg_catalog` (not information_schema, which hides what the role
 * cannot read) inside the backup's snapshot transaction.
 * @module
 */
import type { Sql } from "./connect.ts";

/** A schema as the catalog shows it. */
export interface DetectedSchema {
  oid: number;
  name: string;
  owner: string;
  /** The connected role has USAGE on it. */
  usable: boolean;
}

/** A table (relkind r or p) as the catalog shows it. */
export interface DetectedTable {
  oid: number;
  schema: string;
  name: string;
  kind: "r" | "p";
  /** The connected role can SELECT it. */
  readable: boolean;
  /** Belongs to an extension (left to pg_dump). */
  extension: boolean;
  /** Parent partitioned table, `schema.table`, for partitions. */
  partitionOf?: string;
  /** Its size as the statistics estimate it (`relpages` of the table and its TOAST table, in bytes). */
  bytes?: number;
}

/** An extension installed in the database (not plpgsql, not in pg_catalog). */
export interface DetectedExtension {
  name: string;
  /** The schema it is installed in (`pg_extension.extnamespace`). */
  schema: string;
  version: string;
}

/** A user mapping, as `pg_user_mappings` shows it to the connected role. */
export interface DetectedUserMapping {
  server: string;
  /** The mapped role, or `public` for a mapping FOR PUBLIC (no role may be named public). */
  user: string;
  /**
   * Its option names, never their values (split off in the query, so values are never read);
   * null when the connected role may not see the options.
   */
  options: string[] | null;
}

/** A setting of the database: `ALTER DATABASE … SET`, or with `role`, `ALTER ROLE … IN DATABASE … SET`. */
export interface DetectedSetting {
  role?: string;
  name: string;
  /** The value as stored in `pg_db_role_setting` (the text after the first `=`). */
  value: string;
}

/** Kinds of database-level objects that pg_dump writes as entries of their own, named by name alone. */
export type GlobalKind =
  | "EVENT TRIGGER"
  | "FOREIGN DATA WRAPPER"
  | "SERVER"
  | "PUBLICATION"
  | "ACCESS METHOD";

/** A database-level object that is not an extension's member (those come with `CREATE EXTENSION`). */
export interface DetectedGlobal {
  kind: GlobalKind;
  name: string;
  owner: string;
}

/** Everything detection returns. */
export interface Detected {
  serverVersionNum: number;
  serverVersion: string;
  database: string;
  /** The database's encoding (`server_encoding`): UTF8 on Supabase. */
  encoding: string;
  sizeBytes: number;
  currentUser: string;
  /** `COMMENT ON DATABASE`, or null. */
  databaseComment: string | null;
  /** Settings of this database (`pg_db_role_setting`): the database's own first, then per role. */
  settings: DetectedSetting[];
  userMappings: DetectedUserMapping[];
  /** Event triggers, foreign data wrappers, servers, publications, access methods (not built in). */
  globals: DetectedGlobal[];
  /** Subscriptions of this database (names are visible to every role; their connection strings are not). */
  subscriptions: string[];
  /** How many large objects the database holds. */
  largeObjects: number;
  schemas: DetectedSchema[];
  tables: DetectedTable[];
  roles: string[];
  /** Extensions, in creation order (an extension comes after those it requires). */
  extensions: DetectedExtension[];
  /** Oid of an index, constraint, trigger, policy, default, rule or owned sequence → table oid. */
  owners: Map<number, number>;
  /** Per schema: name of an index or owned sequence → table oid. */
  namedOwners: Map<string, Map<string, number>>;
}

/** Runs the detection queries on `sql` (a reserved connection inside the snapshot transaction), pipelined. */
export async function detect(sql: Sql): Promise<Detected> {
  const infoQ = sql<
    {
      num: number;
      version: string;
      db: string;
      size: string;
      usr: string;
      comment: string | null;
      los: string;
      encoding: string;
    }[]
  >`select current_setting('server_version_num')::int as num, current_setting('server_version') as version,
      current_setting('server_encoding') as encoding,
      current_database() as db, pg_database_size(current_database())::text as size, current_user as usr,
      (select shobj_description(oid, 'pg_database') from pg_database where datname = current_database())
        as comment,
      (select count(*) from pg_largeobject_metadata)::text as los`;
  const schemasQ = sql<DetectedSchema[]>`
    select n.oid::int8 as oid, n.nspname as name, pg_get_userbyid(n.nspowner) as owner,
           has_schema_privilege(n.oid, 'USAGE') as usable
    from pg_namespace n
    where n.nspname !~ '^pg_' and n.nspname <> 'information_schema'
    order by n.nspname`;
  const tablesQ = sql<(Omit<DetectedTable, "bytes"> & { parent: string | null; bytes: string })[]>`
    select c.oid::int8 as oid, n.nspname as schema, c.relname as name, c.relkind as kind,
           has_table_privilege(c.oid, 'SELECT') as readable,
           ((greatest(c.relpages, 0) + coalesce((select greatest(t.relpages, 0) from pg_class t
                                                  where t.oid = c.reltoastrelid), 0))
             * current_setting('block_size')::int8)::text as bytes,
           exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid
                   and d.deptype = 'e') as extension,
           (select quote_ident(pn.nspname) || '.' || quote_ident(p.relname) from pg_inherits i
              join pg_class p on p.oid = i.inhparent join pg_namespace pn on pn.oid = p.relnamespace
             where i.inhrelid = c.oid and c.relispartition limit 1) as parent
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.relkind in ('r', 'p') and n.nspname !~ '^pg_' and n.nspname <> 'information_schema'
    order by n.nspname, c.relname`;
  const ownersQ = sql<{ oid: number; tbl: number }[]>`
    select indexrelid::int8 as oid, indrelid::int8 as tbl from pg_index
    union all select oid::int8, conrelid::int8 from pg_constraint where conrelid <> 0
    union all select oid::int8, tgrelid::int8 from pg_trigger
    union all select oid::int8, polrelid::int8 from pg_policy
    union all select oid::int8, adrelid::int8 from pg_attrdef
    union all select oid::int8, ev_class::int8 from pg_rewrite
    union all select d.objid::int8, d.refobjid::int8 from pg_depend d
      join pg_class s on s.oid = d.objid and s.relkind = 'S'
     where d.classid = 'pg_class'::regclass and d.refclassid = 'pg_class'::regclass and d.deptype in ('a', 'i')`;
  const namedQ = sql<{ schema: string; name: string; tbl: number }[]>`
    select n.nspname as schema, ci.relname as name, i.indrelid::int8 as tbl
      from pg_index i join pg_class ci on ci.oid = i.indexrelid join pg_namespace n on n.oid = ci.relnamespace
    union all
    select n.nspname, s.relname, d.refobjid::int8 from pg_depend d
      join pg_class s on s.oid = d.objid and s.relkind = 'S' join pg_namespace n on n.oid = s.relnamespace
     where d.classid = 'pg_class'::regclass and d.refclassid = 'pg_class'::regclass and d.deptype in ('a', 'i')`;
  const rolesQ = sql<{ rolname: string }[]>`select rolname from pg_roles`;
  const extensionsQ = sql<DetectedExtension[]>`
    select e.extname as name, n.nspname as schema, e.extversion as version
      from pg_extension e join pg_namespace n on n.oid = e.extnamespace
     where e.extname <> 'plpgsql' and n.nspname <> 'pg_catalog'
     order by e.oid`;
  const settingsQ = sql<{ role: string | null; config: string[] }[]>`
    select r.rolname as role, s.setconfig as config
      from pg_db_role_setting s left join pg_roles r on r.oid = s.setrole
     where s.setdatabase = (select oid from pg_database where datname = current_database())
     order by r.rolname nulls first`;
  // The same visibility rule as the pg_user_mappings view; only option names leave the server.
  const mappingsQ = sql<DetectedUserMapping[]>`
    select m.srvname as server, m.usename as "user",
           case when m.umoptions is not null
                  or (m.umuser <> 0 and m.usename = current_user
                      and (pg_has_role(s.srvowner, 'USAGE') or has_server_privilege(s.oid, 'USAGE')))
                  or (m.umuser = 0 and pg_has_role(s.srvowner, 'USAGE'))
                  or (select rolsuper from pg_roles where rolname = current_user)
                then array(select split_part(o.opt, '=', 1)
                             from unnest(coalesce(m.umoptions, '{}')) with ordinality as o(opt, n) order by o.n)
           end as options
      from pg_user_mappings m join pg_foreign_server s on s.oid = m.srvid
     order by m.srvname, m.usename`;
  const globalsQ = sql<DetectedGlobal[]>`
    select g.kind, g.name, g.owner from (
      select 'EVENT TRIGGER' as kind, evtname as name, pg_get_userbyid(evtowner) as owner,
             'pg_event_trigger'::regclass as classid, oid from pg_event_trigger
      union all select 'FOREIGN DATA WRAPPER', fdwname, pg_get_userbyid(fdwowner),
             'pg_foreign_data_wrapper'::regclass, oid from pg_foreign_data_wrapper
      union all select 'SERVER', srvname, pg_get_userbyid(srvowner), 'pg_foreign_server'::regclass, oid
             from pg_foreign_server
      union all select 'PUBLICATION', pubname, pg_get_userbyid(pubowner), 'pg_publication'::regclass, oid
             from pg_publication
      union all select 'ACCESS METHOD', amname, '', 'pg_am'::regclass, oid from pg_am where oid >= 16384
    ) g
    where not exists (select 1 from pg_depend d
                       where d.classid = g.classid and d.objid = g.oid and d.deptype = 'e')
    order by g.kind, g.name`;
  const subscriptionsQ = sql<{ name: string }[]>`
    select subname as name from pg_subscription
     where subdbid = (select oid from pg_database where datname = current_database())
     order by subname`;
  // Sent together: postgres.js pipelines them on the one connection, one round trip instead of eleven.
  const [
    [info],
    schemas,
    tables,
    owners,
    named,
    roles,
    extensions,
    settings,
    mappings,
    globals,
    subscriptions,
  ] = await Promise.all([
    infoQ,
    schemasQ,
    tablesQ,
    ownersQ,
    namedQ,
    rolesQ,
    extensionsQ,
    settingsQ,
    mappingsQ,
    globalsQ,
    subscriptionsQ,
  ]);
  const namedOwners = new Map<string, Map<string, number>>();
  for (const r of named) {
    if (!namedOwners.has(r.schema)) namedOwners.set(r.schema, new Map());
    namedOwners.get(r.schema)!.set(r.name, Number(r.tbl));
  }
  return {
    serverVersionNum: info.num,
    serverVersion: info.version,
    database: info.db,
    encoding: info.encoding,
    sizeBytes: Number(info.size),
    currentUser: info.usr,
    databaseComment: info.comment,
    settings: settings.flatMap((r) =>
      r.config.map((c) => {
        const eq = c.indexOf("=");
        const setting = { name: eq < 0 ? c : c.slice(0, eq), value: eq < 0 ? "" : c.slice(eq + 1) };
        return r.role === null ? setting : { role: r.role, ...setting };
      })
    ),
    userMappings: mappings.map((m) => ({ server: m.server, user: m.user, options: m.options })),
    globals: globals.map((g) => ({ kind: g.kind, name: g.name, owner: g.owner })),
    subscriptions: subscriptions.map((r) => r.name),
    largeObjects: Number(info.los),
    schemas: schemas.map((s) => ({ ...s, oid: Number(s.oid) })),
    tables: tables.map(({ parent, ...t }) => ({
      ...t,
      oid: Number(t.oid),
      bytes: Number(t.bytes),
      ...(parent ? { partitionOf: parent } : {}),
    })),
    roles: roles.map((r) => r.rolname),
    extensions: extensions.map((e) => ({ name: e.name, schema: e.schema, version: e.version })),
    owners: new Map(owners.map((o) => [Number(o.oid), Number(o.tbl)])),
    namedOwners,
  };
}
