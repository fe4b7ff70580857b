/**
 * Running PostgreSQL client programs (pg_dump, pg_dumpall, pg_restore, psql) through the one
 * process runner (lib/base/proc.ts): arguments as arrays, the password only in the environment,
 * and failures turned into a `BackupError` that names the program, shows the last lines of
 * its stderr (secrets masked) and gives a hint chosen from them.
 * @module
 */
import { type Ended, killedHint, mustRun, outputLines, type Program, streamProgram } from "../base/proc.ts";

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
  /** Standard input (psql's script); see {@link Program.stdin}. */
  stdin?: Uint8Array | ReadableStream<Uint8Array>;
}

/**
 * What libpq, psql and the server say when a session ends under them: a terminated backend, a
 * closed or lost connection, no data. Not "unterminated …" (a syntax error) nor "terminated by
 * signal" lines of other programs.
 */
const CONNECTION_LOST = new RegExp(
  [
    "terminating connection",
    "server closed the connection",
    "\\bconnection terminated\\b",
    "\\bconnection\\b[^\\n]*\\b(?:closed|lost)\\b",
    "could not receive data from server",
    "no connection to the server",
    "SSL SYSCALL error: EOF",
  ].join("|"),
  "i",
);

/** A hint for a known pg_dump/pg_restore/psql failure, from its stderr. Pure. */
export function hintFor(stderr: string): string {
  if (/session_replication_role/.test(stderr)) {
    return "the target user may not set session_replication_role; on Supabase connect as postgres, elsewhere as a superuser or grant SET on that parameter";
  }
  if (/already exists/.test(stderr)) {
    return "the target already holds some of these objects; restore into an empty database, or use --clean";
  }
  if (/server version mismatch/i.test(stderr)) {
    return "pg_dump must be of the server's major version or newer: install postgresql-client-<N> or set --pg-bin";
  }
  if (/permission denied/i.test(stderr)) {
    return "the connecting role lacks a privilege on the object named above: connect as its owner or a role that may, or leave the object out with --exclude-table or --exclude-schema";
  }
  if (/invalid snapshot identifier|could not import the requested snapshot/i.test(stderr)) {
    return "the pooler does not keep the snapshot transaction; use the session pooler (port 5432) or a direct connection";
  }
  if (/No space left on device/i.test(stderr)) {
    return "free disk space where --out points, or choose another --out";
  }
  if (CONNECTION_LOST.test(stderr)) {
    return "the connection to the server was lost; check the server and network, then run again";
  }
  if (/syntax error|unterminated/i.test(stderr)) {
    return "the server could not parse the SQL: the backup file may be damaged or cut short; run 'backup.ts verify' on it, or restore another backup";
  }
  return "run again with BACKUP_DEBUG=1 for details";
}

/** The runner's description of a PostgreSQL client program run, with its hints. */
export function pgProgram(run: ToolRun, stdout: "piped" | "null" = "piped"): Program {
  return {
    ...run,
    stdout,
    hint: (end: Ended) =>
      end.signal
        ? killedHint(end.signal) ??
          `${run.path} crashed; check the installation, or use another with --pg-bin`
        : hintFor(end.stderr),
    startHint: "check --pg-bin / $PG_BIN, or install the PostgreSQL client tools",
  };
}

/** Runs a program to completion; returns its stdout. Throws a `BackupError` on failure. */
export async function runTool(run: ToolRun): Promise<string> {
  return (await mustRun(pgProgram(run))).stdout;
}

/**
 * Runs a program whose output is not wanted; returns the lines it wrote to stderr (masked), its
 * warnings. Throws a `BackupError` on failure.
 */
export async function runToolQuiet(run: ToolRun): Promise<string[]> {
  return outputLines((await mustRun(pgProgram(run, "null"))).stderr);
}

/**
 * Runs a program and hands its stdout stream to `consume`; the stream ends in an error rather than
 * early when the program fails. Throws a `BackupError` when the program fails, even if
 * `consume` succeeded.
 */
export function streamTool<T>(
  run: ToolRun,
  consume: (out: ReadableStream<Uint8Array>) => Promise<T>,
): Promise<T> {
  return streamProgram(pgProgram(run), consume);
}
