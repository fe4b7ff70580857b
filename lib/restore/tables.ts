/**
 * Restoring tables one by one from their schema.sql and data files (`--table`, and tables absent
 * from a Supabase-managed schema of the target): the schemas, types, domains, sequences and
 * functions they need, their definitions (dropped first with `--clean`), their rows, then their
 * foreign keys.
 * @module
 */
import type { QualifiedName } from "../pg/ident.ts";
import { type Ctx, warn } from "./context.ts";
import { dataStream, preDataScripts, preDataText, readText } from "./files.ts";
import { runsDynamicSql, triggerFunction, writesOutside } from "./writes.ts";
import { withoutState } from "./catalog.ts";
import { addCounts, filterDefinitions } from "./filter.ts";
import { type PlannedTable, tableKey } from "./plan.ts";
import { runPsql } from "./exec.ts";
import {
  type Dependency,
  parseScript,
  pickDependencies,
  type Script,
  type ScriptBlock,
  scriptText,
  splitTableScript,
} from "./script.ts";
import { assumeCreated, existingObjects, withoutDefaults } from "./target.ts";
import { qualified, quoteIdent, unquoteName } from "../pg/ident.ts";
import { intoDataRewriter, intoScript } from "./into.ts";

/** Restores tables one by one: schema, dependencies, table definitions, data, foreign keys. */
export async function restoreTables(ctx: Ctx, tables: PlannedTable[]): Promise<void> {
  const work = tables.filter((t) => t.action !== "keep" && t.action !== "refuse" && t.action !== "skip");
  if (work.length === 0) return;
  const defs = !ctx.plan.dataOnly && work.some((t) => t.action === "create" || t.action === "recreate");
  let fks: Script | undefined;
  if (defs) {
    const texts = new Map<PlannedTable, string>();
    for (const t of work) {
      if (t.action === "create" || t.action === "recreate") {
        const text = await readText(ctx, t.table.schemaFile);
        texts.set(t, ctx.into ? intoTable(ctx.into, text) : text);
      }
    }
    await createDependencies(
      ctx,
      [...texts.values()].join("\n"),
      await preDataScripts(ctx, ctx.manifest.schemas),
      ctx.into ? [ctx.into.to.schema] : work.map((t) => t.schema),
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
      combined.blocks.push(
        ...await withoutOutsideWriters(ctx, late, (schema, table) => present({ schema, table })),
      );
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
    for (const t of work) await loadTableData(ctx, t);
    ctx.opts.log(`loaded rows into ${work.length} table(s)`);
  }
  if (fks) {
    const { text: fk, counts } = filterDefinitions(scriptText(fks), ctx.filter);
    addCounts(ctx.counts, counts);
    await runPsql(ctx, fk, `foreign keys of ${describeTables(work)}`);
  }
}

/**
 * `blocks` without the rules and triggers that write into a table of the backup that is not
 * `present` (restored by this restore, or in the target): each left out with a warning naming the
 * table, as foreign keys to such tables are. A trigger's writes are read from its function's entry in
 * the backup's schema dumps (lib/restore/writes.ts).
 */
export async function withoutOutsideWriters(
  ctx: Ctx,
  blocks: ScriptBlock[],
  present: (schema: string, table: string) => boolean,
): Promise<ScriptBlock[]> {
  const functions = new Map<string, ScriptBlock>();
  const needed = new Set(
    blocks.filter((b) => b.type === "TRIGGER").map((b) => triggerFunction(b)?.schema)
      .filter((x) => x !== undefined),
  );
  for (const s of ctx.manifest.schemas.filter((x) => needed.has(x.name))) {
    for (const b of parseScript(await preDataText(ctx, s)).blocks) {
      if (b.type !== "FUNCTION" && b.type !== "PROCEDURE") continue;
      functions.set(`${b.schema}\u0000${unquoteName(b.name.replace(/\(.*$/s, ""))}`, b);
    }
  }
  const inBackup = (schema: string, table: string) =>
    ctx.manifest.schemas.some((s) => s.name === schema && s.tables.some((t) => t.name === table));
  // Some of the backup's tables are left out (and not in the target): a trigger whose function runs
  // dynamic SQL may write into one of them, which no reading of its body can tell.
  const partial = ctx.manifest.schemas.some((s) => s.tables.some((t) => !present(s.name, t.name)));
  return blocks.filter((b) => {
    if (b.type !== "RULE" && b.type !== "TRIGGER") return true;
    const outside = writesOutside(b, (s, n) => functions.get(`${s}\u0000${n}`), present, inBackup);
    if (outside.length === 0) {
      const f = b.type === "TRIGGER" ? triggerFunction(b) : undefined;
      const def = f && functions.get(`${f.schema}\u0000${f.name}`);
      if (partial && def && runsDynamicSql(def)) {
        warn(
          ctx,
          `trigger ${b.schema}.${b.name} kept: its function ${f!.schema}.${
            f!.name
          } runs dynamic SQL (EXECUTE), ` +
            `so the tables it writes into are not known; check that this restore or the target has them`,
        );
      }
      return true;
    }
    warn(
      ctx,
      `${b.type.toLowerCase()} ${b.schema}.${b.name} left out: it writes into ${
        outside.join(", ")
      }, which this restore does not restore and the target lacks`,
    );
    return false;
  });
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
export async function createDependencies(
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
  // Without the SET default_table_access_method/default_tablespace that pg_restore wrote for the
  // tables next to them: they are not created here (and their access method may not exist yet).
  const preamble = withoutState(scripts[0]?.script.preamble ?? "");
  const trailer = scripts[0]?.script.trailer ?? "";
  const body = [preamble, head, ...deps.map((d) => withoutState(d.block.text)), trailer].join("\n");
  const { text: sql, counts } = filterDefinitions(body, ctx.filter);
  addCounts(ctx.counts, counts);
  await runPsql(ctx, sql, "creating the schemas and types they need");
  assumeCreated(ctx, { schemas: missing });
}

/**
 * `DROP TABLE … CASCADE` for the tables `--clean` recreates; it runs in the same transaction as
 * their creation, so a failure leaves them as they were.
 */
export function dropsForClean(ctx: Ctx, tables: PlannedTable[]): string {
  const drops = tables.filter((t) => t.action === "recreate");
  if (drops.length === 0) return "";
  ctx.opts.log(
    `--clean: dropping and recreating ${drops.map((t) => `${t.schema}.${t.table.name}`).join(", ")}`,
  );
  return drops.map((t) => `DROP TABLE IF EXISTS ${qualified(t.schema, t.table.name)} CASCADE;`).join("\n") +
    "\n";
}

/**
 * A table's rows from its data files, as replica: emptied first for `empty-load`; only the columns it
 * shares with the target when they differ; for `merge`, through a temporary table, adding the rows whose
 * key the target lacks.
 */
export async function loadTableData(ctx: Ctx, t: PlannedTable): Promise<void> {
  const name = qualified(t.schema, t.table.name);
  if (t.action === "empty-load") {
    await runPsql(ctx, `DELETE FROM ONLY ${name};\n`, `emptying ${t.schema}.${t.table.name}`, {
      replica: true,
    });
  }
  const columns = t.columns?.load;
  if (t.action === "merge" && columns) {
    const tmp = "pg_temp.supabase_backup_merge";
    const cols = columns.map(quoteIdent).join(", ");
    await runPsql(
      ctx,
      `DROP TABLE IF EXISTS ${tmp};\nCREATE TEMP TABLE supabase_backup_merge (LIKE ${name} INCLUDING DEFAULTS) ON COMMIT DROP;\n`,
      `merging ${t.schema}.${t.table.name}`,
    );
    for (const rel of t.table.dataFiles) {
      await runPsql(ctx, await dataStream(ctx, rel), `loading ${rel}`, { copy: { columns, table: tmp } });
    }
    await runPsql(
      ctx,
      `INSERT INTO ${name} (${cols}) SELECT ${cols} FROM ${tmp} ON CONFLICT DO NOTHING;\n`,
      `merging ${t.schema}.${t.table.name}`,
    );
    return;
  }
  for (const rel of t.table.dataFiles) {
    await runPsql(ctx, await dataStream(ctx, rel), `loading ${rel}`, {
      replica: true,
      copy: columns ? { columns } : undefined,
      statement: ctx.into?.data,
    });
  }
}

/**
 * `--into`: the table's schema.sql rewritten to create the new table (into.ts), and the rewriter of
 * its data files kept for {@link loadTableData}.
 */
function intoTable(into: NonNullable<Ctx["into"]>, text: string): string {
  const script = intoScript(text, into, into.taken);
  into.data = intoDataRewriter(into, script);
  return script.text;
}
