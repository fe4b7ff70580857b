/** How the exit codes of several environments combine into the run's exit code. */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { ExitCode, worseExit } from "../../../lib/base/errors.ts";

Deno.test("worseExit: interrupted > failed/usage > partial > ok; the first of equals stays", () => {
  const { ok, partial, failed, usage, interrupted, terminated } = ExitCode;
  const fold = (codes: number[]) => codes.reduce(worseExit, ok);
  assertEquals(fold([ok, ok]), ok);
  assertEquals(fold([ok, partial]), partial);
  assertEquals(fold([failed, partial]), failed); // a later partial must not hide a failure
  assertEquals(fold([partial, failed]), failed);
  assertEquals(fold([usage, failed]), usage);
  assertEquals(fold([failed, usage]), failed);
  assertEquals(fold([partial, interrupted]), interrupted);
  assertEquals(fold([terminated, failed]), terminated);
});
