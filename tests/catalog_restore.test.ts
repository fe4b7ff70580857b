/**
 * The restore side of catalog.sql (issue 12), on PostgreSQL 15 and 17 with the real CLI and pg_dump 17.
 * The source holds views that cross schemas both ways (a.w → b.v → a.t, as in the PostgreSQL regression
 * database), postgres_fdw with a server, a user mapping holding a password and a foreign table, an access
 * method (heap2) that is the database's default_table_access_method, a cast, a publication, an event
 * trigger, database-wide default privileges and a function with a SQL-standard body (BEGIN ATOMIC).
 * Backed up as superuser, then:
 * - the dry run names every database-level object and what happens to it, and the user mapping to
 *   create again;
 * - restored into an empty database as superuser, `pg_dump --schema-only` of target and source are the
 *   same but for the user mapping (never in a backup);
 * - as a non-superuser, the restore stops before writing anything (exit 2): heap2 needs a superuser;
 * - `--schema d` and `--table` of d's tables leave out the rule and the trigger that write into c.log
 *   (issue 12 item 6; the trigger's function writes an unqualified name its search_path resolves), and
 *   `--schema d` creates heap2, which one of its tables uses;
 * - the target's own default privileges end as the source's (removed where the source had none);
 * - a catalog.sql changed to hold a statement in a database-level entry (checksum recomputed) is refused,
 *   a meta-command too; a statement put into an entry the restore only orders by is never run.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { clientBinDir } from "../dev/pgenv.ts";
import type { Manifest } from "../lib/store/manifest.ts";
import { runCli } from "./support/cli.ts";
import { type Cluster, sharedCluster } from "./support/cluster.ts";
import { psql } from "./support/psql.ts";
import { schemaEntries } from "./support/schema.ts";
import { rewriteBackupFile } from "./support/manifest.ts";

const TOOLS = { PG_BIN: clientBinDir() };
const MARK = `/tmp/sbcat${crypto.randomUUID().slice(0, 6)}`;

const GLOBALS = (db: string) => `
create extension postgres_fdw;
create server remote foreign data wrapper postgres_fdw options (host 'remote.example', dbname 'app');
create user mapping for current_user server remote options (user 'bob', password 'hunter2-secret');
create access method heap2 type table handler heap_tableam_handler;
comment on access method heap2 is 'heap, under another name';
alter database "${db}" set default_table_access_method = heap2;
`;

/** In a new session, so that heap2 is the default for the tables. */
const OBJECTS = `
create schema a;
create schema b;
create table a.t (id int primary key, label text);
create view b.v as select id, label from a.t;
create view a.w as select id from b.v;
-- SQL-standard bodies hold semicolons inside one statement (the lexer must not cut there)
create function a.plus(x int) returns int language sql begin atomic select x + 1; select x + 2; end;
create view a.plused as select a.plus(id) as y from a.t;
create type a.mood as enum ('ok', 'meh');
create cast (a.mood as text) with inout;
create foreign table b.remote_t (id int) server remote options (table_name 't');
create publication pub_app for table a.t;
create function public.on_ddl() returns event_trigger language plpgsql as $$begin end$$;
create event trigger audit_ddl on ddl_command_start execute function public.on_ddl();
alter default privileges grant select on tables to public;
insert into a.t values (1, 'one'), (2, 'two');
create schema c;
create schema d;
create table c.log (what text);
create table d.src (id int) using heap;
create table d.heavy (id int);
create rule to_log as on insert to d.src do also insert into c.log values ('insert into d.kept');
create table d.kept (id int) using heap;
create rule kept as on insert to d.kept do also insert into d.src values (new.id);
create function d.note() returns trigger language plpgsql set search_path = c as $$
begin
  -- update d.src: a comment does not count
  insert into log values ('update d.kept');
  return new;
end $$;
create trigger note after insert on d.kept for each row execute function d.note();
create function d.dyn() returns trigger language plpgsql as $$
begin
  if new.id < 0 then
    execute format('insert into %I.log values (%L)', 'c', 'dynamic');
  end if;
  return new;
end $$;
create trigger dyn after insert on d.kept for each row execute function d.dyn();
`;

/**
 * Default privileges of the target's own (as a new Supabase project has them): in schema public, which
 * the source has none in, and database-wide, where the source grants SELECT only.
 */
const OWN_DEFAULTS = `
alter default privileges in schema public grant insert on tables to public;
alter default privileges grant update on tables to public;
`;

async function schemasOf(c: Cluster, db: string): Promise<string> {
  return (await c.sql(
    "select string_agg(nspname, ',' order by nspname) from pg_namespace where nspname in ('a', 'b')",
    { db },
  ))
    .trim();
}

async function noMark(): Promise<void> {
  const there = await Deno.stat(MARK).then(() => true, () => false);
  assert(!there, `${MARK} exists: a meta-command ran`);
}

for (const major of [15, 17] as const) {
  Deno.test({
    name: `restore from catalog.sql: global order and database-level objects on PostgreSQL ${major}`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async (t) => {
      const c = await sharedCluster(major);
      const src = await c.createDatabase();
      await c.sql(GLOBALS(src), { db: src });
      await psql(c, src, ["-c", OBJECTS]);
      const root = await Deno.makeTempDir({ prefix: `catalog-restore-${major}-` });
      const out = ["--out", root];
      try {
        const b = await runCli(["backup", "--db-url", c.url({ db: src }), ...out, "--yes"], TOOLS);
        assert(b.code === 0 || b.code === 3, b.stderr);
        const dir = `${root}/latest`;

        await t.step("the dry run names each database-level object and the user mapping", async () => {
          const target = await c.createDatabase();
          await c.sql(OWN_DEFAULTS, { db: target });
          const r = await runCli(
            ["restore", ...out, "--target-url", c.url({ db: target }), "--dry-run"],
            TOOLS,
          );
          assertEquals(r.code, 0, r.stderr);
          for (
            const line of [
              "  definitions in catalog.sql's order (one dependency order across schemas)",
              "    access method heap2: create (3 table(s) use it)",
              "    server remote: create",
              "    cast (a.mood AS text): create",
              "    publication pub_app: create",
              "    event trigger audit_ddl: create",
              "    default privileges of role supabase_admin (database-wide): for tables: create",
            ]
          ) assert(r.stdout.split("\n").includes(line), `${line}\n${r.stdout}`);
          for (
            const line of [
              "    in schema public, on tables (to PUBLIC): REMOVED (the source had none)",
              "    database-wide, on tables (to PUBLIC): replaced by the source's",
            ]
          ) assert(r.stdout.split("\n").includes(line), `${line}\n${r.stdout}`);
          assert(
            r.stdout.includes(
              "note: user mapping for supabase_admin on server remote (options user, password) is not in the backup",
            ),
            r.stdout,
          );
          assertEquals(
            r.stdout.includes("note: SET transaction_timeout (written by pg_dump 17) is left out"),
            major < 17,
            r.stdout,
          );
          assertEquals(await schemasOf(c, target), "");
          const json = await runCli(
            ["restore", ...out, "--target-url", c.url({ db: target }), "--dry-run", "--json"],
            TOOLS,
          );
          assertEquals(json.code, 0, json.stderr);
          const cat = JSON.parse(json.stdout).catalog;
          assertEquals(cat.file, "catalog.sql");
          assert(
            cat.objects.some((o: { type: string; name: string; action: string; phase: string }) =>
              o.type === "SERVER" && o.name === "remote" && o.action === "create" && o.phase === "pre"
            ),
            json.stdout,
          );
          assertEquals(cat.userMappings, [{
            server: "remote",
            user: "supabase_admin",
            options: ["user", "password"],
          }]);
        });

        await t.step("into an empty database as superuser: the same schema as the source", async () => {
          const target = await c.createDatabase();
          // The target's own default privileges end as the source's: pg_dump of both compares them.
          await c.sql(OWN_DEFAULTS, { db: target });
          const r = await runCli(["restore", ...out, "--target-url", c.url({ db: target })], TOOLS);
          assertEquals(r.code, 0, r.stderr);
          assert(
            /^definitions of \d+ schema\(s\) restored in catalog\.sql's order$/m.test(r.stderr),
            r.stderr,
          );
          assert(r.stderr.includes("\nschema b: definitions restored\n"), r.stderr);
          // nothing is left out: a trigger running dynamic SQL is not worth a warning
          assert(!r.stderr.includes("runs dynamic SQL"), r.stderr);
          assertEquals(await schemaEntries(c, target), await schemaEntries(c, src));
          assertEquals(await c.sql("select count(*) from a.w", { db: target }), "2\n");
          assertEquals(
            await c.sql("select string_agg(y::text, ',' order by y) from a.plused", { db: target }),
            "3,4\n",
          );
          const am =
            "select amname from pg_class c join pg_am a on a.oid = c.relam where c.oid = 'a.t'::regclass";
          assertEquals(await c.sql(am, { db: target }), "heap2\n");
          assertEquals(await c.sql("select count(*) from pg_user_mappings", { db: target }), "0\n");
        });

        await t.step("as a non-superuser: stops before writing anything (exit 2), heap2 named", async () => {
          const role = `restorer_${major}`;
          await c.sql(`drop role if exists ${role}; create role ${role} login password 'pw' createdb`);
          const target = await c.createDatabase();
          await c.sql(`alter database "${target}" owner to ${role}`);
          const url = c.url({ db: target, user: role, password: "pw" });
          const dry = await runCli(["restore", ...out, "--target-url", url, "--dry-run"], TOOLS);
          assertEquals(dry.code, 2, dry.stderr);
          assert(dry.stdout.includes("    access method heap2: REFUSED (3 table(s) use it"), dry.stdout);
          assert(dry.stdout.includes("    event trigger audit_ddl: SKIPPED (only a superuser"), dry.stdout);
          const r = await runCli(["restore", ...out, "--target-url", url], TOOLS);
          assertEquals(r.code, 2, r.stderr);
          assert(
            /^error: the restore needs access method heap2 \(3 table\(s\) use it, and only a superuser/m.test(
              r.stderr,
            ),
            r.stderr,
          );
          assert(/^hint: restore as a superuser, or have a superuser create it/m.test(r.stderr), r.stderr);
          assertEquals(await schemasOf(c, target), "");
        });

        await t.step(
          "as a non-superuser where a superuser made the wrapper: no USAGE stops it (exit 2, the GRANT in the hint), then it restores",
          async () => {
            const role = `fdwuser_${major}`;
            await c.sql(`drop role if exists ${role}; create role ${role} login password 'pw'`);
            const target = await c.createDatabase();
            await c.sql(`alter database "${target}" owner to ${role}`);
            await c.sql(
              "create extension postgres_fdw; create access method heap2 type table handler heap_tableam_handler;",
              { db: target },
            );
            const url = c.url({ db: target, user: role, password: "pw" });
            const dry = await runCli(["restore", ...out, "--target-url", url, "--dry-run"], TOOLS);
            assertEquals(dry.code, 2, dry.stderr);
            assert(
              dry.stdout.includes(
                `    server remote: REFUSED (${role} may not use its foreign data wrapper postgres_fdw (no USAGE))`,
              ),
              dry.stdout,
            );
            const r = await runCli(["restore", ...out, "--target-url", url], TOOLS);
            assertEquals(r.code, 2, r.stderr);
            assert(
              r.stderr.includes(
                `\nhint: have a superuser run GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO ${role}; in the target, then run the restore again as ${role}\n`,
              ),
              r.stderr,
            );
            assertEquals(await schemasOf(c, target), "");
            await c.sql(`grant usage on foreign data wrapper postgres_fdw to ${role}`, { db: target });
            const again = await runCli(["restore", ...out, "--target-url", url], TOOLS);
            assertEquals(again.code, 0, again.stderr);
            assertEquals(await c.sql("select count(*) from a.w", { db: target }), "2\n");
            assertEquals(
              await c.sql(
                "select s.srvname || ':' || pg_get_userbyid(s.srvowner) from pg_foreign_server s",
                { db: target },
              ),
              `remote:${role}\n`,
            );
          },
        );

        await t.step(
          "--exclude-schema b, which a.w uses: fails as one transaction (exit 1), the hint names schema b",
          async () => {
            const target = await c.createDatabase();
            const r = await runCli(
              ["restore", ...out, "--target-url", c.url({ db: target }), "--exclude-schema", "b"],
              TOOLS,
            );
            assertEquals(r.code, 1, r.stderr);
            assert(
              /^error: .*relation "b\.v" does not exist.*; nothing was changed/m.test(r.stderr),
              r.stderr,
            );
            assert(
              r.stderr.includes(
                "\nhint: an object of the restore uses schema b, which this restore leaves out and the target does not have:",
              ),
              r.stderr,
            );
            assertEquals(await schemasOf(c, target), "");
          },
        );

        await t.step(
          "--schema and --table leave out rules and triggers that write outside them",
          async () => {
            for (const args of [["--schema", "d"], ["--table", "d.src", "--table", "d.kept"]]) {
              const target = await c.createDatabase();
              const r = await runCli(
                ["restore", ...out, "--target-url", c.url({ db: target }), ...args],
                TOOLS,
              );
              assertEquals(r.code, 0, `${args}: ${r.stderr}`);
              // d.heavy is created with heap2: a --schema restore creates the access method too
              assertEquals(
                r.stderr.includes("    access method heap2: create (1 table(s) use it)"),
                args[0] === "--schema",
                r.stderr,
              );
              for (
                const w of [
                  "warning: rule d.src to_log left out: it writes into c.log, which this restore does not restore",
                  "warning: trigger d.kept note left out: it writes into c.log, which this restore does not restore",
                  "warning: trigger d.kept dyn kept: its function d.dyn runs dynamic SQL (EXECUTE), so the tables it writes into are not known",
                ]
              ) assert(r.stderr.includes(w), `${args}: ${w}\n${r.stderr}`);
              // the rule into a restored table stays; the left-out ones are gone, nothing else
              const rules = await c.sql(
                "select string_agg(rulename, ',' order by rulename) from pg_rules where schemaname = 'd'",
                { db: target },
              );
              assertEquals(rules, "kept\n", `${args}`);
              assertEquals(
                await c.sql("select string_agg(tgname, ',') from pg_trigger where not tgisinternal", {
                  db: target,
                }),
                "dyn\n",
              );
              await c.sql("insert into d.kept values (7)", { db: target });
              assertEquals(await c.sql("select id from d.src", { db: target }), "7\n");
            }
          },
        );

        await t.step("a changed catalog.sql: refused, or what it adds is never run", async () => {
          const copy = await Deno.makeTempDir({ prefix: `catalog-tampered-${major}-` });
          try {
            const cp = await new Deno.Command("cp", { args: ["-a", dir, `${copy}/latest`] }).output();
            assert(cp.success);
            const tdir = `${copy}/latest`;
            const original = await Deno.readTextFile(`${tdir}/catalog.sql`);
            const m = JSON.parse(await Deno.readTextFile(`${tdir}/manifest.json`)) as Manifest;
            const cast = "CREATE CAST (a.mood AS text) WITH INOUT;";
            const view = "CREATE VIEW b.v AS";
            const cases = [
              {
                what: "a statement in the cast's entry",
                edit: cast,
                add: "\nCREATE ROLE intruder SUPERUSER;\n",
              },
              { what: "a meta-command in the cast's entry", edit: cast, add: `\n\\! touch ${MARK}\n` },
            ];
            for (const k of cases) {
              await Deno.writeTextFile(`${tdir}/catalog.sql`, original);
              await Deno.writeTextFile(`${tdir}/manifest.json`, JSON.stringify(m, null, 2));
              const text = await rewriteBackupFile(
                tdir,
                "catalog.sql",
                (s) => s.replace(k.edit, k.edit + k.add),
              );
              assert(text.includes(k.edit + k.add), `catalog.sql has no ${k.edit}`);
              const target = await c.createDatabase();
              for (const dry of [["--dry-run"], []]) {
                const r = await runCli([
                  "restore",
                  "--out",
                  copy,
                  "--target-url",
                  c.url({ db: target }),
                  ...dry,
                ], TOOLS);
                assertEquals(r.code, 1, `${k.what}: ${r.stderr}`);
                assert(
                  /^error: catalog\.sql: entry "CAST \(a\.mood AS text\)" \(CAST\) holds a statement/m.test(
                    r.stderr,
                  ),
                  r.stderr,
                );
                assert(/^hint: the backup was changed after it was written/m.test(r.stderr), r.stderr);
              }
              assertEquals(await schemasOf(c, target), "", k.what);
              assertEquals(await c.sql("select count(*) from pg_roles where rolname = 'intruder'"), "0\n");
              await noMark();
            }
            // An entry of a schema: its definition comes from the schema's dump; catalog.sql only orders it.
            await Deno.writeTextFile(`${tdir}/catalog.sql`, original);
            await Deno.writeTextFile(`${tdir}/manifest.json`, JSON.stringify(m, null, 2));
            const text = await rewriteBackupFile(
              tdir,
              "catalog.sql",
              (s) => s.replace(view, "CREATE ROLE intruder2 SUPERUSER;\n" + view),
            );
            assert(text.includes("intruder2"), `catalog.sql has no ${view}`);
            const target = await c.createDatabase();
            const r = await runCli(["restore", "--out", copy, "--target-url", c.url({ db: target })], TOOLS);
            assertEquals(r.code, 0, r.stderr);
            assertEquals(await c.sql("select count(*) from pg_roles where rolname = 'intruder2'"), "0\n");
            assertEquals(await schemaEntries(c, target), await schemaEntries(c, src));
          } finally {
            await Deno.remove(copy, { recursive: true });
          }
        });
      } finally {
        await Deno.remove(root, { recursive: true });
      }
    },
  });
}
