/**
 * A restore as a plain non-superuser into plain PostgreSQL (issue 12, item 5), on PostgreSQL 15 and 17
 * with the real CLI: into an empty database it owns, a backup with foreign keys and triggers restores
 * without `session_replication_role` (the tables it creates need none), identically. Rows into tables
 * that already exist need it: without the right the restore (and its dry run) stops with exit 2 before
 * writing anything, with the `GRANT SET ON PARAMETER` hint; after that grant it goes through.
 * @module
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { clientBinDir } from "../dev/pgenv.ts";
import { runCli } from "./support/cli.ts";
import { sharedCluster } from "./support/cluster.ts";
import { tableFingerprints } from "./support/fixture.ts";
import { tallied } from "./support/tally.ts";

const TOOLS = { PG_BIN: clientBinDir() };

for (const major of [15, 17] as const) {
  Deno.test({
    name: `a non-superuser restores into plain PostgreSQL or stops before writing (PostgreSQL ${major})`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async (t) => {
      const c = await sharedCluster(major);
      const src = await c.createDatabase();
      const user = `restorer_${major}_${crypto.randomUUID().slice(0, 8)}`;
      const password = crypto.randomUUID();
      await c.sql(
        `create schema app;
         create table app.customers (id int primary key, name text not null);
         create table app.orders (id int primary key, customer int not null references app.customers,
                                  total numeric not null);
         create function app.no_negative() returns trigger language plpgsql as
           $$ begin if new.total < 0 then raise exception 'negative'; end if; return new; end $$;
         create trigger orders_check before insert on app.orders for each row execute function app.no_negative();
         insert into app.customers select g, 'c' || g from generate_series(1, 50) g;
         insert into app.orders select g, 1 + g % 50, g * 1.5 from generate_series(1, 200) g;`,
        { db: src },
      );
      await c.sql(`create role ${user} login password '${password}'`);
      const root = await Deno.makeTempDir({ prefix: `nonsuper-${major}-` });
      try {
        const b = await runCli(["backup", "--db-url", c.url({ db: src }), "--out", root, "--yes"], TOOLS);
        assertEquals(b.code, 0, b.stderr);
        const want = await tableFingerprints(c, src);
        const own = async () => {
          const db = await c.createDatabase();
          await c.sql(`alter database "${db}" owner to ${user}`);
          await c.sql(`alter schema public owner to ${user}`, { db });
          return { db, url: c.url({ db, user, password }) };
        };

        await t.step("into an empty database it owns: no replica needed, identical", async () => {
          await tallied("non-superuser restores", async () => {
            const { db, url } = await own();
            const r = await runCli(["restore", "--out", root, "--target-url", url, "--yes"], TOOLS);
            assertEquals(r.code, 0, r.stderr);
            assertEquals(await tableFingerprints(c, db), want);
            const triggers = await c.sql(`select count(*) from pg_trigger where tgname = 'orders_check'`, {
              db,
            });
            assertEquals(triggers.trim(), "1");
          });
        });

        await t.step("rows into existing tables without the right: exit 2, nothing written", async () => {
          await tallied("non-superuser restores", async () => {
            const { db, url } = await own();
            const s = await runCli(
              ["restore", "--out", root, "--target-url", url, "--schema-only", "--yes"],
              TOOLS,
            );
            assertEquals(s.code, 0, s.stderr);
            for (const args of [["--data-only", "--dry-run"], ["--data-only", "--yes"]]) {
              const r = await runCli(["restore", "--out", root, "--target-url", url, ...args], TOOLS);
              assertEquals(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
              ok(r.stderr.includes("session_replication_role = replica"), r.stderr);
              ok(r.stderr.includes(`GRANT SET ON PARAMETER session_replication_role TO ${user}`), r.stderr);
            }
            assertEquals((await c.sql(`select count(*) from app.orders`, { db })).trim(), "0");
            // With the right, the same restore goes through.
            await c.sql(`grant set on parameter session_replication_role to ${user}`);
            try {
              const r = await runCli(
                ["restore", "--out", root, "--target-url", url, "--data-only", "--yes"],
                TOOLS,
              );
              assertEquals(r.code, 0, r.stderr);
              assertEquals(await tableFingerprints(c, db), want);
            } finally {
              await c.sql(`revoke set on parameter session_replication_role from ${user}`);
            }
          });
        });
      } finally {
        await Deno.remove(root, { recursive: true });
      }
    },
  });
}
