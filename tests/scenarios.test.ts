/**
 * The database shapes and connection failures of the original plan's checklist, with the real CLI:
 * an empty database, a fresh Supabase project with no tables of its own, a public-only database (any
 * PostgreSQL), a wrong password, a refused port, a server that accepts TCP but never answers
 * (connect timeout with bounded retries), and --ipv4.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { clientBinDir } from "../dev/pgenv.ts";
import type { Manifest } from "../lib/store/manifest.ts";
import { USER_SCOPE_EXCLUDED } from "../lib/backup/plan.ts";
import { type CliResult, runCli } from "./support/cli.ts";
import { sharedCluster } from "./support/cluster.ts";
import { loadFixture, tableFingerprints } from "./support/fixture.ts";

const TOOLS = { PG_BIN: clientBinDir() };

async function backupInto(
  url: string,
  extra: string[] = [],
): Promise<{ r: CliResult; root: string; m: Manifest }> {
  const root = await Deno.makeTempDir({ prefix: "sb-scenario-" });
  const r = await runCli(["backup", "--db-url", url, "--out", root, "--yes", ...extra], TOOLS);
  const m = JSON.parse(await Deno.readTextFile(`${root}/latest/manifest.json`).catch(() => "null"));
  return { r, root, m };
}

function tableNames(m: Manifest): string[] {
  return m.schemas.flatMap((s) => s.tables.map((t) => `${s.name}.${t.name}`)).sort();
}

Deno.test("an empty database (only the public schema) backs up: exit 0, no tables, and restores", async () => {
  const c = await sharedCluster(17);
  const db = await c.createDatabase();
  const { r, root, m } = await backupInto(c.url({ db }));
  assertEquals(r.code, 0, r.stderr);
  assertEquals(m.status, "ok");
  assertEquals(tableNames(m), []);
  assert(m.schemas.some((s) => s.name === "public"), JSON.stringify(m.schemas.map((s) => s.name)));
  assert(r.stdout.includes("tables        0 (0 rows)"), r.stdout);
  const target = await c.createDatabase();
  const rr = await runCli(["restore", "--out", root, "--target-url", c.url({ db: target })], TOOLS);
  assertEquals(rr.code, 0, rr.stderr);
  await Deno.remove(root, { recursive: true });
});

Deno.test("a new Supabase project with no tables of its own: managed schemas only, nothing in public", async () => {
  const c = await sharedCluster(15);
  const db = await c.createDatabase();
  const { url } = await loadFixture(c, db, { app: false });
  const full = await backupInto(url);
  assert(full.r.code === 0 || full.r.code === 3, full.r.stderr);
  assertEquals(full.m.status === "partial", full.r.code === 3);
  assertEquals(full.m.schemas.find((s) => s.name === "public")?.tables ?? [], []);
  assert(full.m.schemas.some((s) => s.name === "auth" && s.managed), "auth is backed up as managed");
  const user = await backupInto(url, ["--scope", "user"]);
  assertEquals(user.r.code, 0, user.r.stderr);
  // --scope user leaves out the managed schemas of the seed's "user schemas" list, nothing more
  assertEquals(user.m.schemas.map((s) => s.name).sort(), ["public", "supabase_migrations"]);
  assertEquals(user.m.schemas.find((s) => s.name === "public")?.tables, []);
  assert(!user.m.schemas.some((s) => USER_SCOPE_EXCLUDED.has(s.name)));
  for (const root of [full.root, user.root]) await Deno.remove(root, { recursive: true });
});

Deno.test("a public-only database on plain PostgreSQL: full and user scope give the same tables", async () => {
  const c = await sharedCluster(15);
  const db = await c.createDatabase();
  await c.sql(
    `create table public.customers (id serial primary key, name text not null);
     create table public.orders (id serial primary key, customer int references public.customers, total numeric);
     insert into public.customers (name) select 'c' || g from generate_series(1, 50) g;
     insert into public.orders (customer, total) select 1 + g % 50, g * 1.5 from generate_series(1, 200) g;`,
    { db },
  );
  const full = await backupInto(c.url({ db }));
  const user = await backupInto(c.url({ db }), ["--scope", "user"]);
  const dry = await runCli(["backup", "--db-url", c.url({ db }), "--dry-run", "--json"], TOOLS);
  assertEquals(dry.code, 0, dry.stderr);
  const plan = JSON.parse(dry.stdout); // one JSON document
  assertEquals(JSON.stringify(plan).includes("customers"), true);
  for (const { r, m } of [full, user]) {
    assertEquals(r.code, 0, r.stderr);
    assertEquals(m.schemas.map((s) => s.name), ["public"]);
    assertEquals(tableNames(m), ["public.customers", "public.orders"]);
    assertEquals(m.schemas[0].tables.map((t) => t.rows), [50, 200]);
  }
  const target = await c.createDatabase();
  const rr = await runCli(["restore", "--out", full.root, "--target-url", c.url({ db: target })], TOOLS);
  assertEquals(rr.code, 0, rr.stderr);
  assertEquals(
    await tableFingerprints(c, target, ["public.customers", "public.orders"]),
    await tableFingerprints(c, db, ["public.customers", "public.orders"]),
  );
  for (const root of [full.root, user.root]) await Deno.remove(root, { recursive: true });
});

Deno.test("a wrong password fails at once (not retried) with exit 1 and a hint", async () => {
  const c = await sharedCluster(17);
  const started = Date.now();
  const { r, root } = await backupInto(c.url({ password: "not-the-password" }), ["--retries", "4"]);
  assertEquals(r.code, 1, r.stderr);
  assert(/^error: password authentication failed for /m.test(r.stderr), r.stderr);
  assert(/^hint: check the password/m.test(r.stderr), r.stderr);
  assert(!r.stderr.includes("retry"), r.stderr);
  assert(Date.now() - started < 20_000);
  assertEquals([...Deno.readDirSync(root)].filter((e) => e.name === "latest"), []);
  await Deno.remove(root, { recursive: true });
});

Deno.test("a refused port is retried --retries times, then exit 1 naming the host", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const summary = await Deno.makeTempFile({ prefix: "sb-step-summary-" });
  const root = await Deno.makeTempDir({ prefix: "sb-scenario-" });
  const r = await runCli(
    [
      "backup",
      "--db-url",
      `postgresql://postgres:pw@127.0.0.1:${port}/postgres`,
      "--out",
      root,
      "--retries",
      "2",
    ],
    { ...TOOLS, GITHUB_STEP_SUMMARY: summary },
  );
  assertEquals(r.code, 1, r.stderr);
  // the GitHub step summary hears of the failure too
  const md = await Deno.readTextFile(summary);
  assert(md.includes("### Supabase backup: failed") && md.includes("| error | `cannot connect to"), md);
  await Deno.remove(summary);
  assertEquals(r.stderr.match(/retry \d\/2: connecting to 127\.0\.0\.1:\d+ failed/g)?.length, 2, r.stderr);
  assert(new RegExp(`^error: cannot connect to .*127\\.0\\.0\\.1:${port}`, "m").test(r.stderr), r.stderr);
  assert(/^hint: .*--connect-timeout/m.test(r.stderr), r.stderr);
  await Deno.remove(root, { recursive: true });
});

Deno.test("a server that accepts TCP but never answers: --connect-timeout bounds each attempt", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn); // never reads, never answers
  })();
  const port = (listener.addr as Deno.NetAddr).port;
  const started = Date.now();
  const { r, root } = await backupInto(`postgresql://postgres:pw@127.0.0.1:${port}/postgres`, [
    "--connect-timeout",
    "1",
    "--retries",
    "1",
  ]);
  const took = Date.now() - started;
  listener.close();
  for (const c of held) c.close();
  await accepting.catch(() => {});
  assertEquals(r.code, 1, r.stderr);
  assertEquals(r.stderr.match(/retry 1\/1: connecting/g)?.length, 1, r.stderr);
  assert(/^error: cannot connect to .*time/im.test(r.stderr), r.stderr);
  assert(held.length >= 2, `attempts reached the server: ${held.length}`);
  assert(took < 15_000, `took ${took} ms`);
  await Deno.remove(root, { recursive: true });
});

Deno.test("a password only in the password file ($PGPASSFILE) works for backup and restore", async () => {
  const c = await sharedCluster(17);
  const db = await c.createDatabase();
  await c.sql("create table public.t (id int primary key); insert into public.t values (1), (2);", { db });
  const dir = await Deno.makeTempDir({ prefix: "sb-pgpass-" });
  const pgpass = `${dir}/pgpass`;
  await Deno.writeTextFile(
    pgpass,
    `127.0.0.1:${c.port}:*:${c.superuser}:${c.superPassword.replaceAll(":", "\\:")}\n`,
  );
  await Deno.chmod(pgpass, 0o600);
  const noPassword = (d: string) => `postgresql://${c.superuser}@127.0.0.1:${c.port}/${d}`;
  const r = await runCli(["backup", "--db-url", noPassword(db), "--out", dir, "--yes"], {
    ...TOOLS,
    PGPASSFILE: pgpass,
  });
  assertEquals(r.code, 0, r.stderr);
  const target = await c.createDatabase();
  const rr = await runCli(["restore", "--out", dir, "--target-url", noPassword(target)], {
    ...TOOLS,
    PGPASSFILE: pgpass,
  });
  assertEquals(rr.code, 0, rr.stderr);
  assertEquals((await c.sql("select count(*) from public.t", { db: target })).trim(), "2");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("--ipv4: backup, restore and the drill connect to the IPv4 address; a host without one is refused", async () => {
  const c = await sharedCluster(17);
  const db = await c.createDatabase();
  await c.sql("create table public.t (id int primary key); insert into public.t values (1), (2), (3);", {
    db,
  });
  const { r, root } = await backupInto(c.url({ db }), ["--ipv4"]);
  assertEquals(r.code, 0, r.stderr);
  const target = await c.createDatabase();
  const rr = await runCli(["restore", "--out", root, "--target-url", c.url({ db: target }), "--ipv4"], TOOLS);
  assertEquals(rr.code, 0, rr.stderr);
  assertEquals((await c.sql("select count(*) from public.t", { db: target })).trim(), "3");
  const scratch = await c.createDatabase();
  const v = await runCli([
    "verify",
    "--out",
    root,
    "--drill",
    "--target-url",
    c.url({ db: scratch }),
    "--ipv4",
  ], TOOLS);
  assertEquals(v.code, 0, v.stderr);
  const v6 = c.url({ db: await c.createDatabase() }).replace("@127.0.0.1:", "@[::1]:");
  const no = await runCli(["restore", "--out", root, "--target-url", v6, "--ipv4"], TOOLS);
  assertEquals(no.code, 1, no.stderr);
  assert(/^error: host ::1 has no IPv4 address/m.test(no.stderr), no.stderr);
  assert(/^hint: .*session pooler/m.test(no.stderr), no.stderr);
  await Deno.remove(root, { recursive: true });
});
