/**
 * The backup's files as a restore reads them: a schema's dump as a plaintext file (reassembled when
 * it was split, checked first), its pre-data and post-data scripts as pg_restore writes them (each read
 * once, while earlier steps run), and a table's schema.sql and data files, streamed.
 * @module
 */
import { join } from "node:path";
import { parseToc, type TocEntry } from "../pg/toc.ts";
import { openPlaintext, plaintextPath } from "../store/decode.ts";
import type { Manifest, ManifestSchema } from "../store/manifest.ts";
import type { DecodeOptions } from "../store/decode.ts";
import type { BackupSource } from "../store/reader.ts";
import { ScriptLexer } from "../pg/lexer.ts";
import { parseCopyHeader } from "../pg/copy.ts";
import { runTool, streamTool } from "../pg/run.ts";
import { scriptTextOf } from "../pg/inputtext.ts";
import type { Ctx } from "./context.ts";
import { parseScript, type Script } from "./script.ts";
import { checkFiles, throwOnFaults } from "../store/check.ts";

/** What reading the backup's files needs of a restore's state (a dry run has no session). */
export type FileCtx = Pick<Ctx, "opts" | "manifest" | "dumps" | "tmp" | "checked" | "checking">;

/** The plaintext path of a schema's dump, reassembled from its parts when it was split. */
export function dumpFile(ctx: FileCtx, s: ManifestSchema): Promise<string> {
  let p = ctx.dumps.get(s.name);
  if (!p) {
    p = (async () => {
      const dir = ctx.opts.backupDir;
      const parts = s.dumpParts ?? [s.dump];
      const unchecked = parts.filter((f) => !ctx.checked?.has(f));
      if (unchecked.length) {
        throwOnFaults(await checkFiles(dir, ctx.manifest, unchecked, ctx.opts.decode), dir, "restore");
      } else await ctx.checking;
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

/** Waits for the check of `rel` when it is still running (see {@link Ctx.later}). */
async function checkedLater(ctx: Pick<Ctx, "later">, rel: string): Promise<void> {
  if (!ctx.later?.files.has(rel)) return;
  ctx.later.start();
  await ctx.later.done;
}

/** A backup file's plaintext, as text. */
export async function readText(ctx: Pick<Ctx, "opts" | "manifest" | "later">, rel: string): Promise<string> {
  await checkedLater(ctx, rel);
  const stream = await openPlaintext(ctx.opts.backupDir, rel, ctx.manifest.files[rel], ctx.opts.decode);
  return await scriptTextOf(stream, rel);
}

/** A backup data file's plaintext as a stream (psql reads it through the guard, lib/restore/guard.ts). */
export async function dataStream(ctx: Ctx, rel: string): Promise<ReadableStream<Uint8Array>> {
  await checkedLater(ctx, rel);
  return await openPlaintext(ctx.opts.backupDir, rel, ctx.manifest.files[rel], ctx.opts.decode);
}

/** Pre-data scripts of the backup's schema dumps (for the dependencies of single tables). */
export async function preDataScripts(
  ctx: Ctx,
  schemas: ManifestSchema[],
): Promise<{ schema: string; script: Script }[]> {
  const out: { schema: string; script: Script }[] = [];
  for (const s of schemas) out.push({ schema: s.name, script: parseScript(await preDataText(ctx, s)) });
  return out;
}

/**
 * The script pg_restore writes of the entries of the dump `file` that `args` select, as text
 * (lib/pg/inputtext.ts: in the encoding the script names; bytes that cannot be read so are refused).
 */
export async function dumpScript(
  ctx: Pick<Ctx, "tools">,
  args: string[],
  file: string,
  what: string,
): Promise<string> {
  return await streamTool(
    { path: ctx.tools.path("pg_restore"), args: [...args, "-f", "-", file], env: {}, what },
    (out) => scriptTextOf(out, what),
  );
}

/** The pre-data script of a schema's dump, as pg_restore writes it (read once per restore). */
export function preDataText(
  ctx: FileCtx & Pick<Ctx, "tools" | "preDataText">,
  s: ManifestSchema,
): Promise<string> {
  let p = ctx.preDataText.get(s.name);
  if (!p) {
    p = (async () =>
      await dumpScript(ctx, ["--section=pre-data"], await dumpFile(ctx, s), `reading ${s.dump}`))();
    ctx.preDataText.set(s.name, p);
  }
  return p;
}

/** A dump's post-data as pg_restore writes it: what runs once each table has its rows, and what runs last. */
export interface PostDataTexts {
  /** Indexes, constraints, triggers, policies, rules (without ownership), in the dump's order. */
  early: string;
  /** Foreign keys (they may point into other schemas) and materialized view contents. */
  late: string;
}

/** Post-data entries that wait for every schema's rows and indexes. */
const LATE = new Set(["FK CONSTRAINT", "MATERIALIZED VIEW DATA"]);

/**
 * A dump's post-data as it is read: its table of contents (listed once asked for, by either), and its
 * scripts (read only once asked for: the check of the roles policies name needs the listing first).
 */
export interface PostDataRead {
  listed: Promise<{ file: string; what: string; toc: TocEntry[] }>;
  texts?: Promise<PostDataTexts>;
}

function postDataRead(ctx: FileCtx & Pick<Ctx, "tools" | "postData">, s: ManifestSchema): PostDataRead {
  let r = ctx.postData.get(s.name);
  if (!r) {
    const listed = (async () => {
      const file = await dumpFile(ctx, s);
      const what = `reading ${s.dump}`;
      const list = await runTool({
        path: ctx.tools.path("pg_restore"),
        args: ["-l", "--section=post-data", file],
        env: {},
        what,
      });
      return { file, what, toc: parseToc(list) };
    })();
    // Awaited where it is used, or not at all when an earlier step fails.
    listed.catch(() => {});
    r = { listed };
    ctx.postData.set(s.name, r);
  }
  return r;
}

/** The two scripts of a dump's post-data, from its listing: two pg_restore runs at once. */
async function readPostData(
  ctx: FileCtx & Pick<Ctx, "tools">,
  listed: PostDataRead["listed"],
): Promise<PostDataTexts> {
  const { file, what, toc } = await listed;
  const script = async (lines: string[], name: string, args: string[]) => {
    if (lines.length === 0) return "";
    const list = join(ctx.tmp, `${name}-${crypto.randomUUID()}.list`);
    await Deno.writeTextFile(list, lines.join("\n") + "\n");
    return await dumpScript(ctx, ["-L", list, ...args], file, what);
  };
  const [early, late] = await Promise.all([
    script(toc.filter((e) => !LATE.has(e.desc)).map((e) => e.line), "post", ["--no-owner"]),
    script(toc.filter((e) => LATE.has(e.desc)).map((e) => e.line), "late", []),
  ]);
  return { early, late };
}

/**
 * The post-data of a schema's dump in two scripts ({@link PostDataTexts}), read once per restore: its
 * pg_restore runs start when this is first asked for (before the first write, for the check of the
 * roles policies name), so that they are done when the rows are; the listing they read from may have
 * been started before ({@link postDataHasPolicies}).
 */
export function postDataTexts(
  ctx: FileCtx & Pick<Ctx, "tools" | "postData">,
  s: ManifestSchema,
): Promise<PostDataTexts> {
  const r = postDataRead(ctx, s);
  if (!r.texts) {
    r.texts = readPostData(ctx, r.listed);
    r.texts.catch(() => {});
  }
  return r.texts;
}

/**
 * Whether a schema's dump has policies in its post-data, from its table of contents (the listing
 * {@link postDataTexts} reads from; this starts it, not the scripts): the check of the roles policies
 * name needs the scripts only then.
 */
export function postDataHasPolicies(
  ctx: FileCtx & Pick<Ctx, "tools" | "postData">,
  s: ManifestSchema,
): Promise<boolean> {
  return postDataRead(ctx, s).listed.then((l) => l.toc.some((e) => e.desc === "POLICY"));
}

/**
 * The columns of the first COPY statement in the backup file `rel` (a table's data file), read from its
 * beginning only; undefined when it has none.
 */
export async function copyColumnsOf(
  dir: BackupSource,
  m: Manifest,
  rel: string,
  decode?: DecodeOptions,
): Promise<string[] | undefined> {
  const entry = m.files[rel];
  if (!entry) return undefined;
  const reader = (await openPlaintext(dir, rel, entry, decode)).pipeThrough(new TextDecoderStream())
    .getReader();
  const lx = new ScriptLexer();
  try {
    for (;;) {
      const r = await reader.read();
      const pieces = r.done ? lx.end() : lx.push(r.value);
      for (const p of pieces) {
        if (p.kind !== "statement") continue;
        const h = parseCopyHeader(p.text);
        if (h) return h.columns;
      }
      if (r.done) return undefined;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}
