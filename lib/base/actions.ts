/**
 * GitHub Actions integration: detecting a workflow run, masking values in its log, writing the job
 * summary, and the `BACKUP_ENABLED` switch.
 *
 * Everything here takes the environment as a plain map so it can be tested without Actions; the only
 * I/O is printing a workflow command and appending to the step-summary file.
 * @module
 */
import { stderrLine } from "./output.ts";

/** An environment map, as from `Deno.env.toObject()`. */
export type Env = Record<string, string | undefined>;

/** True when running inside a GitHub Actions job (`GITHUB_ACTIONS=true`). */
export function inActions(env: Env): boolean {
  return env.GITHUB_ACTIONS === "true";
}

/**
 * The `::add-mask::` workflow command for `value`, or undefined when there is nothing to mask
 * (empty value). Multi-line values are masked line by line, as the runner masks one line per command.
 */
export function maskCommands(value: string): string[] {
  return value.split(/\r?\n/).filter((l) => l.trim() !== "").map((l) => `::add-mask::${l}`);
}

/**
 * Asks the Actions runner to mask `value` in the job log, by printing `::add-mask::value` on stdout.
 * Does nothing outside Actions (the command would be noise in a terminal) or for an empty value.
 */
export function addMask(value: string | undefined, env: Env = Deno.env.toObject()): void {
  if (!value || !inActions(env)) return;
  for (const line of maskCommands(value)) console.log(line);
}

/**
 * Appends `markdown` (plus a blank line) to the file named by `$GITHUB_STEP_SUMMARY`, which Actions
 * shows on the run's page. Does nothing when the variable is unset. Never throws: a summary that
 * cannot be written is reported on stderr as a warning, because it must not fail the backup.
 */
export async function appendStepSummary(markdown: string, env: Env = Deno.env.toObject()): Promise<void> {
  const path = env.GITHUB_STEP_SUMMARY;
  if (!path) return;
  const text = markdown.endsWith("\n") ? `${markdown}\n` : `${markdown}\n\n`;
  try {
    await Deno.writeTextFile(path, text, { append: true, create: true });
  } catch (e) {
    stderrLine(`warning: cannot write the job summary to ${path}: ${(e as Error).message.split("\n")[0]}`);
  }
}

/**
 * The `BACKUP_ENABLED` switch: false only when the variable is set (non-empty) and is not `true`
 * (case-insensitive, surrounding spaces ignored). Unset or empty means enabled, so running the tool
 * by hand needs no variable.
 */
export function backupEnabled(env: Env): boolean {
  const raw = env.BACKUP_ENABLED;
  if (raw === undefined || raw.trim() === "") return true;
  return raw.trim().toLowerCase() === "true";
}
