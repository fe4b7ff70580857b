/**
 * A spawned program's output, collected while its stdin is fed: a program with much output would
 * otherwise fill its stdout pipe while the test still waits to finish writing, and both would stall.
 * @module
 */

/** Writes `input` (if any) to `child`'s stdin while its output is read; returns the output. */
export async function outputFed(child: Deno.ChildProcess, input?: string): Promise<Deno.CommandOutput> {
  const fed = input === undefined ? Promise.resolve() : (async () => {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(input));
    await w.close();
  })();
  const [out] = await Promise.all([child.output(), fed]);
  return out;
}
