/**
 * The user's real path (issue 12, item 3): a backup of an OLDER Supabase project, restored as `postgres`
 * into a NEW Supabase project. Both are built from Supabase's own migrations (../shared/supabase-project,
 * PostgreSQL 17, `postgres` demoted as on the platform); the older one still has `storage.prefixes` and lacks
 * columns added since. App tables come back identical, managed tables identical on their shared columns,
 * and the plan names what it leaves out; nothing fails halfway.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { clientBinDir } from "../dev/pgenv.ts";
import { runCli } from "./support/cli.ts";
import type { Cluster } from "./support/cluster.ts";
import { tableFingerprints } from "./support/fixture.ts";
import { PROJECT_PASSWORD, projectCluster, startProjectCluster } from "./support/storage.ts";

const TOOLS = { PG_BIN: clientBinDir() };

/** App data of the older project: users, a profile per user (RLS, a policy), todos, storage rows. */
const APP = `
insert into auth.users (instance_id, id, aud, role, email, encrypted_password, created_at, updated_at)
  select '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
         'user' || g || '@example.com', 'x', now(), now() from generate_series(1, 5) g;
create table public.profiles (id uuid primary key references auth.users (id) on delete cascade, full_name text);
alter table public.profiles owner to postgres;
alter table public.profiles enable row level security;
create policy "own profile" on public.profiles for select using (auth.uid() = id);
insert into public.profiles select id, email from auth.users;
create table public.todos (id bigint generated always as identity primary key, owner uuid references public.profiles (id), title text);
alter table public.todos owner to postgres;
insert into public.todos (owner, title) select id, 'todo of ' || email from auth.users;
insert into storage.buckets (id, name) values ('avatars', 'avatars');
insert into storage.objects (bucket_id, name) select 'avatars', 'folder/a' || g || '.png' from generate_series(1, 3) g;
`;

async function newDb(c: Cluster): Promise<string> {
  const db = `p_${Deno.pid}_${crypto.randomUUID().slice(0, 8)}`;
  await c.sql(`create database "${db}" template postgres owner postgres`);
  return db;
}

const q = (c: Cluster, db: string, sql: string) => c.sql(sql, { db }).then((s) => s.trim());

Deno.test({
  name: "an older Supabase project restores as postgres into a new Supabase project",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const older = await startProjectCluster({ older: true });
    const root = await Deno.makeTempDir({ prefix: "supabase-restore-" });
    try {
      const newer = await projectCluster();
      const src = await newDb(older);
      assertEquals(await q(older, src, "select to_regclass('storage.prefixes') is not null"), "t");
      await older.sql(APP, { db: src });
      const srcUrl = older.url({ db: src, user: "postgres", password: PROJECT_PASSWORD });
      const b = await runCli(["backup", "--db-url", srcUrl, "--out", root, "--yes"], TOOLS);
      assert(b.code === 0 || b.code === 3, `backup: exit ${b.code}\n${b.stderr}`);

      const db = await newDb(newer);
      assertEquals(await q(newer, db, "select to_regclass('storage.prefixes') is null"), "t");
      const url = newer.url({ db, user: "postgres", password: PROJECT_PASSWORD });

      await t.step("the dry run names what is left out and how managed tables load", async () => {
        const dry = await runCli(["restore", "--out", root, "--target-url", url, "--dry-run"], TOOLS);
        assertEquals(dry.code, 0, dry.stderr);
        assert(/prefixes: SKIPPED/.test(dry.stdout), dry.stdout);
        assert(/note: storage\.prefixes .*is not restored/.test(dry.stdout), dry.stdout);
        assert(/schema_migrations: leave as is/.test(dry.stdout), dry.stdout);
        // catalog.sql: Supabase's own event triggers are the new project's; nothing database-level refused
        assert(/^ {4}event trigger \S+: SKIPPED \(Supabase's own/m.test(dry.stdout), dry.stdout);
        assert(!/: REFUSED/.test(dry.stdout), dry.stdout);
      });

      await t.step("the restore goes through as postgres; app and managed rows come back", async () => {
        const r = await runCli(["restore", "--out", root, "--target-url", url], TOOLS);
        assertEquals(r.code, 0, `${r.stdout}\n${r.stderr}`);
        const tables = ["public.profiles", "public.todos"];
        assertEquals(await tableFingerprints(newer, db, tables), await tableFingerprints(older, src, tables));
        const users = "select md5(string_agg(id::text || ':' || email, ',' order by id)) from auth.users";
        assertEquals(await q(newer, db, users), await q(older, src, users));
        const objects = "select string_agg(bucket_id || '/' || name, ',' order by name) from storage.objects";
        assertEquals(await q(newer, db, objects), await q(older, src, objects));
        // The target's own migration history stays its own.
        const migrations = "select count(*) from storage.migrations";
        assert(Number(await q(newer, db, migrations)) > Number(await q(older, src, migrations)));
        const policy = "select count(*) from pg_policy where polname = 'own profile'";
        assertEquals(await q(newer, db, policy), "1");
      });
      await t.step(
        "restore --table auth.users into another new project: its rows load, by the shared columns",
        async () => {
          // The new project has auth.users (its own definition): the table is not created nor refused as
          // "already exists"; only its rows load, as the whole restore loads managed tables.
          const db2 = await newDb(newer);
          const url2 = newer.url({ db: db2, user: "postgres", password: PROJECT_PASSWORD });
          const args = ["restore", "--out", root, "--target-url", url2, "--table", "auth.users"];
          const dry = await runCli([...args, "--dry-run"], TOOLS);
          assertEquals(dry.code, 0, dry.stderr);
          assert(/^ {4}auth\.users: load rows \(5 rows/m.test(dry.stdout), dry.stdout);
          const r = await runCli(args, TOOLS);
          assertEquals(r.code, 0, `${r.stdout}\n${r.stderr}`);
          const users = "select md5(string_agg(id::text || ':' || email, ',' order by id)) from auth.users";
          assertEquals(await q(newer, db2, users), await q(older, src, users));
          // once it holds rows, the same restore is refused before anything is written, and the hint
          // says what --clean does to a managed table; with --clean, the rows are replaced
          const again = await runCli(args, TOOLS);
          assertEquals(again.code, 1, again.stderr);
          assert(
            /auth\.users \(Supabase-managed table that already holds rows\)/.test(again.stderr),
            again.stderr,
          );
          assert(
            /^hint: add --clean to empty them and load the backup's rows/m.test(again.stderr),
            again.stderr,
          );
          const clean = await runCli([...args, "--clean"], TOOLS);
          assertEquals(clean.code, 0, `${clean.stdout}\n${clean.stderr}`);
          assertEquals(await q(newer, db2, users), await q(older, src, users));
        },
      );
      await t.step(
        "verify --drill as postgres into a scratch database: it names the extension it needs",
        async () => {
          // Vanilla PostgreSQL lets only a superuser create pg_stat_statements (hosted Supabase lets
          // postgres, through supautils): the drill stops at its first step, naming it, and changes nothing.
          const scratch = `drill_${Deno.pid}_${crypto.randomUUID().slice(0, 8)}`;
          await newer.sql(`create database "${scratch}" owner postgres`);
          const r = await runCli([
            "verify",
            "--out",
            root,
            "--drill",
            "--target-url",
            newer.url({ db: scratch, user: "postgres", password: PROJECT_PASSWORD }),
          ], TOOLS);
          assertEquals(r.code, 1, `${r.stdout}\n${r.stderr}`);
          assert(
            /^error: extension pg_stat_statements .*cannot be created in the target: .*permission denied/m
              .test(r.stderr),
            r.stderr,
          );
          assert(/nothing was changed/.test(r.stderr), r.stderr);
          assert(/^hint: .*as a superuser/m.test(r.stderr), r.stderr);
          assertEquals(
            await q(newer, scratch, "select count(*) from pg_namespace where nspname = 'auth'"),
            "0",
          );
          // As a superuser, the same drill matches every table.
          const scratch2 = `drill_${Deno.pid}_${crypto.randomUUID().slice(0, 8)}`;
          await newer.sql(`create database "${scratch2}"`);
          const ok2 = await runCli([
            "verify",
            "--out",
            root,
            "--drill",
            "--target-url",
            newer.url({ db: scratch2 }),
          ], TOOLS);
          assertEquals(ok2.code, 0, `${ok2.stdout}\n${ok2.stderr}`);
          assert(/(\d+)\/\1 tables match/.test(ok2.stdout), ok2.stdout);
        },
      );
      await t.step(
        "restore --roles: the backup's own roles (a hostile name) come, the project's parameter privileges stay",
        async () => {
          // roles.sql of a project holds pg_dumpall's GRANT SET ON PARAMETER … TO postgres (Supabase's
          // own, file 9040 here); postgres may not grant them again, so each warned "no privileges were
          // granted" on a restore that was otherwise clean (found on the end-to-end run).
          const role = 'app;role "x"\nnl';
          const ident = `"${role.replaceAll('"', '""')}"`;
          await older.sql(
            `create role ${ident} nologin; grant select on public.profiles to ${ident};
             create policy "hostile pol" on public.profiles for select to ${ident} using (true);`,
            { db: src },
          );
          const root2 = await Deno.makeTempDir({ prefix: "supabase-restore-roles-" });
          try {
            const b2 = await runCli(["backup", "--db-url", srcUrl, "--out", root2, "--yes"], TOOLS);
            assert(b2.code === 0 || b2.code === 3, `backup: exit ${b2.code}\n${b2.stderr}`);
            const roles = await Deno.readTextFile(`${root2}/latest/roles.sql`);
            assert(/^GRANT SET ON PARAMETER session_replication_role TO postgres;$/m.test(roles), roles);
            const db2 = await newDb(newer);
            const url2 = newer.url({ db: db2, user: "postgres", password: PROJECT_PASSWORD });
            const r = await runCli(["restore", "--out", root2, "--roles"], {
              ...TOOLS,
              RESTORE_DB_URL: url2,
            });
            assertEquals(r.code, 0, `${r.stdout}\n${r.stderr}`);
            const all = r.stdout + r.stderr;
            assert(!/warning/i.test(all), all);
            assert(
              /roles: creating 1 role\(s\), \d+ parameter privilege\(s\) of roles the target has left as/
                .test(all),
              all,
            );
            const lit = `'${role.replaceAll("'", "''")}'`;
            assertEquals(
              await q(
                newer,
                db2,
                `select count(*) from pg_policy p join pg_roles r on r.oid = any(p.polroles)
                where p.polname = 'hostile pol' and r.rolname = ${lit}`,
              ),
              "1",
            );
            assertEquals(
              await q(newer, db2, `select has_table_privilege(${lit}, 'public.profiles', 'select')`),
              "t",
            );
          } finally {
            await Deno.remove(root2, { recursive: true });
          }
        },
      );
    } finally {
      await older.stop();
      await Deno.remove(root, { recursive: true });
    }
  },
});
