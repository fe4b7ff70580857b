/**
 * A bench's command line, the way the tool's own is handled: `--help` prints the usage, and a bad
 * flag or value is a one-line `error:` with a `hint:` and exit 2, never a stack trace. The parsing is
 * pure (it throws a usage {@link BackupError}); {@link runBench} is the one place that prints and exits.
 * @module
 */
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { BackupError, ExitCode, usageError } from "../lib/base/errors.ts";
import { stderrLine } from "../lib/base/output.ts";
import { redact } from "../lib/base/redact.ts";
import { describeParseError } from "../lib/cli/flags.ts";

/**
 * Parses `argv` strictly (no positionals, no unknown flags) with `options`. `task` names the bench in
 * messages (`bench:storage`). Pure. Throws a usage {@link BackupError} (exit 2) whose hint points at
 * `--help`.
 */
export function parseBenchArgs<const O extends ParseArgsOptionsConfig>(
  task: string,
  argv: string[],
  options: O,
): ReturnType<
  typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: false }>
>["values"] {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    throw usageError(describeParseError(e, task), helpHint(task));
  }
}

/**
 * The integer value of flag `--name` (`raw` as given, undefined when absent: `dflt`). Pure. Throws a
 * usage {@link BackupError} when it is not an integer of at least `min`.
 */
export function intArg(
  task: string,
  name: string,
  raw: string | undefined,
  dflt: number,
  min: number,
): number {
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isInteger(n) || n < min) {
    throw usageError(`--${name} must be an integer of at least ${min}, got '${raw}'`, helpHint(task));
  }
  return n;
}

const helpHint = (task: string) => `see 'deno task ${task} --help'`;

/**
 * Runs a bench's `main` and exits: 0 when it returns; for a {@link BackupError} (bad usage) its
 * `error:` and `hint:` lines and its exit code; for any other failure one `bench: error:` line
 * (secrets masked) and exit 1. `main`'s own `finally` blocks (stopping servers) run before the exit.
 */
export async function runBench(main: () => Promise<void>): Promise<never> {
  try {
    await main();
  } catch (e) {
    if (e instanceof BackupError) {
      stderrLine(`error: ${e.message}`);
      if (e.hint) stderrLine(`hint: ${e.hint}`);
      Deno.exit(e.exitCode);
    }
    console.error(redact(`bench: error: ${e instanceof Error ? e.message : String(e)}`));
    Deno.exit(ExitCode.failed);
  }
  Deno.exit(ExitCode.ok);
}
