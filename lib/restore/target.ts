/**
 * The restore's target database: what the planner needs to know of it ({@link inspectTarget}),
 * and what the restore assumes of it after a step created roles, schemas or tables ({@link assumeCreated}); the types, domains, sequences and
 * functions it already has; and its default privileges, suspended while restored objects are
 * created.
 * @module
 */
import type { Sql } from "../pg/connect.ts";
import type { QualifiedName } from "../pg/ident.ts";
import type { Ctx } from "./context.ts";
import { tableKey, type TargetDefaultAcl, type TargetState, type TargetTable } from "./plan.ts";
import { qualified, quoteIdent } from "../pg/ident.ts";
import { parseServerVersionNum } from "../pg/tools.ts";
import { globalKey } from "./catalog.ts";

/**
 * Reads what the planner needs from the target: server version, user, roles, schemas and tables,
 * and whether each of `check` (existing selected tables) is empty. The queries go out at once (the
 * client pipelines them), so reading the target takes a few round trips, not one per query.
 */
export async function inspectTarget(sql: Sql, check: QualifiedName[]): Promise<TargetState> {
  const first = sql<{ usr: string; sup: boolean; num: number }[]>`
    select current_user as usr, coalesce((select rolsuper from pg_roles where rolname = current_user), false) as sup,
           current_setting('server_version_num')::int as num`;
  // SET (PostgreSQL 16 and later) or MEMBER: the privilege that lets this role act as another.
  const roles = sql<{ name: string; can: boolean }[]>`
    select rolname as name,
           pg_has_role(current_user, oid,
             case when current_setting('server_version_num')::int >= 160000 then 'SET' else 'MEMBER' end) as can
      from pg_roles`;
  const schemas = sql<{ name: string; owner: string }[]>`
    select nspname as name, pg_get_userbyid(nspowner) as owner from pg_namespace`;
  const extensions = sql<{ name: string; schema: string; owner: string }[]>`
    select e.extname as name, n.nspname as schema, pg_get_userbyid(e.extowner) as owner
      from pg_extension e join pg_namespace n on n.oid = e.extnamespace`;
  const tables = sql<{ schema: string; name: string; kind: string }[]>`
    select n.nspname as schema, c.relname as name, c.relkind::text as kind
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.relkind in ('r', 'p', 'v', 'm', 'f')
      and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast'`;
  // Database-level objects by pg_dump's entry type and tag (a cast's tag names its types as pg_dump
  // does with an empty search_path).
  const globals = sql<{ type: string; name: string }[]>`
    with ty as (
      select t.oid, case when n.nspname = 'pg_catalog' then format_type(t.oid, null)
                         else quote_ident(n.nspname) || '.' || quote_ident(t.typname) end as name
        from pg_type t join pg_namespace n on n.oid = t.typnamespace)
    select 'ACCESS METHOD' as type, amname::text as name from pg_am
    union all select 'FOREIGN DATA WRAPPER', fdwname from pg_foreign_data_wrapper
    union all select 'SERVER', srvname from pg_foreign_server
    union all select 'PUBLICATION', pubname from pg_publication
    union all select 'EVENT TRIGGER', evtname from pg_event_trigger
    union all select 'CAST', 'CAST (' || s.name || ' AS ' || t.name || ')'
      from pg_cast c join ty s on s.oid = c.castsource join ty t on t.oid = c.casttarget
     where c.oid >= 16384`;
  const wrappers = sql<{ name: string }[]>`
    select fdwname as name from pg_foreign_data_wrapper
     where has_foreign_data_wrapper_privilege(oid, 'USAGE')`;
  const defaultAcl = readDefaultAcl(sql);
  // PostgreSQL 15 and later: whether this role may set session_replication_role (older servers lack
  // the function; the answer is then no, unless a superuser).
  const replica = sql<{ can: boolean }[]>`
    select has_parameter_privilege('session_replication_role', 'SET') as can`.then(
    (r) => r[0].can,
    () => false,
  );
  // The queries run at once; a failed one must not leave the others' rejections unhandled.
  await Promise.allSettled([
    first,
    roles,
    schemas,
    extensions,
    tables,
    globals,
    wrappers,
    defaultAcl,
    replica,
  ]);
  const [info] = await first;
  const map = new Map<string, TargetTable>();
  for (const t of await tables) map.set(tableKey(t.schema, t.name), { kind: t.kind });
  // Each selected table the target has: whether it is empty, the columns rows can be loaded into
  // (generated ones cannot), and whether this role may. All at once, after the list of tables.
  await Promise.all(check.map(async (q) => {
    const t = map.get(tableKey(q.schema, q.table));
    if (!t || (t.kind !== "r" && t.kind !== "p")) return;
    const empty = sql.unsafe(`select 1 from ${qualified(q.schema, q.table)} limit 1`).then(
      (rows) => rows.length === 0,
      () => undefined,
    );
    const cols = sql<{ name: string; ins: boolean }[]>`
      select a.attname as name, has_table_privilege(c.oid, 'INSERT') as ins
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        join pg_attribute a on a.attrelid = c.oid
       where n.nspname = ${q.schema} and c.relname = ${q.table} and a.attnum > 0 and not a.attisdropped
         and a.attgenerated = ''
       order by a.attnum`;
    const [e, c] = await Promise.all([empty, cols]);
    t.empty = e;
    t.columns = c.map((x) => x.name);
    t.insertable = c.length === 0 ? undefined : c[0].ins;
  }));
  const roleRows = await roles;
  return {
    serverMajor: parseServerVersionNum(info.num).major,
    user: info.usr,
    superuser: info.sup,
    canReplica: info.sup || (info.num >= 150000 && await replica),
    roles: new Set(roleRows.map((r) => r.name)),
    assumable: new Set(roleRows.filter((r) => r.can || info.sup).map((r) => r.name)),
    schemas: new Map((await schemas).map((s) => [s.name, s.owner])),
    tables: map,
    extensions: new Map((await extensions).map((e) => [e.name, { schema: e.schema, owner: e.owner }])),
    globals: new Set((await globals).map((g) => globalKey(g.type, g.name))),
    usableWrappers: new Set((await wrappers).map((w) => w.name)),
    defaultAcl: await defaultAcl,
  };
}

const OBJTYPES: Record<string, string> = { r: "TABLES", S: "SEQUENCES", f: "FUNCTIONS", T: "TYPES" };

/**
 * The target's default privileges for the connected user (on Supabase: `postgres` grants ALL on new
 * tables in public to anon, authenticated and service_role) would give restored objects privileges
 * their source did not have, because pg_dump writes grants relative to the built-in defaults. So the
 * scripts that create objects run between `suspend` (revokes them) and `resume` (grants them back),
 * inside the same transaction; the backup's own default privileges are restored as pg_dump wrote them.
 * Those the plan says the backup replaces (`catalog.defaults`: of schemas it restores, and
 * database-wide on a whole restore) are not granted back: the target ends with the source's.
 */
async function defaultPrivileges(ctx: Ctx): Promise<{ suspend: string; resume: string }> {
  if (ctx.defaults) return ctx.defaults;
  const rows = ctx.state.defaultAcl ?? await readDefaultAcl(ctx.sql);
  // Those the backup replaces (lib/restore/catalog.ts) stay revoked: the backup's own come later.
  const replaced = new Set(ctx.plan.catalog?.defaults.map((d) => `${d.schema}\u0000${d.type}`) ?? []);
  const suspend = new Set<string>();
  const resume: string[] = [];
  for (const r of rows) {
    const on = OBJTYPES[r.type];
    if (!on) continue;
    const head = `ALTER DEFAULT PRIVILEGES FOR ROLE ${quoteIdent(ctx.state.user)}${
      r.schema === null ? "" : ` IN SCHEMA ${quoteIdent(r.schema)}`
    }`;
    const who = r.grantee === "PUBLIC" ? "PUBLIC" : quoteIdent(r.grantee);
    suspend.add(`${head} REVOKE ALL ON ${on} FROM ${who};`);
    if (!replaced.has(`${r.schema}\u0000${r.type}`)) {
      resume.push(`${head} GRANT ${r.priv} ON ${on} TO ${who}${r.grantable ? " WITH GRANT OPTION" : ""};`);
    }
  }
  ctx.defaults = {
    suspend: [...suspend].join("\n") + (suspend.size ? "\n" : ""),
    resume: resume.length ? "\n" + resume.join("\n") + "\n" : "",
  };
  return ctx.defaults;
}

/** The connected user's default privileges, one row per grantee and privilege (its own left out). */
async function readDefaultAcl(sql: Sql): Promise<TargetDefaultAcl[]> {
  return await sql<TargetDefaultAcl[]>`
    select n.nspname as schema, d.defaclobjtype::text as type,
           case when a.grantee = 0 then 'PUBLIC' else pg_get_userbyid(a.grantee) end as grantee,
           a.privilege_type as priv, a.is_grantable as grantable
      from pg_default_acl d
      left join pg_namespace n on n.oid = d.defaclnamespace
      cross join lateral aclexplode(d.defaclacl) a
     where d.defaclrole = (select oid from pg_roles where rolname = current_user) and a.grantee <> d.defaclrole`;
}

/** `script` between the statements that suspend and resume the user's default privileges. */
export async function withoutDefaults(ctx: Ctx, script: string): Promise<string> {
  const d = await defaultPrivileges(ctx);
  return d.suspend + script + d.resume;
}

/**
 * Records in the restore's view of the target what a step just created. The restore runs in one
 * transaction that other connections cannot see into, so the target is not read again: what the later
 * steps decide on (roles that now exist, schemas, tables, extensions) follows from what was written.
 */
export function assumeCreated(
  ctx: Ctx,
  created: {
    roles?: string[];
    schemas?: string[];
    tables?: { schema: string; name: string; kind: string }[];
    extensions?: { name: string; schema: string }[];
  },
): void {
  const st = ctx.state;
  const roles = new Set(st.roles);
  const assumable = new Set(st.assumable);
  for (const r of created.roles ?? []) {
    roles.add(r);
    if (st.superuser) assumable.add(r);
  }
  const schemas = new Map(st.schemas);
  for (const n of created.schemas ?? []) if (!schemas.has(n)) schemas.set(n, st.user);
  const tables = new Map(st.tables);
  for (const t of created.tables ?? []) {
    tables.set(tableKey(t.schema, t.name), { kind: t.kind, empty: false });
  }
  const extensions = new Map(st.extensions ?? []);
  for (const e of created.extensions ?? []) extensions.set(e.name, { schema: e.schema, owner: st.user });
  ctx.state = { ...st, roles, assumable, schemas, tables, extensions };
  ctx.filter = { ...ctx.filter, target: ctx.state };
}

/** The target's types, domains, sequences and functions, as `kind\u0000schema\u0000name` keys. */
export async function existingObjects(sql: Sql): Promise<Set<string>> {
  const rows = await sql<{ kind: string; schema: string; name: string }[]>`
    select 'TYPE' as kind, n.nspname as schema, t.typname as name
      from pg_type t join pg_namespace n on n.oid = t.typnamespace
    union all select 'DOMAIN', n.nspname, t.typname
      from pg_type t join pg_namespace n on n.oid = t.typnamespace
    union all select 'SEQUENCE', n.nspname, c.relname
      from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relkind = 'S'
    union all select 'FUNCTION', n.nspname, p.proname
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace`;
  return new Set(rows.map((r) => `${r.kind}\u0000${r.schema}\u0000${r.name}`));
}

/** The names of every relation (tables, views, indexes, sequences, …) and type in `schema` of the target. */
export async function namesInSchema(sql: Sql, schema: string): Promise<Set<string>> {
  const rows = await sql<{ name: string }[]>`
    select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = ${schema}
    union select t.typname from pg_type t join pg_namespace n on n.oid = t.typnamespace where n.nspname = ${schema}`;
  return new Set(rows.map((r) => r.name));
}
