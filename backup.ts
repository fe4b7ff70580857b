#!/usr/bin/env -S deno run --allow-all
/**
 * supabase-backup: the entry script. Parses the command line, runs one command, and turns a
 * {@link BackupError} into `error: …` / `hint: …` and an exit code. Nothing else exits the process.
 * Errors are printed through lib/base/output.ts: masked, control characters escaped, one line each.
 * @module
 */
import { type Command, helpText, parseCli, type ParsedArgs } from "./lib/cli/flags.ts";
import { BackupError, ExitCode } from "./lib/base/errors.ts";
import { stderrLine, stderrText } from "./lib/base/output.ts";
import { interruption, onInterrupt } from "./lib/base/interrupt.ts";

type Runner = (args: ParsedArgs) => Promise<number>;

const RUNNERS: Record<Command, () => Promise<Runner>> = {
  backup: async () => (await import("./cmd/backup.ts")).run,
  restore: async () => (await import("./cmd/restore.ts")).run,
  verify: async () => (await import("./cmd/verify.ts")).run,
  diff: async () => (await import("./cmd/diff.ts")).run,
  history: async () => (await import("./cmd/history.ts")).run,
  prune: async () => (await import("./cmd/prune.ts")).run,
  list: async () => (await import("./cmd/list.ts")).run,
};

/** Runs the CLI with `argv` and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    if (argv.length === 1 && (argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help")) {
      console.log(helpText());
      return ExitCode.ok;
    }
    if (argv.length === 1 && argv[0] === "--version") {
      const { TOOL_VERSION } = await import("./lib/base/version.ts");
      console.log(`supabase-backup ${TOOL_VERSION}`);
      return ExitCode.ok;
    }
    const args = parseCli(argv, Deno.env.toObject());
    if (args.help) {
      console.log(helpText(args.command));
      return ExitCode.ok;
    }
    const run = await RUNNERS[args.command]();
    return await run(args);
  } catch (e) {
    const stopped = interruption();
    if (stopped) {
      stderrLine(`error: ${stopped.message}`);
      return stopped.exitCode;
    }
    if (e instanceof BackupError) {
      stderrLine(`error: ${e.message}`);
      if (e.hint) stderrLine(`hint: ${e.hint}`);
      if (Deno.env.get("BACKUP_DEBUG") && e.cause) stderrText(String(e.cause));
      return e.exitCode;
    }
    const message = e instanceof Error ? e.message : String(e);
    stderrLine(`error: unexpected failure: ${message.split("\n")[0]}`);
    stderrLine("hint: run again with BACKUP_DEBUG=1 for details, and report it if it persists");
    if (Deno.env.get("BACKUP_DEBUG")) stderrText(e instanceof Error ? e.stack ?? message : message);
    return ExitCode.failed;
  }
}

if (import.meta.main) {
  onInterrupt();
  Deno.exit(await main(Deno.args));
}
