/**
 * catalog.sql and the database-level objects (issue 12, backup side), on PostgreSQL 15 and 17 with
 * the real CLI and pg_dump 17. The source is the Supabase-shaped fixture plus views that cross
 * schemas both ways (a.w → b.v → a.t), postgres_fdw with two servers (one of postgres's, one of the
 * superuser's) and user mappings holding passwords, an access method (heap2, TYPE TABLE HANDLER
 * heap_tableam_handler) that is the database's default_table_access_method, a cast, a publication,
 * default privileges (database-wide and per schema), an event trigger, a subscription whose
 * connection string holds a password, a large object, database settings (one looking like a
 * secret) and a database comment. Backed up as the fixture's non-superuser `postgres` and as the superuser:
 * catalog.sql holds every definition in one dependency order (it loads into an empty database with
 * psql, and as superuser it gives back the source's `pg_dump --schema-only` but for user mappings);
 * no password is in any file; the manifest records user mappings (option names only), settings
 * (not the secret's value) and comment, and names what was not captured (the options postgres may
 * not see, the subscription, the large object), which the summary lists (exit 3).
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { clientBinDir } from "../dev/pgenv.ts";
import type { Manifest } from "../lib/store/manifest.ts";
import { listFiles, runCli } from "./support/cli.ts";
import { type Cluster, sharedCluster } from "./support/cluster.ts";
import { loadFixture } from "./support/fixture.ts";
import { psql } from "./support/psql.ts";
import { schemaEntries } from "./support/schema.ts";

const TOOLS = { PG_BIN: clientBinDir() };
/** Passwords of user mappings and of the subscription: in no file of a backup. */
const PASSWORDS = ["hunter2-secret", "pub-secret", "own-secret", "sub-secret"];
/**
 * A database setting that looks like a secret: not in manifest.json (never encrypted) nor in
 * catalog.sql. (pg_dump writes the database's settings into every custom-format dump's DATABASE
 * PROPERTIES entry, encrypted with the backup when it is encrypted.)
 */
const SETTING_SECRET = "jwt-secret-value";

/** Run as the superuser after the fixture: what postgres may not create itself. */
const AS_SUPERUSER = (db: string) => `
create extension postgres_fdw with schema extensions;
grant usage on foreign data wrapper postgres_fdw to postgres;
create server remote foreign data wrapper postgres_fdw options (host 'remote.example', dbname 'app');
create user mapping for postgres server remote options (user 'bob', password 'hunter2-secret');
create user mapping for public server remote options (password 'pub-secret');
create access method heap2 type table handler heap_tableam_handler;
alter database "${db}" set default_table_access_method = heap2;
alter database "${db}" set "app.settings.jwt_secret" = 'jwt-secret-value';
alter role authenticator in database "${db}" set statement_timeout = '8s';
comment on database "${db}" is 'the app''s database';
create function public.on_ddl() returns event_trigger language plpgsql as $$begin end$$;
create event trigger audit_ddl on ddl_command_start execute function public.on_ddl();
create subscription sub_app connection 'host=remote.example dbname=app password=sub-secret'
  publication pub_remote with (connect = false);
select lo_create(0);
`;

/** Then as postgres, in a new session (so that heap2 is the default). */
const AS_POSTGRES = `
create server own foreign data wrapper postgres_fdw options (host 'own.example');
create user mapping for postgres server own options (user 'me', password 'own-secret');
create schema a;
create schema b;
create table a.t (id int primary key, label text);
create view b.v as select id, label from a.t;
create view a.w as select id from b.v;
create type a.mood as enum ('ok', 'meh');
create cast (a.mood as text) with inout;
create publication pub_app for table a.t;
alter default privileges for role postgres grant select on tables to anon;
alter default privileges for role postgres in schema b grant select on tables to authenticated;
insert into a.t values (1, 'one');
`;

async function backup(url: string, root: string, extra: string[] = []) {
  const r = await runCli(["backup", "--db-url", url, "--out", root, "--yes", ...extra], TOOLS);
  const m = r.code === 0 || r.code === 3
    ? JSON.parse(await Deno.readTextFile(`${root}/latest/manifest.json`)) as Manifest
    : undefined;
  return { ...r, m: m! };
}

/** Every file of a backup as text, each custom-format dump also as the script pg_restore makes of it. */
async function allText(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const f of await listFiles(dir)) {
    out.set(f, new TextDecoder().decode(await Deno.readFile(`${dir}/${f}`)));
    if (f.endsWith(".dump")) {
      const r = await new Deno.Command(`${clientBinDir()}/pg_restore`, {
        args: ["-f", "-", `${dir}/${f}`],
        stdout: "piped",
      }).output();
      assert(r.code === 0, `pg_restore -f - ${f}`);
      out.set(`${f} (script)`, new TextDecoder().decode(r.stdout));
    }
  }
  return out;
}

function assertNoSecrets(files: Map<string, string>, cli: string): void {
  for (const secret of PASSWORDS) {
    for (const [f, text] of files) assert(!text.includes(secret), `${secret} is in ${f}`);
    assert(!cli.includes(secret), `${secret} is in the CLI output`);
  }
  for (const f of ["manifest.json", "catalog.sql"]) assert(!files.get(f)!.includes(SETTING_SECRET), f);
  assert(!cli.includes(SETTING_SECRET), "the secret setting is in the CLI output");
}

/**
 * Loads catalog.sql into `db` with psql as the superuser, stopping at the first error. pg_dump 17
 * writes `SET transaction_timeout`, which servers before 17 reject: that line is dropped for them.
 */
async function loadCatalog(c: Cluster, db: string, file: string): Promise<void> {
  let text = await Deno.readTextFile(file);
  if (c.major < 17) text = text.replace(/^SET transaction_timeout = .*\n/gm, "");
  const copy = await Deno.makeTempFile({ suffix: ".sql" });
  await Deno.writeTextFile(copy, text);
  await psql(c, db, ["-f", copy]);
  await Deno.remove(copy);
}

/** Index of the first line of `text` that starts with `prefix`; asserts there is one. */
function lineIndex(text: string, prefix: string): number {
  const i = text.split("\n").findIndex((l) => l.startsWith(prefix));
  assert(i >= 0, `no line starting with ${prefix}`);
  return i;
}

const names = (m: Manifest) => (m.notCaptured ?? []).map((n) => `${n.kind} ${n.name}`);

for (const major of [15, 17] as const) {
  Deno.test({
    name: `catalog.sql and database-level objects on PostgreSQL ${major}`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async (t) => {
      const c = await sharedCluster(major);
      const src = await c.createDatabase();
      const fx = await loadFixture(c, src);
      await c.sql(AS_SUPERUSER(src), { db: src });
      await psql(c, src, ["-c", `set role postgres;\n${AS_POSTGRES}`]);
      const heap2 = await c.sql(
        "select amname from pg_class c join pg_am a on a.oid = c.relam where c.oid = 'a.t'::regclass",
        {
          db: src,
        },
      );
      assertEquals(heap2.trim(), "heap2");

      await t.step("as postgres: catalog.sql, manifest, and what was not captured (exit 3)", async () => {
        const root = await Deno.makeTempDir({ prefix: `catalog-pg-${major}-` });
        const r = await backup(fx.url, root);
        assertEquals(r.code, 3, r.stderr);
        const m = r.m;
        const dir = `${root}/latest`;
        assertEquals(m.catalog, "catalog.sql");
        assert(m.files["catalog.sql"]?.sha256.length === 64);
        const catalog = await Deno.readTextFile(`${dir}/catalog.sql`);
        for (
          const line of [
            "CREATE SERVER own FOREIGN DATA WRAPPER postgres_fdw",
            "CREATE SERVER remote FOREIGN DATA WRAPPER postgres_fdw",
            "CREATE ACCESS METHOD heap2 TYPE TABLE HANDLER heap_tableam_handler;",
            "CREATE CAST (a.mood AS text) WITH INOUT;",
            "CREATE PUBLICATION pub_app ",
            "ALTER PUBLICATION pub_app ADD TABLE ONLY a.t;",
            "ALTER DEFAULT PRIVILEGES FOR ROLE postgres GRANT SELECT ON TABLES TO anon;",
            "ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA b GRANT SELECT ON TABLES TO authenticated;",
            "CREATE EXTENSION IF NOT EXISTS postgres_fdw WITH SCHEMA extensions;",
            "ALTER SCHEMA a OWNER TO postgres;",
            "SET default_table_access_method = heap2;",
            "CREATE EVENT TRIGGER audit_ddl ON ddl_command_start",
          ]
        ) assert(catalog.split("\n").some((l) => l.startsWith(line)), `catalog.sql lacks ${line}`);
        // one dependency order across schemas: a.t, then b.v, then a.w
        const at = lineIndex(catalog, "CREATE TABLE a.t ");
        const bv = lineIndex(catalog, "CREATE VIEW b.v AS");
        const aw = lineIndex(catalog, "CREATE VIEW a.w AS");
        assert(at < bv && bv < aw, `order a.t ${at}, b.v ${bv}, a.w ${aw}`);
        // user mappings and the tables postgres cannot read are not in it
        assert(!/USER MAPPING/.test(catalog), "a user mapping is in catalog.sql");
        assert(!/secret_keys|vault\.secrets/.test(catalog), "an unreadable table is in catalog.sql");
        assert(/^\\restrict /m.test(catalog), "catalog.sql has no \\restrict line");
        assertNoSecrets(await allText(dir), r.stdout + r.stderr);

        assertEquals(m.userMappings, [
          { server: "own", user: "postgres", options: ["user", "password"] },
          { server: "remote", user: "postgres", options: null },
          { server: "remote", user: "public", options: null },
        ]);
        assertEquals(m.database.settings, [
          { name: "default_table_access_method", value: "heap2" },
          { name: "app.settings.jwt_secret", value: null },
        ]);
        assertEquals(m.database.roleSettings, [{
          role: "authenticator",
          name: "statement_timeout",
          value: "8s",
        }]);
        assertEquals(m.database.comment, "the app's database");
        assertEquals(names(m), [
          "USER MAPPING FOR postgres SERVER remote",
          "USER MAPPING FOR public SERVER remote",
          "SUBSCRIPTION sub_app",
          "LARGE OBJECT 1 large object(s)",
        ]);
        assertEquals(m.status, "partial");
        assert(r.stdout.includes("not captured (4):"), r.stdout);
        assert(
          r.stdout.includes("  USER MAPPING FOR public SERVER remote: postgres may not see its options"),
          r.stdout,
        );
        assert(/^hint: each line says what to do/m.test(r.stdout), r.stdout);

        // every definition in one order: catalog.sql loads into an empty database as it is
        const empty = await c.createDatabase();
        await loadCatalog(c, empty, `${dir}/catalog.sql`);
        assertEquals(await c.sql("select count(*) from a.w", { db: empty }), "0\n");
        await Deno.remove(root, { recursive: true });
      });

      await t.step("the dry run names catalog.sql and what it knows will not be captured", async () => {
        const r = await runCli(["backup", "--db-url", fx.url, "--out", "/nonexistent/x", "--dry-run"], TOOLS);
        assertEquals(r.code, 0, r.stderr);
        assert(r.stdout.includes("\n  catalog.sql\n"), r.stdout);
        assert(
          r.stdout.includes("not captured: SUBSCRIPTION sub_app: subscriptions are not backed up"),
          r.stdout,
        );
        assert(r.stdout.includes("not captured: USER MAPPING FOR public SERVER remote: "), r.stdout);
      });

      await t.step(
        "as superuser: option names are captured; catalog.sql is the whole schema but user mappings",
        async () => {
          const root = await Deno.makeTempDir({ prefix: `catalog-su-${major}-` });
          const r = await backup(c.url({ db: src }), root);
          assertEquals(r.code, 3, r.stderr);
          const dir = `${root}/latest`;
          assertEquals(r.m.userMappings, [
            { server: "own", user: "postgres", options: ["user", "password"] },
            { server: "remote", user: "postgres", options: ["user", "password"] },
            { server: "remote", user: "public", options: ["password"] },
          ]);
          assertEquals(names(r.m), ["SUBSCRIPTION sub_app", "LARGE OBJECT 1 large object(s)"]);
          const catalog = await Deno.readTextFile(`${dir}/catalog.sql`);
          assert(
            !/USER MAPPING|SUBSCRIPTION/.test(catalog),
            "a user mapping or subscription is in catalog.sql",
          );
          assertNoSecrets(await allText(dir), r.stdout + r.stderr);
          // loaded into an empty database, it gives back the source's schema but for user mappings
          const copy = await c.createDatabase();
          await loadCatalog(c, copy, `${dir}/catalog.sql`);
          assertEquals(await schemaEntries(c, copy), await schemaEntries(c, src));
          const am =
            "select amname from pg_class c join pg_am a on a.oid = c.relam where c.oid = 'a.t'::regclass";
          assertEquals(await c.sql(am, { db: copy }), "heap2\n");
          await Deno.remove(root, { recursive: true });
        },
      );
    },
  });
}
