/**
 * The restore executor: reads the target's state, plans (restoreplan.ts), checks the backup files
 * it needs, then runs pg_restore and psql. Whole schemas go pre-data (in passes, until schemas that
 * depend on each other are all in), data (session_replication_role = replica, in parallel), then
 * post-data (indexes, constraints, triggers, policies in parallel, foreign keys last). Single tables
 * go from their schema.sql and data files. Also the drill: restore into a scratch database and
 * compare every table's row count with the manifest.
 * @module
 */
import $ from "dax";
import { join } from "node:path";
import { type DecodeOptions, openPlaintext, plaintextPath } from "./backupfile.ts";
import { connect, resolveIPv4, type Sql } from "./connect.ts";
import { type DbUrl, describeDb, libpqEnv, parseDbUrl } from "./dburl.ts";
import { BackupError } from "./errors.ts";
import { abortSignal, interruption, onCleanup, throwIfInterrupted } from "./interrupt.ts";
import { type Manifest, type ManifestExtension, type ManifestSchema, readManifest } from "./manifest.ts";
import { findPgTools, parsePgVersion, type PgTools, supportsRestrictKey } from "./pgtools.ts";
import type { QualifiedName } from "./plan.ts";
import { runPool } from "./pool.ts";
import { hintFor, runTool, stderrTail } from "./proc.ts";
import { redact } from "./redact.ts";
import {
  addCounts,
  dataLineFilter,
  type Dependency,
  type FilterContext,
  type FilterCounts,
  filterDefinitions,
  fkTarget,
  formatRestorePlan,
  guardError,
  parseScript,
  pickDependencies,
  planExtensions,
  type PlannedTable,
  planRestore,
  qualified,
  quoteIdent,
  type RestorePlan,
  type RestoreRequest,
  type Script,
  type ScriptBlock,
  scriptText,
  selectTables,
  skippedLine,
  splitTableScript,
  tableKey,
  type TargetState,
  type TargetTable,
  unquoteName,
} from "./restoreplan.ts";
import { parseToc } from "./toc.ts";
import { checkFiles, throwOnFaults } from "./verify.ts";

/** Everything one restore needs. */
export interface RestoreOptions {
  /** The backup directory (holds manifest.json). */
  backupDir: string;
  /** For messages: `latest`, `archive/<name>` or a path. */
  label?: string;
  target: DbUrl;
  request: RestoreRequest;
  jobs: number;
  ipv4?: boolean;
  connectTimeout?: number;
  retries?: number;
  pgBin?: string;
  decode?: DecodeOptions;
  dryRun?: boolean;
  /** Progress lines (stderr). */
  log: (line: string) => void;
}

/** What a restore did. */
export interface RestoreResult {
  plan: RestorePlan;
  manifest: Manifest;
  /** The plan as text (also logged). */
  planText: string;
  /** Tables whose rows were loaded, and those rows per the manifest. */
  tablesLoaded: number;
  rowsLoaded: number;
  warnings: string[];
  durationMs: number;
}

/** Table counts for the drill. */
export interface DrillResult {
  matched: number;
  total: number;
  mismatches: { table: string; expected: number; actual: number | null; error?: string }[];
  restore: RestoreResult;
}

interface Ctx {
  opts: RestoreOptions;
  manifest: Manifest;
  plan: RestorePlan;
  state: TargetState;
  tools: PgTools;
  env: Record<string, string>;
  filter: FilterContext;
  counts: FilterCounts;
  tmp: string;
  warnings: string[];
  /** Plaintext paths of schema dumps, by schema name (reassembled when split). */
  dumps: Map<string, Promise<string>>;
  /** Pre-data scripts of schema dumps (as pg_restore writes them), by schema name. */
  preDataText: Map<string, Promise<string>>;
  sql: Sql;
  /** SQL that suspends, and restores, the connected user's default privileges (see {@link defaultPrivileges}). */
  defaults?: { suspend: string; resume: string };
}

const BASE_OPTIONS = "-c client_min_messages=warning";
const REPLICA_OPTIONS = "-c session_replication_role=replica";

// ---------------------------------------------------------------------------------------------
// target inspection

/**
 * Reads what the planner needs from the target: server version, user, roles, schemas and tables,
 * and whether each of `check` (existing selected tables) is empty.
 */
export async function inspectTarget(sql: Sql, check: QualifiedName[]): Promise<TargetState> {
  const [info] = await sql<{ usr: string; sup: boolean; num: number }[]>`
    select current_user as usr, coalesce((select rolsuper from pg_roles where rolname = current_user), false) as sup,
           current_setting('server_version_num')::int as num`;
  const how = info.num >= 160000 ? "SET" : "MEMBER";
  const roles = await sql<{ name: string; can: boolean }[]>`
    select rolname as name, pg_has_role(current_user, oid, ${how}) as can from pg_roles`;
  const schemas = await sql<{ name: string; owner: string }[]>`
    select nspname as name, pg_get_userbyid(nspowner) as owner from pg_namespace`;
  const extensions = await sql<{ name: string; schema: string; owner: string }[]>`
    select e.extname as name, n.nspname as schema, pg_get_userbyid(e.extowner) as owner
      from pg_extension e join pg_namespace n on n.oid = e.extnamespace`;
  const tables = await sql<{ schema: string; name: string; kind: string }[]>`
    select n.nspname as schema, c.relname as name, c.relkind::text as kind
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.relkind in ('r', 'p', 'v', 'm', 'f')
      and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast'`;
  const map = new Map<string, TargetTable>();
  for (const t of tables) map.set(tableKey(t.schema, t.name), { kind: t.kind });
  for (const q of check) {
    const t = map.get(tableKey(q.schema, q.table));
    if (!t || (t.kind !== "r" && t.kind !== "p")) continue;
    try {
      const rows = await sql.unsafe(`select 1 from ${qualified(q.schema, q.table)} limit 1`);
      t.empty = rows.length === 0;
    } catch {
      t.empty = undefined;
    }
  }
  return {
    serverMajor: Math.floor(info.num / 10000),
    user: info.usr,
    superuser: info.sup,
    roles: new Set(roles.map((r) => r.name)),
    assumable: new Set(roles.filter((r) => r.can || info.sup).map((r) => r.name)),
    schemas: new Map(schemas.map((s) => [s.name, s.owner])),
    tables: map,
    extensions: new Map(extensions.map((e) => [e.name, { schema: e.schema, owner: e.owner }])),
  };
}

const OBJTYPES: Record<string, string> = { r: "TABLES", S: "SEQUENCES", f: "FUNCTIONS", T: "TYPES" };

/**
 * The target's default privileges for the connected user (on Supabase: `postgres` grants ALL on new
 * tables in public to anon, authenticated and service_role) would give restored objects privileges
 * their source did not have, because pg_dump writes grants relative to the built-in defaults. So the
 * scripts that create objects run between `suspend` (revokes them) and `resume` (grants them back),
 * inside the same transaction; the backup's own default privileges are restored as pg_dump wrote them.
 */
async function defaultPrivileges(ctx: Ctx): Promise<{ suspend: string; resume: string }> {
  if (ctx.defaults) return ctx.defaults;
  const rows = await ctx.sql<
    { schema: string | null; type: string; grantee: string; priv: string; grantable: boolean }[]
  >`
    select n.nspname as schema, d.defaclobjtype::text as type,
           case when a.grantee = 0 then 'PUBLIC' else pg_get_userbyid(a.grantee) end as grantee,
           a.privilege_type as priv, a.is_grantable as grantable
      from pg_default_acl d
      left join pg_namespace n on n.oid = d.defaclnamespace
      cross join lateral aclexplode(d.defaclacl) a
     where d.defaclrole = (select oid from pg_roles where rolname = current_user) and a.grantee <> d.defaclrole`;
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
    resume.push(`${head} GRANT ${r.priv} ON ${on} TO ${who}${r.grantable ? " WITH GRANT OPTION" : ""};`);
  }
  ctx.defaults = {
    suspend: [...suspend].join("\n") + (suspend.size ? "\n" : ""),
    resume: resume.length ? "\n" + resume.join("\n") + "\n" : "",
  };
  return ctx.defaults;
}

/** `script` between the statements that suspend and resume the user's default privileges. */
async function withoutDefaults(ctx: Ctx, script: string): Promise<Uint8Array> {
  const d = await defaultPrivileges(ctx);
  return enc(d.suspend + script + d.resume);
}

/** Re-reads roles, schemas and tables of the target after a step created some. */
async function refreshTarget(ctx: Ctx): Promise<void> {
  ctx.state = await inspectTarget(ctx.sql, []);
  ctx.filter = { ...ctx.filter, target: ctx.state };
}

// ---------------------------------------------------------------------------------------------
// running programs

function pgOptions(env: Record<string, string>, replica: boolean): string {
  return [env.PGOPTIONS, BASE_OPTIONS, replica ? REPLICA_OPTIONS : ""].filter(Boolean).join(" ");
}

/** A conninfo naming only the database (host, user and password come from the environment). */
function dbConninfo(env: Record<string, string>): string {
  return `dbname='${(env.PGDATABASE ?? "").replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
}

/**
 * Runs psql with `input` on stdin, in one transaction, stopping at the first error. Returns its
 * warnings (stderr lines). Throws a {@link BackupError} naming `what` and the first error line.
 */
async function runPsql(
  ctx: Ctx,
  input: Uint8Array | ReadableStream<Uint8Array>,
  what: string,
  opts: { replica?: boolean; single?: boolean } = {},
): Promise<void> {
  throwIfInterrupted();
  const args = [
    "-X",
    "-q",
    "-v",
    "ON_ERROR_STOP=1",
    ...(opts.single === false ? [] : ["--single-transaction"]),
    "-f",
    "-",
  ];
  const env = { ...ctx.env, PGOPTIONS: pgOptions(ctx.env, opts.replica ?? false) };
  const r = await $`${ctx.tools.path("psql")} ${args}`.env(env).stdin(input).stdout("null").stderr("piped")
    .noThrow().signal(abortSignal);
  if (r.code !== 0) throw toolFailure(what, r.code, r.stderr);
  for (const line of r.stderr.split("\n").filter((l) => l.trim())) {
    warn(ctx, `${what}: ${stderrTail(line, 1)}`);
  }
}

async function runPgRestore(ctx: Ctx, args: string[], what: string, replica = false): Promise<void> {
  throwIfInterrupted();
  const env = { ...ctx.env, PGOPTIONS: pgOptions(ctx.env, replica) };
  const r = await $`${ctx.tools.path("pg_restore")} ${args}`.env(env).stdout("null").stderr("piped").noThrow()
    .signal(abortSignal);
  if (r.code !== 0) throw toolFailure(what, r.code, r.stderr);
  for (const line of r.stderr.split("\n").filter((l) => l.trim())) {
    warn(ctx, `${what}: ${stderrTail(line, 1)}`);
  }
}

function warn(ctx: Ctx, message: string): void {
  ctx.warnings.push(message);
  ctx.opts.log(`warning: ${message}`);
}

function toolFailure(what: string, code: number, stderr: string): BackupError {
  const stopped = interruption();
  if (stopped) return stopped;
  const tail = stderrTail(stderr, 8);
  const first = tail.split("\n").find((l) => /ERROR|FATAL|error:/.test(l)) ?? tail.split("\n")[0] ?? "";
  const hint = /session_replication_role/.test(stderr)
    ? "the target user may not set session_replication_role; on Supabase connect as postgres, elsewhere as a superuser or grant SET on that parameter"
    : /already exists/.test(stderr)
    ? "the target already holds some of these objects; restore into an empty database, or use --clean"
    : hintFor(stderr);
  return new BackupError(
    `${what} failed (exit ${code})${
      first ? `: ${first.replace(/^psql:[^ ]*: /, "").replace(/^pg_restore: /, "")}` : ""
    }`,
    { hint, cause: tail },
  );
}

/** The plaintext path of a schema's dump, reassembled from its parts when it was split. */
function dumpFile(ctx: Ctx, s: ManifestSchema): Promise<string> {
  let p = ctx.dumps.get(s.name);
  if (!p) {
    p = (async () => {
      const dir = ctx.opts.backupDir;
      const parts = s.dumpParts ?? [s.dump];
      throwOnFaults(await checkFiles(dir, ctx.manifest, parts, ctx.opts.decode), dir, "restore");
      if (parts.length === 1) {
        return await plaintextPath(dir, s.dump, ctx.manifest.files[s.dump], ctx.tmp, ctx.opts.decode);
      }
      const out = join(ctx.tmp, `${ctx.dumps.size}.dump`);
      const f = await Deno.open(out, { write: true, create: true, truncate: true, mode: 0o600 });
      try {
        for (const part of parts) {
          const stream = await openPlaintext(dir, part, ctx.manifest.files[part], ctx.opts.decode);
          for await (const chunk of stream) {
            let off = 0;
            while (off < chunk.length) off += await f.write(chunk.subarray(off));
          }
        }
      } finally {
        f.close();
      }
      return out;
    })();
    ctx.dumps.set(s.name, p);
  }
  return p;
}

async function readText(ctx: Ctx, rel: string): Promise<string> {
  const stream = await openPlaintext(ctx.opts.backupDir, rel, ctx.manifest.files[rel], ctx.opts.decode);
  return await new Response(stream).text();
}

/** A backup data file as a stream for psql, with lines the target or psql reject filtered out. */
async function dataStream(ctx: Ctx, rel: string): Promise<ReadableStream<Uint8Array>> {
  return filterStream(
    ctx,
    await openPlaintext(ctx.opts.backupDir, rel, ctx.manifest.files[rel], ctx.opts.decode),
  );
}

/** Passes a SQL stream through {@link dataLineFilter} when the target or psql need it. */
function filterStream(ctx: Ctx, raw: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  if (!ctx.filter.dropRestrict && !ctx.filter.dropTransactionTimeout) return raw;
  const f = dataLineFilter(ctx.filter);
  return raw.pipeThrough(new TextDecoderStream()).pipeThrough(
    new TransformStream<string, string>({
      transform(chunk, c) {
        const out = f(chunk);
        if (out) c.enqueue(out);
      },
      flush(c) {
        const out = f("", true);
        if (out) c.enqueue(out);
      },
    }),
  ).pipeThrough(new TextEncoderStream());
}

const enc = (s: string) => new TextEncoder().encode(s);

// ---------------------------------------------------------------------------------------------
// steps

async function restoreRoles(ctx: Ctx): Promise<void> {
  const text = await readText(ctx, ctx.manifest.roles!);
  const existing = ctx.state.roles;
  let kept = 0, present = 0;
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const m = line.match(/^(CREATE|ALTER) ROLE ("(?:[^"]|"")*"|[^\s;]+)/);
    if (m) {
      const role = m[2].startsWith('"') ? m[2].slice(1, -1).replaceAll('""', '"') : m[2];
      if (existing.has(role)) {
        if (m[1] === "CREATE") present++;
        if (m[1] === "CREATE" || !ctx.state.superuser) continue;
      } else if (m[1] === "CREATE") kept++;
    }
    if (!(ctx.filter.dropRestrict && /^\\(un)?restrict /.test(line))) out.push(line);
  }
  ctx.opts.log(
    `roles: creating ${kept} role(s)${present ? `, ${present} already present (left as they are)` : ""}`,
  );
  await runPsql(ctx, enc(out.join("\n")), "restoring roles.sql");
  await refreshTarget(ctx);
}

/**
 * `DROP TABLE … CASCADE` for the tables `--clean` recreates; it runs in the same transaction as
 * their creation, so a failure leaves them as they were.
 */
function dropsForClean(ctx: Ctx, tables: PlannedTable[]): string {
  const drops = tables.filter((t) => t.action === "recreate");
  if (drops.length === 0) return "";
  ctx.opts.log(
    `--clean: dropping and recreating ${drops.map((t) => `${t.schema}.${t.table.name}`).join(", ")}`,
  );
  return drops.map((t) => `DROP TABLE IF EXISTS ${qualified(t.schema, t.table.name)} CASCADE;`).join("\n") +
    "\n";
}

async function preData(ctx: Ctx, schemas: ManifestSchema[]): Promise<void> {
  const plan = (s: ManifestSchema) => ctx.plan.schemas.find((p) => p.name === s.name)?.tables ?? [];
  let pending = [...schemas];
  let pass = 1;
  while (pending.length > 0) {
    const failed: { s: ManifestSchema; e: unknown }[] = [];
    for (const s of pending) {
      const exists = ctx.state.schemas.has(s.name);
      const drops = dropsForClean(ctx, plan(s));
      const args = ["--section=pre-data", "-f", "-"];
      if (ctx.plan.clean && exists) args.push("--clean", "--if-exists");
      const text = await runTool({
        path: ctx.tools.path("pg_restore"),
        args: [...args, await dumpFile(ctx, s)],
        env: {},
        what: `reading ${s.dump}`,
      });
      const { text: filtered, counts } = filterDefinitions(text, ctx.filter);
      try {
        await runPsql(ctx, await withoutDefaults(ctx, drops + filtered), `definitions of schema ${s.name}`);
        addCounts(ctx.counts, counts);
        ctx.opts.log(`schema ${s.name}: definitions restored${pass > 1 ? ` (pass ${pass})` : ""}`);
        await refreshTarget(ctx);
      } catch (e) {
        if (interruption()) throw e;
        failed.push({ s, e });
      }
    }
    if (failed.length === pending.length) throw failed[0].e;
    pending = failed.map((f) => f.s);
    if (pending.length > 0) {
      ctx.opts.log(`${pending.length} schema(s) depend on others; trying them again`);
    }
    pass++;
  }
}

/**
 * Runs pg_restore with `args` (which select entries) into the target. pg_restore 17 sends
 * `SET transaction_timeout` even to older servers, which reject it; for those the script goes
 * through psql instead, filtered, in one transaction (and without pg_restore's --jobs).
 */
async function restoreEntries(
  ctx: Ctx,
  args: string[],
  file: string,
  what: string,
  replica = false,
): Promise<void> {
  if (ctx.state.serverMajor >= 17) {
    const direct = [...args, "--exit-on-error", "--no-owner", `--jobs=${ctx.opts.jobs}`];
    await runPgRestore(ctx, [...direct, `--dbname=${dbConninfo(ctx.env)}`, file], what, replica);
    return;
  }
  throwIfInterrupted();
  const child = $`${ctx.tools.path("pg_restore")} ${[...args, "-f", "-", file]}`.stdout("piped").stderr(
    "piped",
  )
    .noThrow().signal(abortSignal).spawn();
  try {
    await runPsql(ctx, filterStream(ctx, child.stdout()), what, { replica });
  } catch (e) {
    child.kill();
    await child.catch(() => {});
    throw e;
  }
  const r = await child;
  if (r.code !== 0) throw toolFailure(`${what}: reading the dump`, r.code, r.stderr);
}

async function loadSchemaData(ctx: Ctx, s: ManifestSchema): Promise<void> {
  await restoreEntries(ctx, ["--section=data"], await dumpFile(ctx, s), `data of schema ${s.name}`, true);
  ctx.opts.log(`schema ${s.name}: data restored`);
}

async function loadTableData(ctx: Ctx, t: PlannedTable): Promise<void> {
  const name = qualified(t.schema, t.table.name);
  if (t.action === "empty-load") {
    await runPsql(ctx, enc(`DELETE FROM ONLY ${name};\n`), `emptying ${t.schema}.${t.table.name}`, {
      replica: true,
    });
  }
  for (const rel of t.table.dataFiles) {
    await runPsql(ctx, await dataStream(ctx, rel), `loading ${rel}`, { replica: true });
  }
}

async function postData(ctx: Ctx, schemas: ManifestSchema[]): Promise<void> {
  const late = new Set(["FK CONSTRAINT", "MATERIALIZED VIEW DATA"]);
  const lists = new Map<string, { early: string[]; late: string[] }>();
  for (const s of schemas) {
    const file = await dumpFile(ctx, s);
    const toc = parseToc(
      await runTool({
        path: ctx.tools.path("pg_restore"),
        args: ["-l", "--section=post-data", file],
        env: {},
        what: `reading ${s.dump}`,
      }),
    );
    lists.set(s.name, {
      early: toc.filter((e) => !late.has(e.desc)).map((e) => e.line),
      late: toc.filter((e) => late.has(e.desc)).map((e) => e.line),
    });
  }
  // Indexes, constraints, triggers, policies: each only needs its own schema's tables.
  for (const s of schemas) {
    const l = lists.get(s.name)!;
    if (l.early.length === 0) continue;
    const list = join(ctx.tmp, `post-${ctx.dumps.size}-${crypto.randomUUID()}.list`);
    await Deno.writeTextFile(list, l.early.join("\n") + "\n");
    await restoreEntries(
      ctx,
      ["-L", list],
      await dumpFile(ctx, s),
      `indexes, constraints and policies of schema ${s.name}`,
    );
  }
  // Foreign keys (they may point into other schemas) and materialized view contents last.
  await refreshTarget(ctx);
  const present = (q: QualifiedName) => ctx.state.tables.has(tableKey(q.schema, q.table));
  for (const s of schemas) {
    const l = lists.get(s.name)!;
    if (l.late.length === 0) continue;
    const list = join(ctx.tmp, `late-${crypto.randomUUID()}.list`);
    await Deno.writeTextFile(list, l.late.join("\n") + "\n");
    const text = await runTool({
      path: ctx.tools.path("pg_restore"),
      args: ["-L", list, "-f", "-", await dumpFile(ctx, s)],
      env: {},
      what: `reading ${s.dump}`,
    });
    const { text: filtered, counts } = filterDefinitions(text, ctx.filter, {
      dropBlock: (b) => {
        const ref = fkTarget(b);
        if (!ref || present(ref)) return false;
        warn(
          ctx,
          `foreign key ${b.schema}.${b.name} left out: it references ${ref.schema}.${ref.table}, which the target lacks`,
        );
        return true;
      },
    });
    addCounts(ctx.counts, counts);
    await runPsql(ctx, enc(filtered), `foreign keys of schema ${s.name}`);
  }
  for (const s of schemas) {
    ctx.opts.log(`schema ${s.name}: indexes, constraints, triggers and policies restored`);
  }
}

/**
 * Triggers and policies the user added to tables of a Supabase-managed schema (e.g. a trigger on
 * auth.users that fills public.profiles): the target's own schema lacks them, so they are created
 * from the dump, each on its own. One that the target does not permit is a warning, not a failure.
 */
async function managedExtras(ctx: Ctx, schemas: ManifestSchema[]): Promise<void> {
  if (schemas.length === 0) return;
  const rows = await ctx.sql<{ schema: string; name: string }[]>`
    select n.nspname as schema, c.relname || ' ' || t.tgname as name
      from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
      where not t.tgisinternal
    union all select n.nspname, c.relname || ' ' || p.polname
      from pg_policy p join pg_class c on c.oid = p.polrelid join pg_namespace n on n.oid = c.relnamespace`;
  const have = new Set(rows.map((r) => `${r.schema}\u0000${r.name}`));
  // Creating a policy needs the table's owner; a trigger needs the TRIGGER privilege.
  const rights = await ctx.sql<
    { schema: string; name: string; owner: string; owns: boolean; trig: boolean }[]
  >`
    select n.nspname as schema, c.relname as name, pg_get_userbyid(c.relowner) as owner,
           pg_has_role(c.relowner, 'USAGE') as owns, has_table_privilege(c.oid, 'TRIGGER') as trig
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p') and n.nspname = any(${schemas.map((x) => x.name)})`;
  const right = new Map(rights.map((r) => [tableKey(r.schema, r.name), r]));
  const denied = new Map<string, string[]>();
  for (const s of schemas) {
    const text = await runTool({
      path: ctx.tools.path("pg_restore"),
      args: ["--section=post-data", "-f", "-", await dumpFile(ctx, s)],
      env: {},
      what: `reading ${s.dump}`,
    });
    const script = parseScript(text);
    const tables = s.tables.map((t) => t.name).filter((t) => right.has(tableKey(s.name, t)));
    for (const b of script.blocks) {
      if ((b.type !== "TRIGGER" && b.type !== "POLICY") || have.has(`${s.name}\u0000${b.name}`)) continue;
      const table = tables.filter((t) => b.name.startsWith(`${t} `)).sort((x, y) => y.length - x.length)[0];
      if (table === undefined) continue;
      const r = right.get(tableKey(s.name, table))!;
      const kind = b.type.toLowerCase();
      const label = `${kind} "${b.name.slice(table.length + 1)}" on ${s.name}.${table}`;
      if (b.type === "POLICY" ? !r.owns : !r.trig) {
        const key = `${s.name}.${table} (owner ${r.owner})`;
        denied.set(key, [...(denied.get(key) ?? []), `${kind} "${b.name.slice(table.length + 1)}"`]);
        continue;
      }
      const { text: sql, counts } = filterDefinitions(
        scriptText({ preamble: script.preamble, blocks: [b], trailer: script.trailer }),
        ctx.filter,
      );
      try {
        await runPsql(ctx, enc(sql), `creating ${label}`);
        addCounts(ctx.counts, counts);
        ctx.opts.log(`created ${label}`);
      } catch (e) {
        if (interruption()) throw e;
        warn(ctx, `${label} not created: ${(e as Error).message}`);
      }
    }
  }
  for (const [table, what] of denied) {
    warn(
      ctx,
      `${what.length} object(s) on ${table} not created, ${ctx.state.user} may not: ${what.join(", ")}; ` +
        "recreate them as the owner (on Supabase: Dashboard → Storage/Authentication → Policies)",
    );
  }
}

/** Pre-data scripts of the backup's schema dumps (for the dependencies of single tables). */
async function preDataScripts(
  ctx: Ctx,
  schemas: ManifestSchema[],
): Promise<{ schema: string; script: Script }[]> {
  const out: { schema: string; script: Script }[] = [];
  for (const s of schemas) out.push({ schema: s.name, script: parseScript(await preDataText(ctx, s)) });
  return out;
}

/** The pre-data script of a schema's dump, as pg_restore writes it (read once per restore). */
function preDataText(ctx: Ctx, s: ManifestSchema): Promise<string> {
  let p = ctx.preDataText.get(s.name);
  if (!p) {
    p = (async () =>
      await runTool({
        path: ctx.tools.path("pg_restore"),
        args: ["--section=pre-data", "-f", "-", await dumpFile(ctx, s)],
        env: {},
        what: `reading ${s.dump}`,
      }))();
    ctx.preDataText.set(s.name, p);
  }
  return p;
}

/**
 * The backup's extensions: the manifest's list, or (for a manifest without one) the `CREATE
 * EXTENSION` entries of the dumps of the schemas this restore creates objects in, in dump order.
 */
async function backupExtensions(ctx: Ctx): Promise<ManifestExtension[]> {
  if (ctx.manifest.extensions) return ctx.manifest.extensions;
  const names = new Set([
    ...ctx.plan.schemas.filter((s) => s.mode === "ddl").map((s) => s.name),
    ...ctx.plan.tables.map((t) => t.schema),
  ]);
  const out: ManifestExtension[] = [];
  for (const s of ctx.manifest.schemas.filter((x) => names.has(x.name))) {
    for (const b of parseScript(await preDataText(ctx, s)).blocks) {
      if (b.type !== "EXTENSION") continue;
      const m = b.text.match(/^CREATE EXTENSION IF NOT EXISTS (?:"(?:[^"]|"")*"|\S+) WITH SCHEMA (.+?);$/m);
      if (m) out.push({ name: unquoteName(b.name), schema: unquoteName(m[1]), version: "" });
    }
  }
  return out;
}

/**
 * Creates the backup's extensions that the target lacks, before any definitions, each in the
 * schema it had (created first when missing: from its dump, with its owner, when the backup has
 * it). Extensions the target has are left as they are. Throws a {@link BackupError} naming the
 * extension when the target cannot create it (not installed on the server, or not permitted).
 */
async function createExtensions(ctx: Ctx): Promise<void> {
  const planned = ctx.plan.extensions.length > 0 || ctx.manifest.extensions
    ? ctx.plan.extensions
    : planExtensions(await backupExtensions(ctx), ctx.state);
  const missing = planned.filter((e) => e.action === "create");
  if (missing.length === 0) return;
  ctx.opts.log(`creating extension(s) ${missing.map((e) => `${e.name} (in ${e.schema})`).join(", ")}`);
  for (const e of missing) {
    const parts: string[] = [];
    if (!ctx.state.schemas.has(e.schema)) {
      const s = ctx.manifest.schemas.find((x) => x.name === e.schema);
      const block = s
        ? parseScript(await preDataText(ctx, s)).blocks.find((b) =>
          b.type === "SCHEMA" && b.schema === "-" && unquoteName(b.name) === e.schema
        )
        : undefined;
      if (block) {
        const { text, counts } = filterDefinitions(block.text, ctx.filter);
        addCounts(ctx.counts, counts);
        parts.push(text);
      } else parts.push(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(e.schema)};`);
    }
    parts.push(`CREATE EXTENSION IF NOT EXISTS ${quoteIdent(e.name)} WITH SCHEMA ${quoteIdent(e.schema)};`);
    try {
      await runPsql(ctx, enc(parts.join("\n") + "\n"), `creating extension ${e.name}`);
    } catch (err) {
      if (interruption()) throw err;
      throw new BackupError(
        `extension ${e.name} (schema ${e.schema} in the backup) cannot be created in the target: ${
          (err as Error).message.replace(/^creating extension \S+ failed \(exit \d+\): /, "")
        }`,
        {
          hint: `enable ${e.name} in the target first (Supabase: Dashboard → Database → Extensions), or ` +
            "install it on the server (most are in postgresql-contrib), or create it as a superuser; " +
            "then run the restore again",
          cause: err,
        },
      );
    }
    await refreshTarget(ctx);
  }
}

async function existingObjects(sql: Sql): Promise<Set<string>> {
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

/** Restores tables one by one: schema, dependencies, table definitions, data, foreign keys. */
async function restoreTables(ctx: Ctx, tables: PlannedTable[]): Promise<void> {
  const work = tables.filter((t) => t.action !== "keep" && t.action !== "refuse");
  if (work.length === 0) return;
  const defs = !ctx.plan.dataOnly && work.some((t) => t.action === "create" || t.action === "recreate");
  let fks: Script | undefined;
  if (defs) {
    const texts = new Map<PlannedTable, string>();
    for (const t of work) {
      if (t.action === "create" || t.action === "recreate") {
        texts.set(t, await readText(ctx, t.table.schemaFile));
      }
    }
    await createDependencies(
      ctx,
      [...texts.values()].join("\n"),
      await preDataScripts(ctx, ctx.manifest.schemas),
      work.map((t) => t.schema),
    );
    const selected = new Set(work.map((t) => tableKey(t.schema, t.table.name)));
    const present = (q: QualifiedName) =>
      selected.has(tableKey(q.schema, q.table)) || ctx.state.tables.has(tableKey(q.schema, q.table));
    // As pg_restore orders them: every table, sequence and partition attachment first, then
    // constraints, indexes, triggers and policies, and foreign keys after the data.
    let combined: Script | undefined;
    const late: ScriptBlock[] = [];
    for (const text of texts.values()) {
      const split = splitTableScript(text, present);
      for (const d of split.droppedFks) {
        warn(ctx, `foreign key ${d.name} left out: it references ${d.references}, which the target lacks`);
      }
      const main = parseScript(split.main);
      combined ??= { ...main, blocks: [] };
      combined.blocks.push(...main.blocks.filter((b) => !POST_DATA_TYPES.has(b.type)));
      late.push(...main.blocks.filter((b) => POST_DATA_TYPES.has(b.type)));
      if (split.fks) {
        const f = parseScript(split.fks);
        fks ??= { ...f, blocks: [] };
        fks.blocks.push(...f.blocks);
      }
    }
    if (combined) {
      combined.blocks.push(...late);
      const { text: main, counts } = filterDefinitions(scriptText(combined), ctx.filter);
      addCounts(ctx.counts, counts);
      await runPsql(
        ctx,
        await withoutDefaults(ctx, dropsForClean(ctx, work) + main),
        `creating ${describeTables([...texts.keys()])}`,
      );
      ctx.opts.log(`created ${texts.size} table(s)`);
    }
  }
  if (!ctx.plan.schemaOnly) {
    await runPool(work.map((t) => () => loadTableData(ctx, t)), ctx.opts.jobs);
    ctx.opts.log(`loaded rows into ${work.length} table(s)`);
  }
  if (fks) {
    const { text: fk, counts } = filterDefinitions(scriptText(fks), ctx.filter);
    addCounts(ctx.counts, counts);
    await runPsql(ctx, enc(fk), `foreign keys of ${describeTables(work)}`);
  }
}

/** Entry types pg_dump puts in its post-data section. */
const POST_DATA_TYPES = new Set([
  "CONSTRAINT",
  "CHECK CONSTRAINT",
  "INDEX",
  "INDEX ATTACH",
  "TRIGGER",
  "POLICY",
  "ROW SECURITY",
  "RULE",
  "STATISTICS",
  "EVENT TRIGGER",
  "PUBLICATION TABLE",
]);

function describeTables(tables: PlannedTable[]): string {
  const names = tables.map((t) => `${t.schema}.${t.table.name}`);
  return names.length <= 3
    ? names.join(", ")
    : `${names.slice(0, 3).join(", ")} and ${names.length - 3} more`;
}

/**
 * Creates the schemas in `schemas` that the target lacks, and the types, domains, sequences and
 * functions that `text` refers to and the target lacks (taken from `scripts`).
 */
async function createDependencies(
  ctx: Ctx,
  text: string,
  scripts: { schema: string; script: Script }[],
  schemas: string[],
): Promise<void> {
  const missing = [...new Set(schemas)].filter((s) => !ctx.state.schemas.has(s));
  const have = await existingObjects(ctx.sql);
  const deps: Dependency[] = pickDependencies(
    text,
    scripts,
    (d) => have.has(`${d.type}\u0000${d.schema}\u0000${d.name}`),
  );
  for (const d of deps) {
    if (!ctx.state.schemas.has(d.schema) && !missing.includes(d.schema)) missing.push(d.schema);
  }
  if (missing.length === 0 && deps.length === 0) return;
  if (missing.length) ctx.opts.log(`creating schema(s) ${missing.join(", ")}`);
  if (deps.length > 0) {
    ctx.opts.log(
      `creating ${deps.length} object(s) they need: ${
        deps.map((d) => `${d.type.toLowerCase()} ${d.schema}.${d.name}`).join(", ")
      }`,
    );
  }
  const head = missing.map((s) => `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(s)};`).join("\n");
  const preamble = scripts[0]?.script.preamble ?? "";
  const trailer = scripts[0]?.script.trailer ?? "";
  const body = [preamble, head, ...deps.map((d) => d.block.text), trailer].join("\n");
  const { text: sql, counts } = filterDefinitions(body, ctx.filter);
  addCounts(ctx.counts, counts);
  await runPsql(ctx, enc(sql), "creating the schemas and types they need");
  await refreshTarget(ctx);
}

// ---------------------------------------------------------------------------------------------
// the restore

/**
 * Restores (part of) the backup in `opts.backupDir` into `opts.target`. Prints the plan through
 * `opts.log`; a dry run stops there. Throws a {@link BackupError}: exit 1 when the guard refuses,
 * a needed file is damaged or a program fails; exit 2 for a selection the backup cannot satisfy.
 */
export async function restoreBackup(opts: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now();
  const manifest = await readManifest(opts.backupDir);
  const selected = selectTables(manifest, opts.request);
  const hostaddr = opts.ipv4 ? await resolveIPv4(opts.target.host) : undefined;
  const connectTimeout = opts.connectTimeout ?? 10;
  const sql = await connect(opts.target, {
    hostaddr,
    connectTimeout,
    retries: opts.retries ?? 2,
    log: opts.log,
  });
  const closeSql = () => sql.end({ timeout: 2 }).catch(() => {});
  const unregister = onCleanup(() => void closeSql());
  let tmp: string | undefined;
  try {
    const state = await inspectTarget(
      sql,
      selected.map((x) => ({ schema: x.schema.name, table: x.table.name })),
    );
    const plan = planRestore(manifest, opts.request, state);
    const planText = formatRestorePlan(plan, {
      from: opts.label ?? opts.backupDir,
      target: describeDb(opts.target),
    });
    const result: RestoreResult = {
      plan,
      manifest,
      planText,
      tablesLoaded: 0,
      rowsLoaded: 0,
      warnings: [],
      durationMs: 0,
    };
    if (opts.dryRun) return result;
    opts.log(planText);
    const refused = guardError(plan, describeDb(opts.target));
    if (refused) throw refused;
    const dumpMajor = parsePgVersion(manifest.pgDumpVersion)?.major ?? 0;
    const tools = await findPgTools({ minMajor: Math.max(state.serverMajor, dumpMajor), pgBin: opts.pgBin });
    opts.log(`checking ${plan.files.length} backup file(s)`);
    throwOnFaults(
      await checkFiles(opts.backupDir, manifest, plan.files, { ...opts.decode, jobs: opts.jobs }),
      opts.backupDir,
      "restore",
    );
    tmp = await Deno.makeTempDir({ prefix: "supabase-backup-restore-" });
    const tmpDir = tmp;
    const dropTmp = onCleanup(() => Deno.removeSync(tmpDir, { recursive: true }));
    const ctx: Ctx = {
      opts,
      manifest,
      plan,
      state,
      tools,
      env: libpqEnv(opts.target, { hostaddr, connectTimeout }),
      filter: {
        dropTransactionTimeout: state.serverMajor < 17,
        dropRestrict: !supportsRestrictKey(tools.version),
        target: state,
      },
      counts: { owners: 0, privileges: 0 },
      tmp: tmpDir,
      warnings: result.warnings,
      dumps: new Map(),
      preDataText: new Map(),
      sql,
    };
    try {
      await execute(ctx);
    } finally {
      dropTmp();
    }
    const loaded = [...plan.schemas.flatMap((s) => s.tables), ...plan.tables].filter((t) =>
      !plan.schemaOnly &&
      (t.action === "create" || t.action === "load" || t.action === "recreate" || t.action === "empty-load")
    );
    result.tablesLoaded = loaded.length;
    result.rowsLoaded = loaded.reduce((n, t) => n + (t.table.kind === "p" ? 0 : t.table.rows ?? 0), 0);
    const skipped = skippedLine(ctx.counts, state.user);
    if (skipped) opts.log(skipped);
    result.durationMs = Date.now() - started;
    return result;
  } finally {
    unregister();
    await closeSql();
    if (tmp) await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

async function execute(ctx: Ctx): Promise<void> {
  const { plan } = ctx;
  if (plan.roles) await restoreRoles(ctx);
  if (!plan.dataOnly) await createExtensions(ctx);
  if (plan.kind === "tables") {
    await restoreTables(ctx, plan.tables);
    return;
  }
  const ddl = plan.schemas.filter((s) => s.mode === "ddl").map((s) => s.manifest);
  if (!plan.dataOnly) {
    // With --schema, types and functions of schemas left out may still be needed.
    const chosen = new Set(plan.schemas.map((s) => s.name));
    const others = ctx.manifest.schemas.filter((s) => !chosen.has(s.name));
    if (others.length > 0 && ddl.length > 0) {
      const mine = await preDataScripts(ctx, ddl);
      await createDependencies(
        ctx,
        mine.map((m) => scriptText(m.script)).join("\n"),
        await preDataScripts(ctx, others),
        [],
      );
    }
    await preData(ctx, ddl);
  }
  if (plan.tables.length > 0) await restoreTables(ctx, plan.tables);
  if (!plan.schemaOnly) {
    const managed = plan.schemas.filter((s) => s.mode === "data").flatMap((s) => s.tables)
      .filter((t) => t.action === "load" || t.action === "empty-load");
    const tasks = [
      ...ddl.map((s) => () => loadSchemaData(ctx, s)),
      ...managed.map((t) => () => loadTableData(ctx, t)),
    ];
    await runPool(tasks, Math.max(1, Math.ceil(ctx.opts.jobs / 2)));
    if (managed.length > 0) ctx.opts.log(`loaded rows into ${managed.length} Supabase-managed table(s)`);
  }
  if (!plan.dataOnly) {
    await postData(ctx, ddl);
    // Triggers and policies on tables this restore did not create: those of managed schemas, and
    // with --clean those that DROP … CASCADE removed (e.g. a trigger on auth.users).
    const ddlNames = new Set(ddl.map((s) => s.name));
    const extras = plan.clean
      ? ctx.manifest.schemas.filter((s) => !ddlNames.has(s.name) && ctx.state.schemas.has(s.name))
      : plan.schemas.filter((s) => s.mode === "data").map((s) => s.manifest);
    await managedExtras(ctx, extras);
  }
}

/**
 * Exact row counts of every table of `m` in the database behind `sql` (partitioned tables count
 * their partitions; other tables count only their own rows, as the backup did).
 */
export async function countRows(
  sql: Sql,
  m: Manifest,
): Promise<{ table: string; expected: number; actual: number | null; error?: string }[]> {
  const out: { table: string; expected: number; actual: number | null; error?: string }[] = [];
  for (const s of m.schemas) {
    for (const t of s.tables) {
      if (t.rows === null) continue;
      const name = `${s.name}.${t.name}`;
      try {
        const [{ n }] = await sql.unsafe(
          `select count(*)::bigint as n from ${t.kind === "p" ? "" : "only "}${qualified(s.name, t.name)}`,
        );
        out.push({ table: name, expected: t.rows, actual: Number(n) });
      } catch (e) {
        out.push({ table: name, expected: t.rows, actual: null, error: (e as Error).message.split("\n")[0] });
      }
    }
  }
  return out;
}

/**
 * The drill: restores the whole backup in `backupDir` (roles included) into `target` (a URL or a
 * parsed {@link DbUrl}), an empty scratch database, and compares every table's exact row count with
 * the manifest. Throws like {@link restoreBackup} (the guard refuses a target that already holds the
 * tables); a count mismatch is reported in the result, not thrown. `opts` defaults: 4 jobs, progress
 * on stderr.
 */
export async function drill(
  backupDir: string,
  target: DbUrl | string,
  opts: Partial<Omit<RestoreOptions, "backupDir" | "target" | "request" | "dryRun">> = {},
): Promise<DrillResult> {
  if (typeof target === "string") target = parseDbUrl(target, "the drill's target URL");
  const m = await readManifest(backupDir);
  const restore = await restoreBackup({
    ...opts,
    jobs: opts.jobs ?? 4,
    log: opts.log ?? ((line) => console.error(redact(line))),
    backupDir,
    target,
    request: {
      schemas: [],
      tables: [],
      roles: m.roles !== null,
      dataOnly: false,
      schemaOnly: false,
      clean: false,
    },
  });
  const sql = await connect(target, {
    hostaddr: opts.ipv4 ? await resolveIPv4(target.host) : undefined,
    connectTimeout: opts.connectTimeout ?? 10,
    retries: opts.retries ?? 2,
  });
  try {
    const counts = await countRows(sql, m);
    const mismatches = counts.filter((c) => c.actual !== c.expected);
    return { matched: counts.length - mismatches.length, total: counts.length, mismatches, restore };
  } finally {
    await sql.end({ timeout: 2 }).catch(() => {});
  }
}
