/**
 * A restore checks the roles the backup's policies are granted to before it writes anything
 * (issue 16, item 15), on PostgreSQL 15 and 17 with the real CLI and pg_restore/psql 17: a backup
 * whose policy names a role the target cluster lacks stops with exit 2, a one-line error naming the
 * role and a hint (`--roles`, CREATE ROLE), and the target unchanged; with `--roles` (roles.sql
 * creates the role) the same restore goes through with the policy in place. `--dry-run` (text and
 * `--json`) prints its plan and exits with the same error. The policy's name is
 * hostile (`x TO evil`), and cannot move the role list; the role's name holds a line break (and
 * `error: forged` after it): the error and the hint show it as `U&"…"`, on their one line.
 * @module
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { clientBinDir } from "../dev/pgenv.ts";
import { sqlIdent } from "../lib/pg/ident.ts";
import { runCli } from "./support/cli.ts";
import { type Cluster, sharedCluster } from "./support/cluster.ts";
import { tallied } from "./support/tally.ts";

const TOOLS = { PG_BIN: clientBinDir() };

async function relations(c: Cluster, db: string): Promise<string> {
  return await c.sql(
    `select coalesce(string_agg(n.nspname || '.' || c.relname, ',' order by 1), '') from pg_class c
       join pg_namespace n on n.oid = c.relnamespace
      where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_(toast|temp)'`,
    { db },
  );
}

for (const major of [15, 17] as const) {
  Deno.test({
    name: `policies naming a role the target lacks stop the restore before it writes (PostgreSQL ${major})`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async (t) => {
      const c = await sharedCluster(major);
      const src = await c.createDatabase();
      const role = `reader_${major}_${crypto.randomUUID().slice(0, 8)}\nerror: forged`;
      const shown = sqlIdent(role); // U&"reader_…\000aerror: forged"
      await c.sql(
        `create role ${shown} nologin;
         create schema app;
         create table app.notes (id int primary key, body text);
         insert into app.notes select g, 'n' || g from generate_series(1, 20) g;
         alter table app.notes enable row level security;
         create policy "x TO evil, postgres" on app.notes for select to ${shown} using (true);`,
        { db: src },
      );
      const root = await Deno.makeTempDir({ prefix: `policy-roles-${major}-` });
      try {
        const b = await runCli(["backup", "--db-url", c.url({ db: src }), "--out", root, "--yes"], TOOLS);
        ok(b.code === 0, b.stderr);
        // The role goes away (with its policy) in the cluster: the backup still names it.
        await c.sql(`drop policy "x TO evil, postgres" on app.notes; drop role ${shown};`, { db: src });

        await t.step("without the role: exit 2 before anything is written", async () => {
          await tallied("policy role checks", async () => {
            const db = await c.createDatabase();
            const before = await relations(c, db);
            const r = await runCli(["restore", "--out", root, "--target-url", c.url({ db }), "--yes"], TOOLS);
            assertEquals(r.code, 2, r.stderr);
            const lines = r.stderr.trim().split("\n");
            const error = lines.find((l) => l.startsWith("error: "))!;
            ok(
              error.startsWith(`error: 1 policy of the backup name role(s) the target lacks: ${shown} `),
              r.stderr,
            );
            ok(error.includes(`policy "x TO evil, postgres" on app.notes for ${shown})`), error);
            ok(!lines.some((l) => l.startsWith("error: forged")), r.stderr);
            const hint = lines.find((l) => l.startsWith("hint: "))!;
            ok(hint.includes("restore with --roles") && hint.includes(`CREATE ROLE ${shown} NOLOGIN;`), hint);
            assertEquals(await relations(c, db), before);
            // The dry run says the same, after its plan, with the same exit code.
            const dry = await runCli(
              ["restore", "--out", root, "--target-url", c.url({ db }), "--dry-run"],
              TOOLS,
            );
            assertEquals(dry.code, 2, dry.stderr);
            ok(dry.stdout.startsWith("Dry run: the restore would stop before writing anything"), dry.stdout);
            ok(dry.stdout.includes("  schema app (created)"), dry.stdout);
            ok(dry.stderr.includes(error), dry.stderr);
            const json = await runCli(
              ["restore", "--out", root, "--target-url", c.url({ db }), "--dry-run", "--json"],
              TOOLS,
            );
            assertEquals(json.code, 2, json.stderr);
            const plan = JSON.parse(json.stdout);
            ok(plan.stop.error.includes(shown), json.stdout);
            assertEquals(plan.schemas, [{ name: "app", mode: "create" }, {
              name: "public",
              mode: "into-existing",
            }]);
            assertEquals(plan.tables.map((x: { table: string; action: string }) => [x.table, x.action]), [
              ["notes", "create"],
            ]);
            const fine = await runCli(
              ["restore", "--out", root, "--target-url", c.url({ db }), "--dry-run", "--roles"],
              TOOLS,
            );
            assertEquals(fine.code, 0, fine.stderr);
            ok(fine.stdout.startsWith("Dry run: nothing changed."), fine.stdout);
            assertEquals(await relations(c, db), before);
          });
        });

        await t.step("with --roles: roles.sql creates it, the policy is restored", async () => {
          await tallied("policy role checks", async () => {
            const db = await c.createDatabase();
            const r = await runCli(
              ["restore", "--out", root, "--target-url", c.url({ db }), "--roles", "--yes"],
              TOOLS,
            );
            assertEquals(r.code, 0, r.stderr);
            const got = await c.sql(
              `select polname || ' ' || array_to_string(array(select rolname from pg_roles where oid = any(polroles)), ',')
                 from pg_policy where polrelid = 'app.notes'::regclass`,
              { db },
            );
            assertEquals(got.trim(), `x TO evil, postgres ${role}`);
            assertEquals((await c.sql(`select count(*) from app.notes`, { db })).trim(), "20");
          });
        });
      } finally {
        await Deno.remove(root, { recursive: true });
        await c.sql(`drop role if exists ${shown}`).catch(() => {});
      }
    },
  });
}
