/**
 * The `restore` command.
 * @module
 */
import type { ParsedArgs } from "../lib/cli.ts";
import { BackupError } from "../lib/errors.ts";

/** Runs `backup.ts restore`; returns the exit code. */
export function run(_args: ParsedArgs): Promise<number> {
  return Promise.reject(new BackupError("'restore' is not implemented yet"));
}
