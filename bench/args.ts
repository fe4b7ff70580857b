/**
 * A bench's command line, the way the tool's own is handled: `--help` prints the usage, and a bad
 * flag or value is a one-line `error:` with a `hint:` and exit 2, never a stack trace. The parsing is
 * pure (it throws a usage {@link BackupError}); {@link runBench} is the one place that prints and exits.
 * @module
 */
import { join, resolve } from "node:path";
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
    throw benchUsageError(task, describeParseError(e, task));
  }
}

/**
 * The integer value of flag `--name` (`raw` as given, undefined when absent: `dflt`). Pure. Throws a
 * usage {@link BackupError} when it is not an integer of at least `min` (and at most `max`, if given).
 */
export function intArg(
  task: string,
  name: string,
  raw: string | undefined,
  dflt: number,
  min: number,
  max?: number,
): number {
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isInteger(n) || n < min || (max !== undefined && n > max)) {
    const range = max === undefined ? `of at least ${min}` : `from ${min} to ${max}`;
    throw benchUsageError(task, `--${name} must be an integer ${range}, got '${raw}'`);
  }
  return n;
}

/**
 * The value of flag `--name`, one of `choices` (`raw` undefined: the first of them). Pure. Throws a
 * usage {@link BackupError} for any other value.
 */
export function choiceArg<const C extends readonly [string, ...string[]]>(
  task: string,
  name: string,
  raw: string | undefined,
  choices: C,
): C[number] {
  if (raw === undefined) return choices[0];
  const found = choices.find((c) => c === raw);
  if (found === undefined) {
    throw benchUsageError(task, `--${name} must be ${choices.join(" or ")}, got '${raw}'`);
  }
  return found;
}

/** A usage {@link BackupError} about the flags of bench `task`, with the hint that points at `--help`. */
export function benchUsageError(task: string, message: string): BackupError {
  return usageError(message, `see 'deno task ${task} --help'`);
}

const isFile = (path: string) => Deno.stat(path).then((s) => s.isFile, () => false);

const CHECKOUT = "another checkout, e.g. a worktree of the start code";

/**
 * `--compare DIR` (or `--FLAG DIR`) made absolute, once DIR is found to hold a `backup.ts` (another
 * checkout of the tool); else a usage {@link BackupError}.
 */
export async function checkoutArg(dir: string, flag = "compare"): Promise<string> {
  if (!await isFile(join(dir, "backup.ts"))) {
    throw usageError(
      `--${flag} ${dir}: no backup.ts there`,
      `give the folder of ${CHECKOUT}`,
    );
  }
  return resolve(dir);
}

/** Throws a usage {@link BackupError} unless `file`, given as `--FLAG FILE`, is a file: a checkout's `backup.ts`. */
export async function backupFileArg(file: string, flag: string): Promise<void> {
  if (!await isFile(file)) {
    throw usageError(
      `--${flag} ${file}: no such file`,
      `give the backup.ts of ${CHECKOUT}`,
    );
  }
}

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
