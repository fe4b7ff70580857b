/**
 * Running PostgreSQL client programs: arguments as arrays, the password only in the environment,
 * and failures turned into a {@link BackupError} that names the program, shows the last lines of
 * its stderr (secrets masked) and gives a hint.
 * @module
 */
import $ from "dax";
import { BackupError } from "./errors.ts";
import { abortSignal, interruption } from "./interrupt.ts";
import { redact } from "./redact.ts";

/** How to run one program. */
export interface ToolRun {
  /** Absolute path of the program. */
  path: string;
  args: string[];
  env: Record<string, string>;
  /** What the run is doing, for error messages: "pg_dump of schema public". */
  what: string;
  /** Kills the program when aborted; defaults to the interrupt signal. */
  signal?: AbortSignal;
}

/** The last `n` non-empty lines of a stderr text, masked. */
export function stderrTail(text: string, n = 5): string {
  return redact(text.split("\n").filter((l) => l.trim()).slice(-n).join("\n"));
}

/** A hint for a known pg_dump/pg_restore/psql failure, from its stderr. Pure. */
export function hintFor(stderr: string): string {
  if (/server version mismatch/i.test(stderr)) {
    return "pg_dump must be of the server's major version or newer: install postgresql-client-<N> or set --pg-bin";
  }
  if (/permission denied/i.test(stderr)) {
    return "the role lacks a privilege; on Supabase connect as postgres, or leave the object out with --exclude-table";
  }
  if (/invalid snapshot identifier|could not import the requested snapshot/i.test(stderr)) {
    return "the pooler does not keep the snapshot transaction; use the session pooler (port 5432) or a direct connection";
  }
  if (/No space left on device/i.test(stderr)) {
    return "free disk space where --out points, or choose another --out";
  }
  if (/terminat|connection.*(closed|lost)|server closed the connection/i.test(stderr)) {
    return "the connection to the server was lost; check the server and network, then run again";
  }
  return "run again with BACKUP_DEBUG=1 for details";
}

function failure(run: ToolRun, code: number, stderr: string): BackupError {
  const stopped = interruption();
  if (stopped) return stopped;
  const tail = stderrTail(stderr);
  const firstError = tail.split("\n").find((l) => /error|fatal/i.test(l)) ?? tail.split("\n")[0] ?? "";
  return new BackupError(
    `${run.what} failed (exit ${code})${firstError ? `: ${firstError.replace(/^\S+: (error: )?/, "")}` : ""}`,
    { hint: hintFor(stderr), cause: tail },
  );
}

/** Runs a program to completion; returns its stdout. Throws a {@link BackupError} on failure. */
export async function runTool(run: ToolRun): Promise<string> {
  const r = await $`${run.path} ${run.args}`.env(run.env).stdout("piped").stderr("piped").noThrow()
    .signal(run.signal ?? abortSignal);
  if (r.code !== 0) throw failure(run, r.code, r.stderr);
  return r.stdout;
}

/**
 * Runs a program and hands its stdout stream to `consume`. Throws a {@link BackupError} when the
 * program fails, even if `consume` succeeded.
 */
export async function streamTool<T>(
  run: ToolRun,
  consume: (out: ReadableStream<Uint8Array>) => Promise<T>,
): Promise<T> {
  const child = $`${run.path} ${run.args}`.env(run.env).stdout("piped").stderr("piped").noThrow()
    .signal(run.signal ?? abortSignal).spawn();
  let result: T;
  try {
    result = await consume(child.stdout());
  } catch (e) {
    child.kill();
    await child.catch(() => {});
    throw e;
  }
  const r = await child;
  if (r.code !== 0) throw failure(run, r.code, r.stderr);
  return result;
}
