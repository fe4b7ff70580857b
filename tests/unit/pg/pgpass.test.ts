/** The password file lookup, as libpq does it: first match wins, `*` wildcards, `\:` escapes. */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { pgpassLookup, withPgpass } from "../../../lib/pg/pgpass.ts";
import { parseDbUrl } from "../../../lib/pg/url.ts";
import { redact } from "../../../lib/base/redact.ts";

const U = { host: "aws-0-eu.pooler.supabase.com", port: 5432, database: "postgres", user: "postgres.abc" };

Deno.test("pgpassLookup: exact fields, wildcards, first match, escapes, comments", () => {
  const file = [
    "# comment",
    "",
    "otherhost:5432:postgres:postgres.abc:nope",
    "aws-0-eu.pooler.supabase.com:6543:*:*:wrong-port",
    "aws-0-eu.pooler.supabase.com:5432:*:postgres.abc:pa\\:ss\\\\word:with:colons",
    "*:*:*:*:fallback",
  ].join("\n");
  assertEquals(pgpassLookup(file, U), "pa:ss\\word:with:colons");
  assertEquals(pgpassLookup(file, { ...U, user: "someone" }), "fallback");
  assertEquals(pgpassLookup("short:line\r\n", U), undefined);
  assertEquals(pgpassLookup("*:*:*:*:crlf\r\n", U), "crlf");
});

Deno.test("withPgpass fills a missing password from $PGPASSFILE (0600 only) and masks it", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/pgpass`;
  await Deno.writeTextFile(file, "*:*:*:postgres.abc:s3cret-from-file\n", { mode: 0o600 });
  await Deno.chmod(file, 0o600);
  const env = { PGPASSFILE: file };
  const u = parseDbUrl(
    "postgresql://postgres.abc@aws-0-eu.pooler.supabase.com:5432/postgres",
    "--db-url",
    {},
  );
  const got = await withPgpass(u, env);
  assertEquals(got.password, "s3cret-from-file");
  assertEquals(redact("x s3cret-from-file y").includes("s3cret"), false);
  // A password in the URL wins; the file is not read.
  const given = parseDbUrl("postgresql://postgres.abc:given@h:5432/postgres", "--db-url", {});
  assertEquals((await withPgpass(given, env)).password, "given");
  // Readable by others: ignored with a warning, as libpq does.
  await Deno.chmod(file, 0o644);
  const warnings: string[] = [];
  assertEquals((await withPgpass(u, env, (l) => warnings.push(l))).password, undefined);
  assertEquals(warnings.length, 1);
  // No file: unchanged.
  assertEquals((await withPgpass(u, { PGPASSFILE: `${dir}/absent` })).password, undefined);
  await Deno.remove(dir, { recursive: true });
});
