/**
 * Running PostgreSQL client programs: arguments as arrays, the password only in the environment,
 * and failures turned into a {@link BackupError} that names the program, shows the last lines of
 * its stderr (secrets masked) and gives a hint.
 * @module
 */
import { BackupError } from "../base/errors.ts";
import { abortSignal, interruption } from "../base/interrupt.ts";
import { redact } from "../base/redact.ts";

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

function failure(run: ToolRun, code: number, stderr: string, signal?: string | null): BackupError {
  const stopped = interruption();
  if (stopped) return stopped;
  const tail = stderrTail(stderr);
  const firstError = tail.split("\n").find((l) => /error|fatal/i.test(l)) ?? tail.split("\n")[0] ?? "";
  const how = signal ? `was killed by ${signal}` : `failed (exit ${code})`;
  return new BackupError(
    `${run.what} ${how}${firstError ? `: ${firstError.replace(/^\S+: (error: )?/, "")}` : ""}`,
    {
      hint: signal
        ? `${run.path} crashed; check the installation, or use another with --pg-bin`
        : hintFor(stderr),
      cause: tail,
    },
  );
}

// Deno.Command rather than dax here: dax reports a child killed by a signal (a crash) as exit 0.
function spawn(run: ToolRun): Deno.ChildProcess {
  try {
    return new Deno.Command(run.path, {
      args: run.args,
      env: run.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: run.signal ?? abortSignal,
    }).spawn();
  } catch (e) {
    const stopped = interruption();
    if (stopped) throw stopped;
    throw new BackupError(`${run.what} could not start ${run.path}: ${(e as Error).message.split(" (")[0]}`, {
      hint: "check --pg-bin / $PG_BIN, or install the PostgreSQL client tools",
      cause: e,
    });
  }
}

/** Runs a program to completion; returns its stdout. Throws a {@link BackupError} on failure. */
export async function runTool(run: ToolRun): Promise<string> {
  const out = await spawn(run).output();
  const dec = new TextDecoder();
  if (!out.success) throw failure(run, out.code, dec.decode(out.stderr), out.signal);
  return dec.decode(out.stdout);
}

/**
 * Runs a program and hands its stdout stream to `consume`. Throws a {@link BackupError} when the
 * program fails, even if `consume` succeeded.
 */
export async function streamTool<T>(
  run: ToolRun,
  consume: (out: ReadableStream<Uint8Array>) => Promise<T>,
): Promise<T> {
  const child = spawn(run);
  const stderr = new Response(child.stderr).text();
  let result: T;
  try {
    result = await consume(child.stdout);
  } catch (e) {
    try {
      child.kill();
    } catch {
      // already ended
    }
    await child.status;
    await stderr.catch(() => "");
    throw e;
  }
  const status = await child.status;
  if (!status.success) throw failure(run, status.code, await stderr, status.signal);
  return result;
}
