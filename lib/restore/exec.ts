/**
 * Putting SQL into the restore's one psql session (lib/restore/session.ts): a script or a backup
 * file ({@link runPsql}), or the entries pg_restore writes from a dump ({@link restoreEntries}). All of
 * it runs in the restore's one transaction; nothing is committed before the last step.
 * @module
 */
import { streamTool } from "../pg/run.ts";
import type { Ctx } from "./context.ts";
import type { CopyTarget } from "./session.ts";

/**
 * Appends `input` (SQL text or a stream of it) to the session, under the guard. With `replica`, it
 * runs with session_replication_role = replica (no triggers or foreign key checks: rows go into tables
 * that already exist). `hint` replaces the hint of an error this input causes; `copy` loads its COPY rows
 * into other columns or another table; `statement` rewrites each of its statements (`--into`).
 */
export async function runPsql(
  ctx: Ctx,
  input: string | Uint8Array | ReadableStream<Uint8Array>,
  what: string,
  opts: { replica?: boolean; hint?: string; copy?: CopyTarget; statement?: (text: string) => string } = {},
): Promise<void> {
  if (opts.replica) await ctx.session.run("SET session_replication_role = replica;", what);
  await ctx.session.run(input, what, { hint: opts.hint, copy: opts.copy, statement: opts.statement });
  if (opts.replica) await ctx.session.run("RESET session_replication_role;", what);
}

/**
 * Appends the entries of the dump `file` that `args` select (`--section=…`, `-L list`), as pg_restore
 * writes them (without ownership), to the session. Should pg_restore fail, the session's input ends in
 * that error and the transaction is rolled back.
 */
export async function restoreEntries(
  ctx: Ctx,
  args: string[],
  file: string,
  what: string,
  replica = false,
): Promise<void> {
  await streamTool(
    {
      path: ctx.tools.path("pg_restore"),
      args: [...args, "--no-owner", "-f", "-", file],
      env: {},
      what: `${what}: reading the dump`,
    },
    (script) => runPsql(ctx, script, what, { replica }),
  );
}
