/**
 * Running psql and pg_restore against the restore's target: one transaction per script, stopping
 * at the first error, stderr lines kept as warnings, failures turned into one {@link BackupError}
 * with a hint; and pg_restore entries either directly (servers 17 and newer) or as a filtered
 * script through psql.
 * @module
 */
import $ from "dax";
import { BackupError } from "../base/errors.ts";
import { abortSignal, interruption, throwIfInterrupted } from "../base/interrupt.ts";
import { hintFor } from "../pg/run.ts";
import { outputLines } from "../base/proc.ts";
import { type Ctx, warn } from "./context.ts";
import { filterStream } from "./files.ts";

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
 * Runs psql with `input` on stdin, in one transaction, stopping at the first error. Returns its
 * warnings (stderr lines). Throws a {@link BackupError} naming `what` and the first error line.
 */
export async function runPsql(
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
  for (const line of outputLines(r.stderr)) warn(ctx, `${what}: ${line.trim()}`);
}

async function runPgRestore(ctx: Ctx, args: string[], what: string, replica = false): Promise<void> {
  throwIfInterrupted();
  const env = { ...ctx.env, PGOPTIONS: pgOptions(ctx.env, replica) };
  const r = await $`${ctx.tools.path("pg_restore")} ${args}`.env(env).stdout("null").stderr("piped").noThrow()
    .signal(abortSignal);
  if (r.code !== 0) throw toolFailure(what, r.code, r.stderr);
  for (const line of outputLines(r.stderr)) warn(ctx, `${what}: ${line.trim()}`);
}

function toolFailure(what: string, code: number, stderr: string): BackupError {
  const stopped = interruption();
  if (stopped) return stopped;
  const tail = outputLines(stderr).slice(-8).join("\n");
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

/**
 * Runs pg_restore with `args` (which select entries) into the target. pg_restore 17 sends
 * `SET transaction_timeout` even to older servers, which reject it; for those the script goes
 * through psql instead, filtered, in one transaction (and without pg_restore's --jobs).
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
