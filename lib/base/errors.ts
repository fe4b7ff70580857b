/**
 * The one error type of supabase-backup, and the table of exit codes.
 *
 * Library code throws {@link BackupError}; only `backup.ts` catches it, prints `error: …` and
 * `hint: …`, and exits with its code.
 * @module
 */

/** Exit codes, documented in `--help`. */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  partial: 3,
  interrupted: 130,
  terminated: 143,
} as const;

/** One of the values of {@link ExitCode}. */
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** Options of a {@link BackupError}. */
export interface BackupErrorOptions {
  /** One line that tells the user how to fix it. */
  hint?: string;
  /** Exit code; defaults to 1 (failed). */
  exitCode?: ExitCodeValue;
  /** The underlying error, kept for `--debug`. */
  cause?: unknown;
}

/** An error meant for the user: a one-line message, an optional hint, and an exit code. */
export class BackupError extends Error {
  readonly hint?: string;
  readonly exitCode: ExitCodeValue;

  constructor(message: string, options: BackupErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = "BackupError";
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? ExitCode.failed;
  }
}

/** Shorthand for a bad-usage error (exit 2). */
export function usageError(message: string, hint?: string): BackupError {
  return new BackupError(message, { hint, exitCode: ExitCode.usage });
}

const EXIT_RANK: Record<number, number> = {
  [ExitCode.ok]: 0,
  [ExitCode.partial]: 1,
  [ExitCode.failed]: 2,
  [ExitCode.usage]: 2,
  [ExitCode.terminated]: 3,
  [ExitCode.interrupted]: 3,
};

/**
 * The exit code of a run made of several parts (environments): an interruption beats a failure,
 * a failure (1 or 2) beats partial (3), partial beats ok. Between equals, the first one stays. Pure.
 */
export function worseExit(a: number, b: number): number {
  return (EXIT_RANK[b] ?? 2) > (EXIT_RANK[a] ?? 2) ? b : a;
}
