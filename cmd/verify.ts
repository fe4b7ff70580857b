/**
 * The `verify` command.
 * @module
 */
import type { ParsedArgs } from "../lib/cli.ts";
import { BackupError } from "../lib/errors.ts";

/** Runs `backup.ts verify`; returns the exit code. */
export function run(_args: ParsedArgs): Promise<number> {
  return Promise.reject(new BackupError("'verify' is not implemented yet"));
}
