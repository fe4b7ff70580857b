/**
 * SIGINT/SIGTERM handling. The first signal aborts {@link abortSignal}: running child processes
 * are killed, `finally` blocks remove temporary files, and `backup.ts` exits 130 (SIGINT) or 143
 * (SIGTERM). Cleanups registered with {@link onCleanup} also run if the work does not unwind in time.
 * @module
 */
import { BackupError, ExitCode } from "./errors.ts";

const controller = new AbortController();
let stoppedBy: BackupError | undefined;
const cleanups = new Set<() => void>();
let note = "nothing was changed";

/**
 * Sets what the interruption message says about the state left behind (default: "nothing was
 * changed", true for backups, which only write a staging directory until the end).
 */
export function setInterruptNote(text: string): void {
  note = text;
}

/** Aborted when the user interrupts the tool; pass it to every child process and long loop. */
export const abortSignal: AbortSignal = controller.signal;

/** The interruption, once a signal arrived. */
export function interruption(): BackupError | undefined {
  return stoppedBy;
}

/** Throws the interruption error if a signal arrived. */
export function throwIfInterrupted(): void {
  if (stoppedBy) throw stoppedBy;
}

/**
 * Registers a synchronous cleanup (e.g. removing a temp dir) that runs if the process must exit
 * before the work unwinds. Returns a function that unregisters it.
 */
export function onCleanup(fn: () => void): () => void {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

function runCleanups(): void {
  for (const fn of cleanups) {
    try {
      fn();
    } catch {
      // best effort on the way out
    }
  }
  cleanups.clear();
}

/** Installs the signal handlers (called once by `backup.ts`). */
export function onInterrupt(graceMs = 15_000): void {
  const handle = (name: "SIGINT" | "SIGTERM") => () => {
    if (stoppedBy) return;
    const exitCode = name === "SIGINT" ? ExitCode.interrupted : ExitCode.terminated;
    stoppedBy = new BackupError(`interrupted by ${name}; ${note}`, { exitCode });
    controller.abort(stoppedBy);
    const timer = setTimeout(() => {
      runCleanups();
      console.error(`error: interrupted by ${name}`);
      Deno.exit(exitCode);
    }, graceMs);
    Deno.unrefTimer(timer);
  };
  Deno.addSignalListener("SIGINT", handle("SIGINT"));
  Deno.addSignalListener("SIGTERM", handle("SIGTERM"));
}
