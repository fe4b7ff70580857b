import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { COMMANDS, helpText, intValue, parseCli } from "../../../lib/cli/flags.ts";
import { assertGolden } from "../../support/golden.ts";

Deno.test("help text of the tool and of every command (golden)", async () => {
  await assertGolden("help/main.txt", helpText());
  for (const c of COMMANDS) await assertGolden(`help/${c}.txt`, helpText(c));
});

Deno.test("backup is the default command; flags fall back to their environment variable", () => {
  const a = parseCli(["--jobs", "3"], {
    SUPABASE_DB_URL: "postgresql://x",
    BACKUP_DIR: "/b",
    BACKUP_COMMIT: "true",
  });
  assertEquals(a.command, "backup");
  assertEquals(a.values.jobs, "3");
  assertEquals(a.origin.jobs, "--jobs");
  assertEquals(a.values["db-url"], "postgresql://x");
  assertEquals(a.origin["db-url"], "$SUPABASE_DB_URL");
  assertEquals(a.values.out, "/b");
  assertEquals(a.values.commit, true);
  // a flag beats its variable
  assertEquals(parseCli(["list", "--out", "/flag"], { BACKUP_DIR: "/env" }).values.out, "/flag");
});

Deno.test("unknown commands and flags, and missing values, are usage errors", () => {
  const usage = (re: RegExp) => (e: Error & { exitCode?: number; hint?: string }) =>
    re.test(e.message) && e.exitCode === 2 && !!e.hint;
  throws(() => parseCli(["bakup"], {}), usage(/unknown command 'bakup'/));
  throws(() => parseCli(["backup", "--nope"], {}), usage(/unknown flag '--nope' for 'backup'/));
  throws(() => parseCli(["list", "--db-url", "x"], {}), usage(/unknown flag '--db-url' for 'list'/));
  throws(() => parseCli(["backup", "--jobs"], {}), usage(/--jobs' needs a value/));
  throws(() => parseCli(["backup", "stray"], {}), usage(/unknown command 'stray'|unexpected argument/));
});

Deno.test("intValue names the flag or variable and the range", () => {
  const a = parseCli(["--jobs", "0"], { BACKUP_RETRIES: "x" });
  throws(() => intValue(a, "jobs", 4, 1, 16), /--jobs must be a whole number from 1 to 16, got '0'/);
  throws(() => intValue(a, "retries", 4, 0, 20), /\$BACKUP_RETRIES must be a whole number/);
  assertEquals(intValue(parseCli([], {}), "jobs", 4, 1, 16), 4);
});
