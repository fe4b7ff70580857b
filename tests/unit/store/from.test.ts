/** Naming backups (pure): which references name a backup in a git commit. */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { isRevisionRef } from "../../../lib/store/from.ts";

Deno.test("isRevisionRef: <rev>:<path> has a colon after at least one character", () => {
  const yes = ["HEAD~3:backups/latest", "HEAD:", "abc1234:backups/prod/latest", "main:./b"];
  const no = [
    "latest",
    "archive/2026-12-01T02-00-07Z--a--b--0000000",
    ":backups/latest",
    "./some/folder",
    "",
  ];
  assertEquals(yes.map(isRevisionRef), yes.map(() => true));
  assertEquals(no.map(isRevisionRef), no.map(() => false));
});
