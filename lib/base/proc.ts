/**
 * The one process runner: every program the tool starts (pg_dump, pg_dumpall, pg_restore, psql,
 * git) runs through it. Arguments are arrays, stdin comes from bytes or a stream, stdout is kept,
 * dropped or streamed, stderr is kept; a run stops when its signal (by default the interrupt
 * signal) aborts. A program killed by a signal is a failure: this is why it uses `Deno.Command`,
 * since dax reports a child killed by a signal as exit 0.
 *
 * One formatter, {@link programFailure}, turns a failed run into a {@link BackupError} that says
 * what was being done, names the program and how it ended (exit code or signal), quotes its stderr
 * (masked) and gives a hint. What the hints say about a program lives with the program's callers
 * (lib/pg/run.ts for the PostgreSQL tools, lib/store/git.ts for git).
 * @module
 */
import { basename } from "node:path";
import { BackupError } from "./errors.ts";
import { abortSignal, interruption } from "./interrupt.ts";
import { redact } from "./redact.ts";

/** How a run ended. */
export interface Ended {
  /** The exit code (meaningless when `signal` is set). */
  code: number;
  /** The signal that killed the program, or null. */
  signal: Deno.Signal | null;
  /** Its whole stderr, unmasked. */
  stderr: string;
}

/** A finished run whose stdout was kept. */
export interface Finished extends Ended {
  /** Its stdout as text ("" unless `stdout` was "piped"). */
  stdout: string;
}

/** How to run one program. */
export interface Program {
  /** An absolute path, or a name looked up on PATH (git). */
  path: string;
  args: string[];
  /**
   * Added to the tool's own environment, which a child inherits whole (Deno.Command does) unless
   * `clearEnv` is set.
   */
  env?: Record<string, string>;
  /** Start the program with `env` only, not the tool's environment (git: no database URL). */
  clearEnv?: boolean;
  /** What the run is doing, for messages: "pg_dump of schema public", "git push". */
  what: string;
  /** Kills the program (SIGTERM) when aborted; default: the interrupt signal. */
  signal?: AbortSignal;
  /**
   * Standard input. A stream is copied to the program; when reading it fails, the program is
   * killed before its stdin is closed (so psql never commits a cut-short input), and that error
   * is thrown.
   */
  stdin?: Uint8Array | ReadableStream<Uint8Array>;
  /** Keep stdout as text ("piped", the default) or drop it ("null"). Not used by {@link streamProgram}. */
  stdout?: "piped" | "null";
  /** The hint of a failed run, chosen from how it ended. */
  hint: (end: Ended) => string;
  /** The hint when the program cannot be started. */
  startHint?: string;
  /** The error when the program cannot be started, instead of the default one. */
  notStarted?: (e: Error) => BackupError;
  /** Masks program output before it is shown; default {@link redact}. */
  mask?: (text: string) => string;
  /**
   * What the message quotes from the masked last stderr lines; default: the first error line
   * (`ERROR:`, `FATAL:`, `error:`, `fatal:`) without the program's prefix, else the first line.
   */
  detail?: (lines: string[]) => string;
}

/** Lines of stderr a failure keeps. */
const TAIL = 8;

/** The non-empty lines of `text`, masked, each trimmed at the end. */
export function outputLines(text: string, mask: (t: string) => string = redact): string[] {
  return mask(text).split("\n").map((l) => l.trimEnd()).filter((l) => l.trim() !== "");
}

const ERROR_LINE = /\b(?:ERROR|FATAL|PANIC):|\b(?:error|fatal):/;

/** The default {@link Program.detail}: the first error line, without the `prog:` prefix. Pure. */
export function errorLine(lines: string[]): string {
  const line = lines.find((l) => ERROR_LINE.test(l)) ?? lines[0] ?? "";
  return line.replace(/^\S+: (?:error: )?/, "");
}

/** The hint for a program killed by `signal` that holds whatever the program: SIGKILL's usual sender. */
export function killedHint(signal: Deno.Signal): string | undefined {
  if (signal !== "SIGKILL") return undefined;
  return "SIGKILL usually comes from the out-of-memory (OOM) killer: check `dmesg` or the runner's memory, " +
    "lower --jobs, or run on a machine with more memory; then run again";
}

/**
 * The one failure formatter: `<what> failed (exit <code>): <detail>`, or `<what> was killed by
 * <signal>`, naming the program (`<what>: <program> failed …` when `what` does not start with it),
 * with the last stderr lines (masked) as the cause and the program's hint. While the tool is being
 * interrupted it returns the interruption instead. Pure apart from that.
 */
export function programFailure(p: Program, end: Ended): BackupError {
  const stopped = interruption();
  if (stopped) return stopped;
  const name = basename(p.path);
  const subject = p.what.split(" ")[0] === name ? p.what : `${p.what}: ${name}`;
  const how = end.signal ? `was killed by ${end.signal}` : `failed (exit ${end.code})`;
  const lines = outputLines(end.stderr, p.mask).slice(-TAIL);
  const detail = (p.detail ?? errorLine)(lines);
  return new BackupError(`${subject} ${how}${detail ? `: ${detail}` : ""}`, {
    hint: p.hint(end),
    cause: lines.join("\n"),
  });
}

/** The most one read of a child's pipe takes (a pipe holds 64 KiB). */
const READ_SIZE = 1 << 16;

/**
 * A child's pipe as a stream of chunks of the size each read gave: read into one buffer, reused,
 * and each read copied out. Deno's own stream of a pipe gives every read a new 64 KiB buffer however
 * little it holds, and a program that writes through stdio (8 KiB at a time: pg_restore, pg_dump)
 * read as fast as it writes left eight times its output in buffers to collect: 17 MB of
 * `pg_restore -f -` made 136 MB of them (2,100 reads).
 */
export function pipeChunks(pipe: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const reader = pipe.getReader({ mode: "byob" });
  let buf = new ArrayBuffer(READ_SIZE);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read(new Uint8Array(buf));
      if (value) buf = value.buffer;
      if (done) controller.close();
      else controller.enqueue(value.slice());
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}

function spawn(p: Program, stdout: "piped" | "null"): Deno.ChildProcess {
  try {
    return new Deno.Command(p.path, {
      args: p.args,
      env: p.env,
      clearEnv: p.clearEnv,
      stdin: p.stdin ? "piped" : "null",
      stdout,
      stderr: "piped",
      signal: p.signal ?? abortSignal,
    }).spawn();
  } catch (e) {
    const stopped = interruption();
    if (stopped) throw stopped;
    const err = e instanceof Error ? e : new Error(String(e));
    if (p.notStarted) throw p.notStarted(err);
    const why = (p.mask ?? redact)(err.message.split("\n")[0].split(" (")[0]);
    throw new BackupError(`${p.what} could not start ${p.path}: ${why}`, {
      hint: p.startHint ?? `check that ${basename(p.path)} is installed and can be run`,
      cause: e,
    });
  }
}

/**
 * Copies `input` to the child's stdin. Resolves to the input's own error when reading it failed
 * (the child is then killed first); a child that stops reading early is not an error here (its
 * exit status tells).
 */
async function feed(
  child: Deno.ChildProcess,
  input: Uint8Array | ReadableStream<Uint8Array> | undefined,
): Promise<{ error: unknown } | undefined> {
  if (!input) return undefined;
  const writer = child.stdin.getWriter();
  if (input instanceof Uint8Array) {
    try {
      await writer.write(input);
      await writer.close();
    } catch {
      // the program ended before reading everything
    }
    return undefined;
  }
  const reader = input.getReader();
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await reader.read();
    } catch (error) {
      try {
        child.kill("SIGTERM");
      } catch {
        // already ended
      }
      writer.abort().catch(() => {});
      return { error };
    }
    if (chunk.done) break;
    try {
      await writer.write(chunk.value);
    } catch {
      await reader.cancel().catch(() => {});
      return undefined;
    }
  }
  await writer.close().catch(() => {});
  return undefined;
}

/**
 * Runs a program to its end and returns how it ended, whatever its exit code. Throws a
 * {@link BackupError} when it cannot be started or was killed by a signal (see
 * {@link programFailure}), and the input's error when reading `stdin` failed.
 */
export async function runProgram(p: Program): Promise<Finished> {
  const child = spawn(p, p.stdout ?? "piped");
  const stdout = p.stdout === "null" ? Promise.resolve("") : new Response(pipeChunks(child.stdout)).text();
  const stderr = new Response(pipeChunks(child.stderr)).text();
  const [fed, status, out, err] = await Promise.all([feed(child, p.stdin), child.status, stdout, stderr]);
  if (fed) throw fed.error;
  const end = { code: status.code, signal: status.signal, stderr: err, stdout: out };
  if (end.signal) throw programFailure(p, end);
  return end;
}

/** Runs a program like {@link runProgram}, and throws {@link programFailure} unless it exits 0. */
export async function mustRun(p: Program): Promise<Finished> {
  const end = await runProgram(p);
  if (end.code !== 0) throw programFailure(p, end);
  return end;
}

/**
 * Runs a program and hands its stdout to `consume`. The stream `consume` reads only ends once the
 * program has exited 0; when it failed, reading ends with {@link programFailure} instead, so a
 * consumer (psql) never takes a cut-short output for a complete one. Throws that failure even if
 * `consume` succeeded; when `consume` throws, the program is killed and its error is thrown.
 */
export async function streamProgram<T>(
  p: Program,
  consume: (out: ReadableStream<Uint8Array>) => Promise<T>,
): Promise<T> {
  const child = spawn(p, "piped");
  const stderr = new Response(pipeChunks(child.stderr)).text();
  const fed = feed(child, p.stdin);
  const ended = async (): Promise<Finished> => {
    const [status, err] = await Promise.all([child.status, stderr]);
    return { code: status.code, signal: status.signal, stderr: err, stdout: "" };
  };
  const checked = pipeChunks(child.stdout).pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      async flush() {
        const end = await ended();
        if (end.signal || end.code !== 0) throw programFailure(p, end);
      },
    }),
  );
  let result: T;
  try {
    result = await consume(checked);
  } catch (e) {
    try {
      child.kill();
    } catch {
      // already ended
    }
    await ended().catch(() => {});
    await fed;
    throw e;
  }
  const end = await ended();
  const input = await fed;
  if (input) throw input.error;
  if (end.signal || end.code !== 0) throw programFailure(p, end);
  return result;
}
