import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { libpqEnv, maskUrl, parseDbUrl, transactionPoolerHint } from "../../../lib/pg/url.ts";
import { redact } from "../../../lib/base/redact.ts";

const PW = "p@ss:w/rd#50%?x";
const ENC = encodeURIComponent(PW);

Deno.test("a percent-encoded hostile password is decoded, registered and masked", () => {
  const u = parseDbUrl(
    `postgresql://postgres.abc:${ENC}@aws-0-eu-west-1.pooler.supabase.com:5432/postgres?sslmode=require`,
    "--db-url",
  );
  assertEquals(u.password, PW);
  assertEquals(u.user, "postgres.abc");
  assertEquals(u.sslmode, "require");
  assertEquals(
    u.masked,
    "postgresql://postgres.abc:****@aws-0-eu-west-1.pooler.supabase.com:5432/postgres?sslmode=require",
  );
  assertEquals(redact(`x ${PW} y ${ENC} z`), "x **** y **** z");
  const env = libpqEnv(u, { hostaddr: "1.2.3.4" });
  assertEquals(env.PGPASSWORD, PW);
  assertEquals(env.PGHOSTADDR, "1.2.3.4");
  assertEquals(env.PGHOST, "aws-0-eu-west-1.pooler.supabase.com");
  assertEquals(env.PGSSLMODE, "require");
});

Deno.test("bad URLs are usage errors naming the origin", () => {
  const cases: [string, RegExp][] = [
    ["", /--db-url is empty/],
    ["   ", /--db-url is empty/],
    ["mysql://u:p@h/db", /scheme 'mysql'/],
    ["just-a-host", /not a URL/],
    ["postgresql://u:p@h:99999/db", /port|not a valid URL/],
    ["postgresql://u:p@h:0/db", /invalid port/],
    ["postgresql://u:p@h/db?sslmode=maybe", /invalid sslmode 'maybe'/],
    ["postgresql://u:p%ZZ@h/db", /percent-encoded|not a valid URL/],
  ];
  for (const [url, re] of cases) {
    throws(
      () => parseDbUrl(url, "--db-url"),
      (e: Error & { exitCode?: number }) => re.test(e.message) && e.exitCode === 2,
      url,
    );
  }
});

Deno.test("PG* variables fill what the URL leaves out", () => {
  const u = parseDbUrl("postgresql://db.example.com", "$SUPABASE_DB_URL", {
    PGPASSWORD: "from-env-pw",
    PGUSER: "me",
    PGPORT: "6000",
  });
  assertEquals([u.user, u.port, u.password, u.database], ["me", 6000, "from-env-pw", "postgres"]);
  assertEquals(redact("from-env-pw"), "****");
});

Deno.test("the transaction pooler is recognised", () => {
  const u = parseDbUrl("postgresql://u:pw123@aws-0-x.pooler.supabase.com:6543/postgres", "--db-url");
  assertEquals(typeof transactionPoolerHint(u), "string");
  assertEquals(
    transactionPoolerHint(parseDbUrl("postgresql://u:pw123@aws-0-x.pooler.supabase.com:5432/postgres", "x")),
    undefined,
  );
  assertEquals(maskUrl("postgres://a:b@c/d"), "postgres://a:****@c/d");
});

Deno.test("a bad % anywhere in a URL is a usage error naming the origin and the part (item 17)", () => {
  const cases: [string, RegExp][] = [
    ["postgresql://u:pw@h:5432/postgres%", /\$SUPABASE_DB_URL has a badly percent-encoded database name/],
    ["postgresql://u:pw@h:5432/db%zz", /badly percent-encoded database name/],
    ["postgresql://u%:pw@h/db", /badly percent-encoded user/],
    ["postgresql://u:pw%@h/db", /badly percent-encoded password/],
    ["postgresql://u:pw@h/db?application_name=a%", /badly percent-encoded value of \?application_name=/],
    ["postgresql://u:pw@h/db?a%=1", /badly percent-encoded query parameter/],
  ];
  for (const [url, re] of cases) {
    throws(
      () => parseDbUrl(url, "$SUPABASE_DB_URL"),
      (e: Error & { exitCode?: number; hint?: string }) =>
        re.test(e.message) && e.exitCode === 2 && /%25/.test(e.hint ?? "") && !e.message.includes("pw"),
      url,
    );
  }
});

Deno.test("?password= is honoured, registered and masked; not together with a password before the host", () => {
  const secret = "q+Pw/&#x%";
  const u = parseDbUrl(
    `postgresql://postgres@h:5432/postgres?sslmode=require&password=${encodeURIComponent(secret)}`,
    "--db-url",
  );
  assertEquals(u.password, secret);
  assertEquals(u.passwordInUrl, true);
  assertEquals(u.params, {});
  assertEquals(libpqEnv(u).PGPASSWORD, secret);
  assertEquals(u.masked, "postgresql://postgres@h:5432/postgres?sslmode=require&password=****");
  assertEquals(redact(`a ${secret} b ${encodeURIComponent(secret)}`), "a **** b ****");
  // a plus stays a plus, as in libpq
  assertEquals(parseDbUrl("postgresql://u@h/db?password=a+b", "x").password, "a+b");
  throws(
    () => parseDbUrl("postgresql://u:one1@h/db?password=two2", "--target-url"),
    (e: Error & { exitCode?: number }) =>
      /--target-url gives the password twice/.test(e.message) && e.exitCode === 2 &&
      !/one1|two2/.test(e.message),
  );
  assertEquals(parseDbUrl("postgresql://u@h/db", "x", { PGPASSWORD: "env-pw" }).passwordInUrl, false);
  assertEquals(maskUrl("postgres://a@c/d?x=1&PASSWORD=zz"), "postgres://a@c/d?x=1&PASSWORD=****");
});
