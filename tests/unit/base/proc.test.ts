/** The process runner with real programs (sh, cat): exit codes, signals, stdin and stdout streams. */
import { deepStrictEqual as assertEquals, ok, rejects } from "node:assert/strict";
import { BackupError } from "../../../lib/base/errors.ts";
import {
  errorLine,
  mustRun,
  type Program,
  programFailure,
  runProgram,
  streamProgram,
} from "../../../lib/base/proc.ts";
import { registerSecret } from "../../../lib/base/redact.ts";

const sh = (script: string, extra: Partial<Program> = {}): Program => ({
  path: "/bin/sh",
  args: ["-c", script],
  what: "a test script",
  hint: (end) => (end.signal ? `crashed by ${end.signal}` : "fix the script"),
  ...extra,
});

const failsWith = (p: Promise<unknown>, message: string | RegExp, hint?: string) =>
  rejects(p, (e: unknown) => {
    ok(e instanceof BackupError, String(e));
    if (typeof message === "string") assertEquals(e.message, message);
    else ok(message.test(e.message), e.message);
    if (hint !== undefined) assertEquals(e.hint, hint);
    return true;
  });

Deno.test("a program killed by a signal is a failure naming the signal, never exit 0", async () => {
  await failsWith(
    runProgram(sh("kill -9 $$")),
    "a test script: sh was killed by SIGKILL",
    "crashed by SIGKILL",
  );
  await failsWith(mustRun(sh("kill -SEGV $$")), "a test script: sh was killed by SIGSEGV");
});

Deno.test("exit codes: runProgram returns them, mustRun throws with the first error line, masked", async () => {
  registerSecret("s3cr3t-pw");
  const r = await runProgram(sh("echo out; echo 'warn: s3cr3t-pw' >&2; exit 3"));
  assertEquals([r.code, r.signal, r.stdout, r.stderr], [3, null, "out\n", "warn: s3cr3t-pw\n"]);
  await failsWith(
    mustRun(sh("echo 'sh: note' >&2; echo 'psql:<stdin>:4: ERROR:  bad s3cr3t-pw' >&2; exit 1")),
    "a test script: sh failed (exit 1): ERROR:  bad ****",
    "fix the script",
  );
  // `what` naming the program already: not named twice.
  await failsWith(mustRun(sh("exit 2", { what: "sh of something" })), "sh of something failed (exit 2)");
});

Deno.test("a program that cannot start: the default message and hint, or the caller's", async () => {
  await failsWith(
    runProgram({ ...sh(""), path: "/nonexistent/psql", startHint: "install psql" }),
    /^a test script could not start \/nonexistent\/psql: /,
    "install psql",
  );
  await failsWith(
    runProgram({ ...sh(""), path: "/nonexistent/git", notStarted: () => new BackupError("no git") }),
    "no git",
  );
});

Deno.test("stdin from bytes and from a stream; stdout dropped", async () => {
  const bytes = await runProgram({
    path: "cat",
    args: [],
    what: "cat",
    hint: () => "",
    stdin: new TextEncoder().encode("abc"),
  });
  assertEquals(bytes.stdout, "abc");
  const stream = ReadableStream.from(["x", "y", "z"]).pipeThrough(new TextEncoderStream());
  assertEquals(
    (await runProgram({ path: "cat", args: [], what: "cat", hint: () => "", stdin: stream })).stdout,
    "xyz",
  );
  const quiet = await runProgram({ ...sh("echo hidden; echo shown >&2"), stdout: "null" });
  assertEquals([quiet.stdout, quiet.stderr], ["", "shown\n"]);
});

Deno.test("a stdin stream that fails kills the program before its input ends, and its error is thrown", async () => {
  const marker = await Deno.makeTempFile();
  try {
    let n = 0;
    const input = new ReadableStream<Uint8Array>({
      pull(c) {
        if (n++ < 3) c.enqueue(new TextEncoder().encode("line\n"));
        else c.error(new Error("decoding failed"));
      },
    });
    // The script only writes the marker after it read its whole input (EOF).
    await rejects(
      runProgram({ ...sh(`cat >/dev/null && echo done > ${marker}`), stdin: input }),
      /decoding failed/,
    );
    assertEquals(await Deno.readTextFile(marker), "");
  } finally {
    await Deno.remove(marker);
  }
});

Deno.test("streamProgram: the consumer sees an error, not an end, when the program fails", async () => {
  const text = await streamProgram(sh("printf 'a\\nb\\n'"), (out) => new Response(out).text());
  assertEquals(text, "a\nb\n");
  let consumed = "";
  await failsWith(
    streamProgram(sh("printf 'partial'; kill -9 $$"), async (out) => {
      const reader = out.getReader();
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
        consumed += new TextDecoder().decode(r.value);
      }
    }),
    "a test script: sh was killed by SIGKILL",
  );
  assertEquals(consumed, "partial");
  await failsWith(
    streamProgram(sh("echo 'sh: error: broken' >&2; exit 1"), (out) => new Response(out).text()),
    "a test script: sh failed (exit 1): broken",
  );
});

Deno.test("programFailure and errorLine (pure)", () => {
  assertEquals(
    errorLine(["pg_dump: error: aborting because of server version mismatch"]),
    "aborting because of server version mismatch",
  );
  assertEquals(
    errorLine(["notice", "pg_restore: error: could not execute query: ERROR:  x"]),
    "could not execute query: ERROR:  x",
  );
  assertEquals(errorLine(["just text"]), "just text");
  assertEquals(errorLine([]), "");
  const e = programFailure(
    { ...sh(""), what: "git push", path: "git", detail: (l) => l.slice(-3).join(" | ") || "no output" },
    { code: 128, signal: null, stderr: "a\n\nb\nc\nd\n" },
  );
  assertEquals([e.message, e.hint, e.cause], [
    "git push failed (exit 128): b | c | d",
    "fix the script",
    "a\nb\nc\nd",
  ]);
});
