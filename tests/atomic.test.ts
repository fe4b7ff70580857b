/**
 * All or nothing (issue 12, item 2), on PostgreSQL 15 and 17 with the real CLI and real pg_restore/psql 17:
 * a restore that fails late (an index the target refuses, after every row is in) or on a bad row leaves the
 * target exactly as it found it: same relations, schemas, roles, extensions and rows.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { clientBinDir } from "../dev/pgenv.ts";
import type { Manifest } from "../lib/store/manifest.ts";
import { runCli } from "./support/cli.ts";
import { type Cluster, sharedCluster } from "./support/cluster.ts";
import { FIXTURE, loadFixture } from "./support/fixture.ts";
import { tallied } from "./support/tally.ts";
import { rewriteBackupFile } from "./support/manifest.ts";

const TOOLS = { PG_BIN: clientBinDir() };

/** Everything a restore could leave behind in `db`, as one comparable text. */
async function fingerprint(c: Cluster, db: string): Promise<string> {
  return await c.sql(
    `select 'rel ' || string_agg(n.nspname || '.' || c.relname || ':' || c.relkind::text, ',' order by 1)
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_(toast|temp)';
     select 'nsp ' || string_agg(nspname || ':' || pg_get_userbyid(nspowner), ',' order by 1) from pg_namespace;
     select 'ext ' || string_agg(extname, ',' order by 1) from pg_extension;
     select 'fn ' || count(*) from pg_proc where pronamespace not in ('pg_catalog'::regnamespace, 'information_schema'::regnamespace);
     select 'roles ' || string_agg(rolname, ',' order by 1) from pg_roles;`,
    { db },
  );
}

for (const major of [15, 17] as const) {
  Deno.test({
    name: `a failed restore leaves the target as it was, on PostgreSQL ${major}`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async (t) => {
      const c = await sharedCluster(major);
      const src = await c.createDatabase();
      const fx = await loadFixture(c, src);
      const root = await Deno.makeTempDir({ prefix: `atomic-${major}-` });
      try {
        const b = await runCli(["backup", "--db-url", fx.url, "--out", root, "--yes"], TOOLS);
        assert(b.code === 0 || b.code === 3, b.stderr);

        await t.step(
          "failing at the last index, after all rows: nothing stays (a Supabase-shaped target)",
          async () => {
            await tallied("faults", async () => {
              const db = await c.createDatabase();
              const target = await loadFixture(c, db, { app: false });
              // The target refuses one index of the backup, late in the restore (post-data).
              await c.sql(
                `create function public.no_index() returns event_trigger language plpgsql as $$
                 begin if exists (select 1 from pg_event_trigger_ddl_commands() where object_identity like '%projects_owner%')
                 then raise exception 'index refused by the target'; end if; end $$;
               create event trigger no_index on ddl_command_end when tag in ('CREATE INDEX') execute function public.no_index();`,
                { db },
              );
              const before = await fingerprint(c, db);
              const r = await runCli(["restore", "--out", root, "--target-url", target.url], TOOLS);
              assertEquals(r.code, 1, r.stderr);
              assert(/index refused by the target/.test(r.stderr), r.stderr);
              assert(/nothing was changed/.test(r.stderr), r.stderr);
              assertEquals(await fingerprint(c, db), before);
            });
          },
        );

        await t.step("a bad row in a table's data file: nothing stays, not even the table", async () => {
          await tallied("faults", async () => {
            const copy = `${root}-bad`;
            const cp = await new Deno.Command("cp", { args: ["-a", root, copy] }).output();
            assert(cp.success);
            try {
              const dir = `${copy}/latest`;
              const m = JSON.parse(await Deno.readTextFile(`${dir}/manifest.json`)) as Manifest;
              const s = m.schemas.find((x) => x.name === "public")!;
              const table = s.tables.find((x) =>
                x.kind !== "p" && (x.rows ?? 0) > 1 && x.dataFiles.length === 1
              )!;
              const rel = table.dataFiles[0];
              // The last row gets a column too many (as a damaged or hand-edited backup would).
              const original = await Deno.readTextFile(`${dir}/${rel}`);
              const text = await rewriteBackupFile(dir, rel, (s) => s.replace(/\n\\\.\n/, "\textra\n\\.\n"));
              assert(text !== original, `${rel} has no COPY data to damage`);
              const db = await c.createDatabase();
              const before = await fingerprint(c, db);
              const r = await runCli(
                ["restore", "--out", copy, "--target-url", c.url({ db }), "--table", `public.${table.name}`],
                TOOLS,
              );
              assertEquals(r.code, 1, r.stderr);
              assert(/extra data after last expected column|nothing was changed/.test(r.stderr), r.stderr);
              assertEquals(await fingerprint(c, db), before);
            } finally {
              await Deno.remove(copy, { recursive: true });
            }
          });
        });

        await t.step(
          "a damaged table file that a whole restore checks while it runs: refused, nothing stays",
          async () => {
            await tallied("faults", async () => {
              const copy = `${root}-damaged`;
              const cp = await new Deno.Command("cp", { args: ["-a", root, copy] }).output();
              assert(cp.success);
              try {
                const dir = `${copy}/latest`;
                const m = JSON.parse(await Deno.readTextFile(`${dir}/manifest.json`)) as Manifest;
                // The last table's data file of public: the schema is restored from its dump, so this
                // file is not read, only checked, last and while the restore runs.
                const s = m.schemas.find((x) => x.name === "public")!;
                const rel = s.tables.findLast((x) => x.dataFiles.length > 0)!.dataFiles.at(-1)!;
                // Changed without its checksum: a damaged file, not a tampered backup.
                await Deno.writeTextFile(`${dir}/${rel}`, "-- damaged\n", { append: true });
                const db = await c.createDatabase();
                const target = await loadFixture(c, db, { app: false });
                const before = await fingerprint(c, db);
                const r = await runCli(["restore", "--out", copy, "--target-url", target.url], TOOLS);
                assertEquals(r.code, 1, r.stderr);
                assert(r.stderr.includes(`backup file ${rel} is damaged`), r.stderr);
                assertEquals(await fingerprint(c, db), before);
              } finally {
                await Deno.remove(copy, { recursive: true });
              }
            });
          },
        );

        await t.step("the same restore without the trap succeeds into the same kind of target", async () => {
          const db = await c.createDatabase();
          const target = await loadFixture(c, db, { app: false });
          const r = await runCli(["restore", "--out", root, "--target-url", target.url], TOOLS);
          assertEquals(r.code, 0, r.stderr);
          assertEquals((await c.sql(`select count(*) > 0 from ${FIXTURE.partitioned}`, { db })).trim(), "t");
        });
      } finally {
        await Deno.remove(root, { recursive: true });
      }
    },
  });
}
