/**
 * The `prune` command.
 * @module
 */
import type { ParsedArgs } from "../lib/cli.ts";
import { BackupError } from "../lib/errors.ts";

/** Runs `backup.ts prune`; returns the exit code. */
export function run(_args: ParsedArgs): Promise<number> {
  return Promise.reject(new BackupError("'prune' is not implemented yet"));
}
