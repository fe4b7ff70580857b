/** The TLS options of the tool's own connection, per sslmode, and which errors are retried. */
import { deepStrictEqual as assertEquals, ok, rejects, throws } from "node:assert/strict";
import { isTransient, openDb, sslOption } from "../../../lib/pg/connect.ts";
import { parseDbUrl } from "../../../lib/pg/url.ts";
import { BackupError } from "../../../lib/base/errors.ts";

const url = (q = "", host = "aws-0-eu.pooler.supabase.com") =>
  parseDbUrl(`postgresql://postgres.abc:pw@${host}:5432/postgres${q}`, "--db-url", {});

Deno.test("sslOption: libpq's modes", () => {
  assertEquals(sslOption(url()), "prefer");
  assertEquals(sslOption(url("?sslmode=disable")), false);
  assertEquals(sslOption(url("?sslmode=allow"), "1.2.3.4"), "prefer");
  assertEquals(sslOption(url("?sslmode=require")), { rejectUnauthorized: false });
  assertEquals(sslOption(url("?sslmode=require"), "1.2.3.4"), {
    rejectUnauthorized: false,
    servername: "aws-0-eu.pooler.supabase.com",
  });
  assertEquals(sslOption(url("?sslmode=verify-full")), { rejectUnauthorized: true });
  // an IP-literal host is never a TLS server name
  assertEquals(sslOption(url("?sslmode=require", "10.0.0.5"), "10.0.0.5"), { rejectUnauthorized: false });
});

Deno.test("sslOption: verify-ca checks the chain against sslrootcert, not the host name", async () => {
  const dir = await Deno.makeTempDir();
  const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  await Deno.writeTextFile(`${dir}/ca.crt`, pem);
  const opt = sslOption(url(`?sslmode=verify-ca&sslrootcert=${dir}/ca.crt`)) as Record<string, unknown>;
  assertEquals(opt.rejectUnauthorized, true);
  assertEquals(opt.ca, pem);
  assertEquals((opt.checkServerIdentity as () => unknown)(), undefined);
  const full = sslOption(url(`?sslmode=verify-full&sslrootcert=${dir}/ca.crt`)) as Record<string, unknown>;
  assertEquals(full.ca, pem);
  assertEquals(full.checkServerIdentity, undefined);
  throws(
    () => sslOption(url(`?sslmode=verify-full&sslrootcert=${dir}/absent.crt`)),
    (e: unknown) =>
      e instanceof BackupError && e.exitCode === 2 &&
      /sslrootcert '.*absent\.crt' cannot be read/.test(e.message),
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("isTransient: resets, refusals and timeouts yes; authentication and permissions no", () => {
  ok(isTransient({ code: "ECONNREFUSED" }));
  ok(isTransient({ code: "CONNECT_TIMEOUT" }));
  ok(isTransient({ code: "57P03" }));
  ok(isTransient({ message: "read ECONNRESET: connection reset by peer" }));
  ok(!isTransient({ code: "28P01", message: "password authentication failed for user x" }));
  ok(!isTransient({ code: "42501", message: "permission denied for table t" }));
  ok(!isTransient({ code: "3D000", message: 'database "x" does not exist' }));
});

Deno.test("openDb prints a URL's warning once per run, before connecting", async () => {
  const u = { ...parseDbUrl("postgresql://u:pw@127.0.0.1:9/db", "--db-url"), warning: "warning: careful" };
  const lines: string[] = [];
  for (let i = 0; i < 2; i++) {
    await rejects(openDb(u, { connectTimeout: 2, retries: 0, log: (l) => lines.push(l) }));
  }
  assertEquals(lines.filter((l) => l === "warning: careful").length, 1, lines.join("\n"));
});
