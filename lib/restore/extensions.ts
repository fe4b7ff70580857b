/**
 * Creating the backup's extensions that the target lacks, before any definitions are restored:
 * from the manifest's list, or (older manifests) from the `CREATE EXTENSION` entries of the dumps.
 * @module
 */
import type { ManifestExtension } from "../store/manifest.ts";
import type { Ctx } from "./context.ts";
import { preDataText } from "./files.ts";
import { addCounts, filterDefinitions } from "./filter.ts";
import { planExtensions } from "./plan.ts";
import { runPsql } from "./exec.ts";
import { parseScript } from "./script.ts";
import { assumeCreated } from "./target.ts";
import { quoteIdent, unquoteName } from "../pg/ident.ts";

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
 * it). Extensions the target has are left as they are. When the target cannot create one (not
 * installed on the server, or not permitted), the restore fails naming it, with nothing changed.
 */
export async function createExtensions(ctx: Ctx): Promise<void> {
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
    // Created first, in the restore's one transaction: a failure here leaves nothing behind.
    await runPsql(
      ctx,
      parts.join("\n") + "\n",
      `extension ${e.name} (schema ${e.schema} in the backup) cannot be created in the target`,
      {
        hint: `enable ${e.name} in the target first (Supabase: Dashboard → Database → Extensions), or ` +
          "install it on the server (most are in postgresql-contrib), or create it as a superuser; " +
          "then run the restore again",
      },
    );
    assumeCreated(ctx, { schemas: [e.schema], extensions: [e] });
  }
}
