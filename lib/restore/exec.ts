/**
 * Running psql and pg_restore against the restore's target through the one process runner
 * (lib/pg/run.ts): one transaction per script, stopping at the first error, stderr lines kept as
 * warnings, a failure or a crash (a program killed by a signal) thrown as a `BackupError` with a
 * hint; and pg_restore entries either directly (servers 17 and newer) or as a guarded script
 * through psql. Every psql input goes through the guard (lib/restore/guard.ts).
 * @module
 */
import { throwIfInterrupted } from "../base/interrupt.ts";
import { runToolQuiet, streamTool } from "../pg/run.ts";
import { type Ctx, enc, warn } from "./context.ts";
import { guardStream, guardText } from "./guard.ts";

const BASE_OPTIONS = "-c client_min_messages=warning";
const REPLICA_OPTIONS = "-c session_replication_role=replica";

function pgOptions(env: Record<string, string>, replica: boolean): string {
  return [env.PGOPTIONS, BASE_OPTIONS, replica ? REPLICA_OPTIONS : ""].filter(Boolean).join(" ");
}

/** A conninfo naming only the database (host, user and password come from the environment). */
function dbConninfo(env: Record<string, string>): string {
  return `dbname='${(env.PGDATABASE ?? "").replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
}

/**
 * Runs psql with `input` on stdin, guarded (lib/restore/guard.ts: a fresh `\restrict` key, no
 * meta-commands, one transaction committed only after the whole input passed), stopping at the first
 * error; its stderr lines become the restore's warnings. Throws a `BackupError` naming `what`, psql
 * and its first error line (or the signal that killed it), or the guard's refusal.
 */
export async function runPsql(
  ctx: Ctx,
  input: Uint8Array | ReadableStream<Uint8Array>,
  what: string,
  opts: { replica?: boolean } = {},
): Promise<void> {
  const guard = { what, dropTransactionTimeout: ctx.state.serverMajor < 17 };
  let failure: unknown;
  let stdin: Uint8Array | ReadableStream<Uint8Array>;
  if (input instanceof Uint8Array) stdin = enc(guardText(new TextDecoder().decode(input), guard));
  else {
    // A refused piece (or a failed or damaged input) ends psql's input before COMMIT: the server
    // rolls the transaction back, and the failure is thrown below.
    const reader = guardStream(input, guard).getReader();
    stdin = new ReadableStream<Uint8Array>({
      async pull(c) {
        try {
          const r = await reader.read();
          if (r.done) c.close();
          else c.enqueue(r.value);
        } catch (e) {
          failure ??= e;
          c.close();
        }
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    });
  }
  await onTarget(
    ctx,
    "psql",
    ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"],
    what,
    opts.replica ?? false,
    stdin,
  );
  if (failure) throw failure;
}

/** Runs psql or pg_restore connected to the target; its stderr lines become warnings. */
async function onTarget(
  ctx: Ctx,
  tool: "psql" | "pg_restore",
  args: string[],
  what: string,
  replica: boolean,
  stdin?: Uint8Array | ReadableStream<Uint8Array>,
): Promise<void> {
  throwIfInterrupted();
  const env = { ...ctx.env, PGOPTIONS: pgOptions(ctx.env, replica) };
  const warnings = await runToolQuiet({ path: ctx.tools.path(tool), args, env, what, stdin });
  for (const line of warnings) warn(ctx, `${what}: ${line.trim()}`);
}

/**
 * Runs pg_restore with `args` (which select entries) into the target. pg_restore 17 sends
 * `SET transaction_timeout` even to older servers, which reject it; for those the script goes
 * through psql instead, guarded, in one transaction (and without pg_restore's --jobs).
 */
export async function restoreEntries(
  ctx: Ctx,
  args: string[],
  file: string,
  what: string,
  replica = false,
): Promise<void> {
  if (ctx.state.serverMajor >= 17) {
    const direct = [...args, "--exit-on-error", "--no-owner", `--jobs=${ctx.opts.jobs}`];
    await onTarget(ctx, "pg_restore", [...direct, `--dbname=${dbConninfo(ctx.env)}`, file], what, replica);
    return;
  }
  throwIfInterrupted();
  // The script streams into psql; should pg_restore fail, psql's input ends in that error and psql
  // is stopped before it could commit a part.
  await streamTool(
    {
      path: ctx.tools.path("pg_restore"),
      args: [...args, "-f", "-", file],
      env: {},
      what: `${what}: reading the dump`,
    },
    (script) => runPsql(ctx, script, what, { replica }),
  );
}
