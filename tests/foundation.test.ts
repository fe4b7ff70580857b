/**
 * The test bed itself: provisioned PostgreSQL 15 and 17 clusters, the Supabase-shaped fixture as
 * seen by the non-superuser `postgres` with a URL-hostile password (through postgres.js and through
 * psql 17), and the provisioned pg_dump 17 as found by lib/pg/tools.ts.
 */
import { deepStrictEqual as assertEquals, ok, rejects } from "node:assert/strict";
import postgres from "postgres";
import { type Cluster, sharedCluster, startCluster } from "./support/cluster.ts";
import { FIXTURE, FIXTURE_PASSWORD, loadFixture, tableFingerprints } from "./support/fixture.ts";
import { findPgTools } from "../lib/pg/tools.ts";
import { clientBinDir, markerMatches, parseSymlinkList, REPO_ROOT, serverBinDir } from "../dev/pgenv.ts";

async function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

interface RoleRow {
  rolname: string;
  rolsuper: boolean;
  rolcanlogin: boolean;
  rolinherit: boolean;
  rolcreaterole: boolean;
  rolcreatedb: boolean;
  rolreplication: boolean;
  rolbypassrls: boolean;
}

/** Attribute letters: S super, L login, I inherit, R createrole, D createdb, P replication, B bypassrls. */
function attrs(r: RoleRow): string {
  return [
    r.rolsuper && "S",
    r.rolcanlogin && "L",
    r.rolinherit && "I",
    r.rolcreaterole && "R",
    r.rolcreatedb && "D",
    r.rolreplication && "P",
    r.rolbypassrls && "B",
  ].filter(Boolean).join("");
}

for (const major of [15, 17] as const) {
  Deno.test(`foundation: PostgreSQL ${major} cluster with the Supabase-shaped fixture`, async (t) => {
    const c: Cluster = await sharedCluster(major);
    const db = await c.createDatabase();
    const { url } = await loadFixture(c, db);
    ok(url.includes(encodeURIComponent("p@ss:w/rd#50%?x")) && !url.includes(FIXTURE_PASSWORD), url);
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      await t.step("postgres.js logs in as postgres with the percent-encoded password", async () => {
        const [row] = await sql`select current_user as u, current_setting('server_version_num')::int as v,
          current_setting('search_path') as sp`;
        assertEquals(row.u, "postgres");
        assertEquals(Math.floor(row.v / 10000), major);
        assertEquals(row.sp, '"$user", public, extensions');
      });

      await t.step("psql 17 logs in with the URL", async () => {
        const r = await run(`${clientBinDir()}/psql`, [
          "-X",
          "-At",
          "-d",
          url,
          "-c",
          "select current_user, version()",
        ]);
        assertEquals(r.code, 0, r.stderr);
        ok(r.stdout.startsWith(`postgres|PostgreSQL ${major}.`), r.stdout);
        const bad = await run(`${clientBinDir()}/psql`, [
          "-X",
          "-At",
          "-d",
          c.url({ db, user: "postgres", password: "wrong" }),
          "-c",
          "select 1",
        ]);
        ok(bad.code !== 0 && /password authentication failed/.test(bad.stderr), bad.stderr);
      });

      await t.step("roles have Supabase's attributes", async () => {
        const rows = await sql<RoleRow[]>`select rolname, rolsuper, rolcanlogin, rolinherit, rolcreaterole,
          rolcreatedb, rolreplication, rolbypassrls from pg_roles where rolname !~ '^pg_' order by rolname`;
        const got = Object.fromEntries(rows.map((r) => [r.rolname, attrs(r)]));
        assertEquals(got, {
          anon: "",
          authenticated: "",
          authenticator: "L",
          dashboard_user: "IRDP",
          pgbouncer: "LI",
          postgres: "LIRDPB",
          service_role: "B",
          supabase_admin: "SLIRDPB",
          supabase_auth_admin: "LR",
          supabase_functions_admin: "R",
          supabase_read_only_user: "LIB",
          supabase_realtime_admin: "",
          supabase_replication_admin: "LIP",
          supabase_storage_admin: "LR",
        });
        const members = await sql`select r.rolname as role, m.rolname as member from pg_auth_members a
          join pg_roles r on r.oid = a.roleid join pg_roles m on m.oid = a.member
          where m.rolname in ('authenticator', 'postgres', 'supabase_read_only_user') order by 2, 1`;
        assertEquals(members.map((x) => `${x.member}>${x.role}`), [
          "authenticator>anon",
          "authenticator>authenticated",
          "authenticator>service_role",
          "postgres>anon",
          "postgres>authenticated",
          "postgres>service_role",
          "supabase_read_only_user>pg_read_all_data",
        ]);
        const settings = await sql`select r.rolname, s.setconfig from pg_db_role_setting s
          join pg_roles r on r.oid = s.setrole where r.rolname in ('anon', 'authenticated') order by 1`;
        assertEquals(settings.map((s) => `${s.rolname}:${s.setconfig}`), [
          "anon:statement_timeout=3s",
          "authenticated:statement_timeout=8s",
        ]);
      });

      await t.step("managed schemas and auth/storage tables have Supabase's owners", async () => {
        const schemas = await sql`select nspname, pg_get_userbyid(nspowner) as owner from pg_namespace
          where nspname in ('auth', 'storage', 'realtime', 'extensions', 'graphql_public', 'pgbouncer',
          'supabase_migrations', 'vault', 'billing', ${FIXTURE.quotedSchema}) order by 1`;
        assertEquals(Object.fromEntries(schemas.map((s) => [s.nspname, s.owner])), {
          [FIXTURE.quotedSchema]: "postgres",
          auth: "supabase_admin",
          billing: "postgres",
          extensions: "postgres",
          graphql_public: "supabase_admin",
          pgbouncer: "pgbouncer",
          realtime: "supabase_admin",
          storage: "supabase_admin",
          supabase_migrations: "postgres",
          vault: "supabase_admin",
        });
        const tables = await sql`select format('%I.%I', schemaname, tablename) as t, tableowner, rowsecurity
          from pg_tables where schemaname in ('auth', 'storage', 'public', 'billing', 'vault')`;
        const owner = (name: string) => tables.find((x) => x.t === name)?.tableowner;
        for (
          const tb of [
            "users",
            "identities",
            "sessions",
            "refresh_tokens",
            "audit_log_entries",
            "schema_migrations",
          ]
        ) {
          assertEquals(owner(`auth.${tb}`), "supabase_auth_admin", tb);
        }
        for (const tb of ["buckets", "objects", "migrations"]) {
          assertEquals(owner(`storage.${tb}`), "supabase_storage_admin", tb);
        }
        assertEquals(owner("public.profiles"), "postgres");
        assertEquals(owner("billing.invoices"), "postgres");
        assertEquals(owner(FIXTURE.unreadableTable), "supabase_admin");
        assertEquals(owner(FIXTURE.vaultTable), "supabase_admin");
        ok(tables.find((x) => x.t === "auth.users")?.rowsecurity, "RLS on auth.users");
        ok(tables.find((x) => x.t === "storage.objects")?.rowsecurity, "RLS on storage.objects");
      });

      await t.step("auth.users has the realistic shape", async () => {
        const cols = await sql`select attname, attgenerated from pg_attribute
          where attrelid = 'auth.users'::regclass and attnum > 0 and not attisdropped`;
        ok(cols.length >= 34, `${cols.length} columns`);
        assertEquals(cols.find((x) => x.attname === "confirmed_at")?.attgenerated, "s");
        const [idx] = await sql`select pg_get_indexdef('auth.users_email_partial_key'::regclass) as d`;
        ok(/UNIQUE INDEX .* \(email\) WHERE \(is_sso_user = false\)/.test(idx.d), idx.d);
        const [gen] =
          await sql`select count(*)::int as n from pg_attribute where attgenerated = 's' and attrelid in
          ('auth.identities'::regclass, 'storage.objects'::regclass)`;
        assertEquals(gen.n, 2);
      });

      await t.step("postgres reads the app's data and the auth/storage tables", async () => {
        const [n] = await sql`select (select count(*) from auth.users)::int as users,
          (select count(*) from public.profiles)::int as profiles,
          (select count(*) from storage.objects)::int as objects,
          (select count(*) from public.events)::int as events,
          (select count(*) from public.waitlist)::int as waitlist`;
        assertEquals(n, { users: 40, profiles: 40, objects: 45, events: 150, waitlist: 0 });
        const [q] = await sql.unsafe(`select count(*)::int as n from ${FIXTURE.quotedTable}`);
        assertEquals(q.n, 120);
        const parts = await sql`select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
          where i.inhparent = 'public.events'::regclass order by 1`;
        assertEquals(parts.map((p) => `public.${p.relname}`), [...FIXTURE.partitions]);
      });

      await t.step("postgres gets 'permission denied' on the unreadable tables", async () => {
        for (const name of [FIXTURE.unreadableTable, FIXTURE.vaultTable]) {
          await rejects(sql.unsafe(`select * from ${name}`), (e: { code?: string; message?: string }) => {
            assertEquals(e.code, "42501", e.message);
            return true;
          });
        }
      });

      await t.step("postgres may set session_replication_role, and is not a superuser", async () => {
        await sql.begin(async (tx) => {
          await tx`set local session_replication_role = replica`;
          const [r] =
            await tx`select current_setting('session_replication_role') as v, current_setting('is_superuser') as s`;
          assertEquals(r, { v: "replica", s: "off" });
        });
        await rejects(sql`alter role postgres superuser`, /permission denied|must be superuser/);
      });

      await t.step("fingerprints see every table (as superuser) and are stable", async () => {
        const fp = await tableFingerprints(c, db);
        assertEquals(fp.get(FIXTURE.unreadableTable)?.rows, 3);
        assertEquals(fp.get(FIXTURE.emptyTable), { rows: 0, md5: "d41d8cd98f00b204e9800998ecf8427e" });
        assertEquals(fp.get(FIXTURE.quotedTable)?.rows, 120);
        ok(!fp.has(FIXTURE.partitioned), "partitioned parent left out");
        const total = [...fp.values()].reduce((a, b) => a + b.rows, 0);
        ok(total >= 300, `${total} rows`);
        const again = await c.createDatabase();
        await loadFixture(c, again);
        assertEquals(await tableFingerprints(c, again), fp);
      });

      await t.step("pg_dump 17 from lib/pg/tools.ts dumps the fixture as postgres", async () => {
        const tools = await findPgTools({ minMajor: 17, env: Deno.env.toObject(), cwd: REPO_ROOT });
        assertEquals(tools.version.major, 17);
        const v = await run(tools.path("pg_dump"), ["--version"]);
        ok(/^pg_dump \(PostgreSQL\) 17\.\d+/.test(v.stdout), v.stdout);
        const d = await run(tools.path("pg_dump"), ["--schema-only", "--schema=public", "-d", url]);
        assertEquals(d.code, 0, d.stderr);
        ok(d.stdout.includes("CREATE TABLE public.profiles"), "profiles in the dump");
        ok(!d.stdout.includes(FIXTURE_PASSWORD));
      });
    } finally {
      await sql.end();
    }
  });
}

Deno.test("foundation: a cluster keeps its data across stopServer/startServer and cleans up on stop", async () => {
  const c = await startCluster(17);
  try {
    await c.sql("create table kept (n int); insert into kept values (42);");
    await c.stopServer();
    await rejects(c.sql("select 1"));
    await c.startServer();
    assertEquals((await c.sql("select n from kept")).trim(), "42");
    assertEquals(
      c.url({ db: "a b", user: "u@x", password: "p/#?%" }),
      `postgresql://u%40x:p%2F%23%3F%25@127.0.0.1:${c.port}/a%20b`,
    );
  } finally {
    await c.stop();
    await c.stop();
  }
  await rejects(Deno.stat(c.dataDir));
});

Deno.test("foundation: provisioning layout and helpers", async () => {
  for (
    const [dir, tools] of [
      [clientBinDir(), ["pg_dump", "pg_dumpall", "pg_restore", "psql"]],
      [serverBinDir(17), ["initdb", "pg_ctl", "postgres"]],
      [serverBinDir(15), ["initdb", "pg_ctl", "postgres"]],
    ] as const
  ) {
    for (const tool of tools) {
      const r = await run(`${dir}/${tool}`, ["--version"]);
      assertEquals(r.code, 0, `${dir}/${tool}: ${r.stderr}`);
      ok(/\(PostgreSQL\) 1[57]\./.test(r.stdout), r.stdout);
    }
  }
  assertEquals(parseSymlinkList('[{"source":"native/lib/libz.so.1.2","target":"native/lib/libz.so.1"}]'), [
    { link: "lib/libz.so.1", target: "libz.so.1.2" },
  ]);
  ok(!markerMatches("not json", { recipe: 1, dir: "/x", source: "y" }));
  ok(markerMatches('{"recipe":1,"dir":"/x","source":"y"}', { recipe: 1, dir: "/x", source: "y" }));
});
