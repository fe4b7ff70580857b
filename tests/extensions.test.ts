/**
 * Extensions on PostgreSQL 15 and 17 with the real CLI and pg_dump/pg_restore 17: a database with
 * contrib extensions in a custom schema (citext, hstore), in `public` (ltree) and in `extensions`
 * (uuid-ossp, pgcrypto, pg_trgm), and tables that use them (a citext column, uuid-ossp and pgcrypto
 * defaults, a trigram index). Each schema's dump carries `CREATE EXTENSION` of the extensions
 * installed in it; a restore creates the missing ones before any definitions: (a) into an empty
 * database as superuser, (b) into a fresh Supabase-shaped project as `postgres` (which already has
 * uuid-ossp and pgcrypto, owned by supabase_admin), (c) one table; (d) a `--scope user` backup, whose
 * `extensions` schema is not in the backup, restores from the manifest's extension list; (a2) a
 * manifest without that list restores from the `CREATE EXTENSION` entries of the dumps; (e) an
 * extension the server does not have fails with exit 1 and a hint naming it.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { clientBinDir } from "../dev/pgenv.ts";
import type { Manifest, ManifestExtension } from "../lib/store/manifest.ts";
import { type CliResult, runCli } from "./support/cli.ts";
import { type Cluster, sharedCluster } from "./support/cluster.ts";
import { loadFixture, tableFingerprints } from "./support/fixture.ts";

const TOOLS = { PG_BIN: clientBinDir() };

const SOURCE_SQL = `
set role postgres;
create schema app;
create extension citext with schema app;
comment on extension citext is 'emails compare without case';
create extension ltree with schema public;
create extension pg_trgm with schema extensions;
reset role;
create extension hstore with schema app;
set role postgres;
create table app.people (
  id uuid primary key default extensions.uuid_generate_v4(),
  email app.citext not null unique,
  attrs app.hstore,
  salt text not null default encode(extensions.gen_random_bytes(8), 'hex')
);
create index people_email_trgm on app.people using gin ((email::text) extensions.gin_trgm_ops);
insert into app.people (email, attrs)
  select 'User' || g || '@Example.com', ('n=>' || g)::app.hstore from generate_series(1, 25) g;
create table public.tree (path public.ltree primary key, label text);
insert into public.tree select ('top.n' || g)::public.ltree, 'node ' || g from generate_series(1, 10) g;
reset role;
`;

const TABLES = ["app.people", "public.tree"];

/** Extensions of a database as `name schema`, sorted, without plpgsql. */
async function extensionsOf(c: Cluster, db: string): Promise<string[]> {
  const out = await c.sql(
    "select e.extname || ' ' || e.extnamespace::regnamespace from pg_extension e where e.extname <> 'plpgsql' order by 1",
    { db },
  );
  return out.split("\n").filter((l) => l);
}

function ok(r: CliResult, what: string): void {
  assert(r.code === 0, `${what}: exit ${r.code}\n${r.stderr}`);
  assert(!/error/i.test(r.stderr), `${what}: stderr mentions an error:\n${r.stderr}`);
}

async function backup(url: string, root: string, extra: string[] = []): Promise<Manifest> {
  const r = await runCli(["backup", "--db-url", url, "--out", root, "--yes", ...extra], TOOLS);
  assert(r.code === 0 || r.code === 3, `backup failed (${r.code}):\n${r.stderr}`);
  return JSON.parse(await Deno.readTextFile(`${root}/latest/manifest.json`)) as Manifest;
}

/** The TOC lines of one schema's dump in a backup that name an extension. */
async function extensionEntries(root: string, m: Manifest, schema: string): Promise<string[]> {
  const s = m.schemas.find((x) => x.name === schema)!;
  const out = await new Deno.Command(`${clientBinDir()}/pg_restore`, {
    args: ["-l", `${root}/latest/${s.dump}`],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n")
    .filter((l) => !l.startsWith(";") && / EXTENSION /.test(l))
    .map((l) => l.replace(/^\d+; \d+ \d+ /, "").trim());
}

/**
 * The manifest's extension list, checked against `expected`. When the backup writer does not
 * record it (yet), the test writes it as the plan has it, so that the restore side is tested.
 */
/** The manifest lists every extension of the database, in creation order. */
function manifestExtensions(_root: string, m: Manifest, expected: ManifestExtension[]): Promise<void> {
  assertEquals(m.extensions, expected);
  return Promise.resolve();
}

for (const major of [15, 17] as const) {
  Deno.test({
    name: `extensions are backed up and restored on PostgreSQL ${major}`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async (t) => {
      const c = await sharedCluster(major);
      const src = await c.createDatabase();
      const fx = await loadFixture(c, src, { app: false });
      await c.sql(SOURCE_SQL, { db: src });
      const want = await extensionsOf(c, src);
      assertEquals(want, [
        "citext app",
        "hstore app",
        "ltree public",
        "pg_trgm extensions",
        "pgcrypto extensions",
        "uuid-ossp extensions",
      ]);
      const prints = await tableFingerprints(c, src, TABLES);
      const versions = new Map(
        (await c.sql("select extname || ' ' || extversion from pg_extension", { db: src }))
          .split("\n").filter((l) => l).map((l) => l.split(" ") as [string, string]),
      );
      const root = await Deno.makeTempDir({ prefix: `ext-test-${major}-` });
      const m = await backup(fx.url, root);
      const out = ["--out", root];

      const same = async (db: string, what: string) => {
        assertEquals(await tableFingerprints(c, db, TABLES), prints, `${what}: tables differ`);
      };

      await t.step(
        "each schema's dump holds the CREATE EXTENSION of its own extensions, nothing more",
        async () => {
          assertEquals(await extensionEntries(root, m, "app"), [
            "EXTENSION - citext",
            "COMMENT - EXTENSION citext",
            "EXTENSION - hstore",
            "COMMENT - EXTENSION hstore",
          ]);
          assertEquals((await extensionEntries(root, m, "public")).filter((l) => l.startsWith("EXTENSION")), [
            "EXTENSION - ltree",
          ]);
          assertEquals(
            (await extensionEntries(root, m, "extensions")).filter((l) => l.startsWith("EXTENSION")).sort(),
            ["EXTENSION - pg_trgm", "EXTENSION - pgcrypto", "EXTENSION - uuid-ossp"],
          );
          for (const s of m.schemas.filter((x) => !["app", "public", "extensions"].includes(x.name))) {
            assertEquals(await extensionEntries(root, m, s.name), [], `schema ${s.name}`);
          }
          // the tables' own files are unchanged: no extension entries in them
          const people = m.schemas.find((s) => s.name === "app")!.tables.find((x) => x.name === "people")!;
          const sql = await Deno.readTextFile(`${root}/latest/${people.schemaFile}`);
          assert(!/CREATE EXTENSION/.test(sql), sql);
          const order = ["uuid-ossp", "pgcrypto", "citext", "ltree", "pg_trgm", "hstore"];
          await manifestExtensions(
            root,
            m,
            order.map((name) => ({
              name,
              schema: want.find((w) => w.startsWith(`${name} `))!.split(" ")[1],
              version: versions.get(name)!,
            })),
          );
        },
      );

      await t.step("(a) into an empty database as superuser", async () => {
        const db = await c.createDatabase();
        const r = await runCli(["restore", ...out, "--target-url", c.url({ db }), "--roles"], TOOLS);
        ok(r, "restore (a)");
        assert(/extensions to create: uuid-ossp \(in extensions\)/.test(r.stdout + r.stderr), r.stderr);
        assertEquals(await extensionsOf(c, db), want);
        await same(db, "(a)");
        assertEquals(
          (await c.sql(
            "select obj_description(oid, 'pg_extension') from pg_extension where extname = 'citext'",
            { db },
          )).trim(),
          "emails compare without case",
        );
        // the defaults that call extension functions work
        await c.sql("insert into app.people (email) values ('NEW@example.com')", { db });
        assertEquals(
          (await c.sql(
            "set search_path = app; select count(*) from app.people where email = 'new@EXAMPLE.com'",
            { db },
          )).trim(),
          "1",
        );
        // --clean never drops an extension
        const clean = await runCli(
          ["restore", ...out, "--target-url", c.url({ db }), "--clean", "--schema", "app"],
          TOOLS,
        );
        ok(clean, "restore (a) --clean");
        assertEquals(await extensionsOf(c, db), want);
        await same(db, "(a) after --clean");
      });

      await t.step("(a2) a manifest without the extension list: read from the dumps", async () => {
        const old = await Deno.makeTempDir({ prefix: `ext-test-old-${major}-` });
        await new Deno.Command("cp", { args: ["-a", `${root}/latest`, `${old}/latest`] }).output();
        const mm = JSON.parse(await Deno.readTextFile(`${old}/latest/manifest.json`)) as Manifest;
        delete mm.extensions;
        await Deno.writeTextFile(`${old}/latest/manifest.json`, JSON.stringify(mm, null, 2) + "\n");
        const db = await c.createDatabase();
        const r = await runCli(["restore", "--out", old, "--target-url", c.url({ db })], TOOLS);
        ok(r, "restore (a2)");
        assertEquals(await extensionsOf(c, db), want);
        await same(db, "(a2)");
        await Deno.remove(old, { recursive: true });
      });

      await t.step("(b) into a fresh Supabase-shaped project as postgres", async () => {
        const db = await c.createDatabase();
        const target = await loadFixture(c, db, { app: false });
        const before = await extensionsOf(c, db);
        assertEquals(before, ["pgcrypto extensions", "uuid-ossp extensions"]);
        const dry = await runCli(["restore", ...out, "--target-url", target.url, "--dry-run"], TOOLS);
        assertEquals(dry.code, 0, dry.stderr);
        assert(
          dry.stdout.includes(
            "extensions to create: citext (in app), ltree (in public), pg_trgm (in extensions), hstore (in app)",
          ),
          dry.stdout,
        );
        assert(
          dry.stdout.includes("already in the target (left as they are): uuid-ossp, pgcrypto"),
          dry.stdout,
        );
        const r = await runCli(["restore", ...out, "--target-url", target.url], TOOLS);
        ok(r, "restore (b)");
        assertEquals(await extensionsOf(c, db), want);
        await same(db, "(b)");
        // the target's own extensions are left as they were
        assertEquals(
          (await c.sql(
            "select string_agg(extname || ' ' || pg_get_userbyid(extowner), ', ' order by extname) from pg_extension where extname in ('pgcrypto', 'uuid-ossp')",
            { db },
          )).trim(),
          "pgcrypto supabase_admin, uuid-ossp supabase_admin",
        );
      });

      await t.step("(c) one table into an empty database as superuser", async () => {
        const db = await c.createDatabase();
        const r = await runCli(
          ["restore", ...out, "--target-url", c.url({ db }), "--table", "app.people"],
          TOOLS,
        );
        ok(r, "restore (c)");
        assertEquals(
          await tableFingerprints(c, db, ["app.people"]),
          new Map([["app.people", prints.get("app.people")!]]),
        );
      });

      await t.step(
        "(d) --scope user: the extensions schema is not backed up, its extensions are listed",
        async () => {
          const userRoot = await Deno.makeTempDir({ prefix: `ext-test-user-${major}-` });
          const um = await backup(fx.url, userRoot, ["--scope", "user"]);
          assert(
            !um.schemas.some((s) => s.name === "extensions"),
            "extensions schema in a user-scope backup",
          );
          await manifestExtensions(userRoot, um, m.extensions!);
          const db = await c.createDatabase();
          const r = await runCli(["restore", "--out", userRoot, "--target-url", c.url({ db })], TOOLS);
          ok(r, "restore (d)");
          assertEquals(await extensionsOf(c, db), want);
          await same(db, "(d)");
          await Deno.remove(userRoot, { recursive: true });
        },
      );

      await t.step(
        "(e) an extension the target server does not have: exit 1, with a hint naming it",
        async () => {
          const mm = JSON.parse(await Deno.readTextFile(`${root}/latest/manifest.json`)) as Manifest;
          mm.extensions = [...mm.extensions!, { name: "no_such_ext", schema: "extensions", version: "1.0" }];
          await Deno.writeTextFile(`${root}/latest/manifest.json`, JSON.stringify(mm, null, 2) + "\n");
          const db = await c.createDatabase();
          const r = await runCli(["restore", ...out, "--target-url", c.url({ db })], TOOLS);
          assertEquals(r.code, 1, r.stderr);
          assert(
            /error: extension no_such_ext \(schema extensions in the backup\) cannot be created in the target: .*not available/
              .test(r.stderr),
            r.stderr,
          );
          assert(
            /hint: enable no_such_ext in the target first \(Supabase: Dashboard/.test(r.stderr),
            r.stderr,
          );
          // it stopped before any definitions
          assertEquals((await c.sql("select to_regclass('app.people') is null", { db })).trim(), "t");
        },
      );

      await Deno.remove(root, { recursive: true });
    },
  });
}
