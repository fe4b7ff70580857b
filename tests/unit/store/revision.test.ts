import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { backupRootIn, checkBackupPath } from "../../../lib/store/revision.ts";

Deno.test("backupRootIn: the root above latest/ or archive/<name>, nothing for other folders", () => {
  assertEquals(backupRootIn("backups/latest"), "backups");
  assertEquals(backupRootIn("backups/prod/archive/2026-12-01_093000"), "backups/prod");
  assertEquals(backupRootIn("latest"), ".");
  assertEquals(backupRootIn("archive/x"), ".");
  assertEquals(backupRootIn("backups/some-copy"), undefined);
  assertEquals(backupRootIn("archive"), undefined);
});

Deno.test("checkBackupPath: paths that leave the backup are refused", () => {
  assertEquals(checkBackupPath("public/t/data.sql", "x"), "public/t/data.sql");
  for (const bad of ["", "/etc/passwd", "../x", "a/../../x", "a//b", "a\\b", "a\0b", "./a"]) {
    let threw = false;
    try {
      checkBackupPath(bad, "x");
    } catch {
      threw = true;
    }
    assertEquals(threw, true, JSON.stringify(bad));
  }
});
