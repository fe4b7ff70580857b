/**
 * Restoring whole schemas from their custom-format dumps: pre-data (schemas that others refer to
 * first), data (session_replication_role = replica), post-data
 * (indexes, constraints, triggers, policies, then foreign keys and materialized view contents
 * last), and the triggers and policies users added to tables of Supabase-managed schemas.
 * @module
 */
import { join } from "node:path";
import type { ManifestSchema } from "../store/manifest.ts";
import { type QualifiedName, quoteIdent } from "../pg/ident.ts";
import { runTool } from "../pg/run.ts";
import { type Ctx, warn } from "./context.ts";
import { dumpFile, dumpScript, postDataTexts, preDataText, readText } from "./files.ts";
import { addCounts, filterDefinitions } from "./filter.ts";
import { tableKey } from "./plan.ts";
import { restoreEntries, runPsql } from "./exec.ts";
import { fkTarget, parseScript, type Script, type ScriptBlock, scriptText } from "./script.ts";
import { blockKey, describeObject, inCatalogOrder } from "./catalog.ts";
import { dropsForClean, withoutOutsideWriters } from "./tables.ts";
import { assumeCreated, withoutDefaults } from "./target.ts";
import { parseToc } from "../pg/toc.ts";

/**
 * The pre-data of each schema's dump (after the `--clean` drops of its tables), all in the restore's
 * one transaction: with catalog.sql, as one script in its order across schemas, the database-level
 * objects that definitions may need (access methods, servers, casts) among them; without it (older
 * backups), schema by schema, schemas that others refer to first ({@link schemaOrder}).
 */
export async function preData(ctx: Ctx, schemas: ManifestSchema[]): Promise<void> {
  const plan = (s: ManifestSchema) => ctx.plan.schemas.find((p) => p.name === s.name)?.tables ?? [];
  const texts = new Map<string, string>();
  for (const s of schemas) texts.set(s.name, await preDataText(ctx, s));
  const ordered = schemaOrder(schemas, texts);
  // With catalog.sql: one script, every schema's entries (and the database-level objects that come
  // before definitions) in its order across schemas. Without: one script per schema.
  const merged: { drops: string; scripts: Script[] } | undefined = ctx.catalog
    ? { drops: "", scripts: [] }
    : undefined;
  for (const s of ordered) {
    const exists = ctx.state.schemas.has(s.name);
    const drops = dropsForClean(ctx, plan(s));
    let text = texts.get(s.name)!;
    if (ctx.plan.clean && exists) {
      text = await dumpScript(
        ctx,
        ["--section=pre-data", "--clean", "--if-exists"],
        await dumpFile(ctx, s),
        `reading ${s.dump}`,
      );
    }
    const { text: filtered, counts } = filterDefinitions(text, ctx.filter, {
      dropBlock: (b) => isExcludedBlock(ctx, b),
    });
    addCounts(ctx.counts, counts);
    if (merged) {
      merged.drops += drops;
      merged.scripts.push(parseScript(filtered));
      continue;
    }
    await runPsql(ctx, await withoutDefaults(ctx, drops + filtered), `definitions of schema ${s.name}`);
    ctx.opts.log(`schema ${s.name}: definitions restored`);
    created(ctx, s);
  }
  if (!merged) return;
  const before = catalogScript(ctx, "pre");
  if (before) merged.scripts.push(before);
  if (merged.scripts.length === 0) return;
  const script = inCatalogOrder(merged.scripts, ctx.catalog!);
  const names = ordered.map((s) => s.name);
  await runPsql(
    ctx,
    await withoutDefaults(ctx, merged.drops + scriptText(script)),
    `definitions of ${names.length === 1 ? "schema" : "schemas"} ${names.join(", ")}${
      before ? " and database-level objects" : ""
    } (in catalog.sql's order)`,
  );
  logObjects(ctx, "pre");
  if (names.length) ctx.opts.log(`definitions of ${names.length} schema(s) restored in catalog.sql's order`);
  for (const s of ordered) {
    ctx.opts.log(`schema ${s.name}: definitions restored`);
    created(ctx, s);
  }
}

/** Records the schema and its tables as created. */
function created(ctx: Ctx, s: ManifestSchema): void {
  assumeCreated(ctx, {
    schemas: [s.name],
    tables: s.tables.filter((t) => !ctx.plan.excluded.some((x) => x.schema === s.name && x.table === t))
      .map((t) => ({ schema: s.name, name: t.name, kind: t.kind ?? "r" })),
  });
}

/**
 * The entries of catalog.sql the plan runs in `phase` (database-level objects it creates, their
 * comments and privileges, tables added to publications), through the filter, as one script with
 * catalog.sql's preamble; undefined when there are none.
 */
function catalogScript(ctx: Ctx, phase: "pre" | "post"): Script | undefined {
  const catalog = ctx.catalog;
  const objects = ctx.plan.catalog?.objects.filter((o) => o.phase === phase) ?? [];
  const entries = objects.flatMap((o) => o.action === "create" || o.action === "present" ? o.entries : []);
  if (!catalog || entries.length === 0) return undefined;
  entries.sort((a, b) => a - b);
  const text = scriptText({
    preamble: phase === "post" ? catalog.preamble : "",
    blocks: entries.map((i) => catalog.blocks[i]),
    trailer: "",
  });
  const { text: filtered, counts } = filterDefinitions(text, ctx.filter);
  addCounts(ctx.counts, counts);
  return parseScript(filtered);
}

function logObjects(ctx: Ctx, phase: "pre" | "post"): void {
  const done = ctx.plan.catalog?.objects.filter((o) => o.phase === phase && o.action === "create") ?? [];
  if (done.length) ctx.opts.log(`created ${done.map(describeObject).join(", ")}`);
}

/**
 * The database-level objects of catalog.sql that come after everything else (publications, event
 * triggers, database-wide default privileges), in its order.
 */
export async function catalogObjects(ctx: Ctx, phase: "post"): Promise<void> {
  const script = catalogScript(ctx, phase);
  if (!script) return;
  await runPsql(
    ctx,
    scriptText(script),
    "database-level objects from catalog.sql (publications, event triggers, default privileges)",
  );
  logObjects(ctx, phase);
}

/**
 * The order to create schemas in: a schema whose definitions name another schema's objects
 * (`other.thing`) comes after it; otherwise, and for schemas that name each other, the backup's order.
 * Pure.
 */
export function schemaOrder(schemas: ManifestSchema[], texts: ReadonlyMap<string, string>): ManifestSchema[] {
  const names = schemas.map((s) => s.name);
  const deps = new Map<string, Set<string>>();
  for (const s of schemas) {
    const text = texts.get(s.name) ?? "";
    const d = new Set<string>();
    for (const o of names) {
      if (o === s.name) continue;
      const forms = [`${quoteIdent(o)}.`, `"${o.replaceAll('"', '""')}".`];
      if (forms.some((f) => text.includes(f))) d.add(o);
    }
    deps.set(s.name, d);
  }
  const out: ManifestSchema[] = [];
  const done = new Set<string>();
  let pending = [...schemas];
  while (pending.length > 0) {
    const ready = pending.filter((s) => [...deps.get(s.name)!].every((d) => done.has(d)));
    // A cycle: take the first in the backup's order and go on.
    const next = ready.length > 0 ? ready : [pending[0]];
    for (const s of next) {
      out.push(s);
      done.add(s.name);
    }
    pending = pending.filter((s) => !done.has(s.name));
  }
  return out;
}

/** A schema's rows from its dump, with session_replication_role = replica. */
export async function loadSchemaData(ctx: Ctx, s: ManifestSchema): Promise<void> {
  // Into tables this restore just created (no triggers or foreign keys yet); existing ones only with
  // --data-only, which then needs session_replication_role = replica.
  const file = await dumpFile(ctx, s);
  let select = ["--section=data"];
  if (ctx.excluded?.data.size) {
    // The excluded tables' rows are left out by entry (their TOC lines), never by text.
    const toc = parseToc(
      await runTool({
        path: ctx.tools.path("pg_restore"),
        args: ["-l", "--section=data", file],
        env: {},
        what: `reading ${s.dump}`,
      }),
    );
    const list = join(ctx.tmp, `data-${crypto.randomUUID()}.list`);
    const keep = toc.filter((e) =>
      !((e.desc === "TABLE DATA" || e.desc === "SEQUENCE SET") && ctx.excluded!.data.has(e.rest))
    );
    await Deno.writeTextFile(list, keep.map((e) => e.line).join("\n") + "\n");
    select = ["-L", list];
  }
  await restoreEntries(ctx, select, file, `data of schema ${s.name}`, ctx.plan.dataOnly);
  ctx.opts.log(`schema ${s.name}: data restored`);
}

/**
 * The post-data of the schemas' dumps: indexes, constraints, triggers and policies per schema, then
 * foreign keys (those to tables the target lacks left out, with a warning) and materialized view
 * contents.
 */
export async function postData(ctx: Ctx, schemas: ManifestSchema[]): Promise<void> {
  // Indexes, constraints, triggers, policies: each only needs its own schema's tables.
  for (const s of schemas) {
    const text = (await postDataTexts(ctx, s)).early;
    if (!text) continue;
    // Rules and triggers that write into tables this restore leaves out (and the target lacks).
    const kept = new Set(
      (await withoutOutsideWriters(
        ctx,
        parseScript(text).blocks.filter((b) => !isExcludedBlock(ctx, b)),
        (schema, table) => ctx.state.tables.has(tableKey(schema, table)),
      )).map(blockKey),
    );
    // Through the filter like the definitions: default privileges and grants of roles the target
    // lacks or this user may not act for are left out (and counted), not failed on.
    const { text: filtered, counts } = filterDefinitions(text, ctx.filter, {
      dropBlock: (b) => isExcludedBlock(ctx, b) || !kept.has(blockKey(b)),
    });
    addCounts(ctx.counts, counts);
    await runPsql(ctx, filtered, `indexes, constraints and policies of schema ${s.name}`);
  }
  // Foreign keys (they may point into other schemas) and materialized view contents last.
  const present = (q: QualifiedName) => ctx.state.tables.has(tableKey(q.schema, q.table));
  for (const s of schemas) {
    const text = (await postDataTexts(ctx, s)).late;
    if (!text) continue;
    const { text: filtered, counts } = filterDefinitions(text, ctx.filter, {
      dropBlock: (b) => {
        if (isExcludedBlock(ctx, b)) return true;
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
    await runPsql(ctx, filtered, `foreign keys of schema ${s.name}`);
  }
  for (const s of schemas) {
    ctx.opts.log(`schema ${s.name}: indexes, constraints, triggers and policies restored`);
  }
}

/**
 * Triggers and policies the user added to tables of a Supabase-managed schema (e.g. a trigger on
 * auth.users that fills public.profiles): the target's own schema lacks them, so they are created
 * from the dump, each on its own. One that the restoring role may not create (not the table's owner, no
 * TRIGGER privilege) is left out with a warning; any other failure fails the restore.
 */
export async function managedExtras(ctx: Ctx, schemas: ManifestSchema[]): Promise<void> {
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
    const text = await dumpScript(ctx, ["--section=post-data"], await dumpFile(ctx, s), `reading ${s.dump}`);
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
      await runPsql(ctx, sql, `creating ${label}`);
      addCounts(ctx.counts, counts);
      ctx.opts.log(`created ${label}`);
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

/** Is `b` an entry of a table left out with `--exclude-table`? */
export function isExcludedBlock(ctx: Pick<Ctx, "excluded">, b: ScriptBlock): boolean {
  return ctx.excluded?.blocks.has(`${b.type}\u0000${b.schema}\u0000${b.name}`) ?? false;
}

/**
 * Reads the entries of the tables the plan leaves out (`--exclude-table` within restored schemas) from
 * their schema.sql: the restore then drops exactly those entry blocks, and their data entries.
 */
export async function noteExcluded(ctx: Pick<Ctx, "plan" | "excluded" | "opts" | "manifest">): Promise<void> {
  if (ctx.plan.excluded.length === 0 || ctx.excluded) return;
  const blocks = new Set<string>();
  const data = new Set<string>();
  for (const x of ctx.plan.excluded) {
    const script = parseScript(await readText(ctx, x.table.schemaFile));
    for (const b of script.blocks) {
      blocks.add(`${b.type}\u0000${b.schema}\u0000${b.name}`);
      // Its rows (TABLE DATA) and the values of the sequences it owns (SEQUENCE SET).
      if (b.type === "TABLE" || b.type === "SEQUENCE") data.add(`${x.schema} ${b.name} ${b.owner}`);
    }
  }
  ctx.excluded = { blocks, data };
}
