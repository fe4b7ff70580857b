/**
 * Restore round trips on the Supabase-shaped fixture, on PostgreSQL 15 and 17, with the real CLI and
 * real pg_dump/pg_restore/psql 17: (a) everything into an empty database as superuser, (b) into a
 * fresh Supabase-shaped project as `postgres`, (c) one table, (d) one schema, (e) from an archive;
 * plus the guard. Every case compares row counts and content hashes with the source.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { clientBinDir } from "../dev/pgenv.ts";
import type { Manifest } from "../lib/store/manifest.ts";
import { type CliResult, runCli } from "./support/cli.ts";
import { type Cluster, sharedCluster } from "./support/cluster.ts";
import { FIXTURE, FIXTURE_PASSWORD, loadFixture, tableFingerprints } from "./support/fixture.ts";
import { isServiceTable } from "../lib/restore/plan.ts";
import { qualified } from "../lib/pg/ident.ts";

const TOOLS = { PG_BIN: clientBinDir() };

type Prints = Map<string, { rows: number; md5: string }>;

/** A backup of the fixture on one cluster, and the source's fingerprints at that time. */
interface Source {
  cluster: Cluster;
  db: string;
  url: string;
  root: string;
  manifest: Manifest;
  prints: Prints;
}

function noErrors(r: CliResult, what: string): void {
  assert(r.code === 0, `${what}: exit ${r.code}\n${r.stderr}`);
  assert(!/error/i.test(r.stderr), `${what}: stderr mentions an error:\n${r.stderr}`);
}

async function backup(url: string, root: string): Promise<CliResult> {
  const r = await runCli(["backup", "--db-url", url, "--out", root, "--yes"], TOOLS);
  // exit 3: partial, the fixture has one table postgres cannot read
  assert(r.code === 0 || r.code === 3, `backup failed (${r.code}):\n${r.stderr}`);
  return r;
}

async function prepare(major: 15 | 17): Promise<Source> {
  const cluster = await sharedCluster(major);
  const db = await cluster.createDatabase();
  const fx = await loadFixture(cluster, db);
  const root = await Deno.makeTempDir({ prefix: `restore-test-${major}-` });
  await backup(fx.url, root);
  const manifest = JSON.parse(await Deno.readTextFile(`${root}/latest/manifest.json`)) as Manifest;
  return { cluster, db, url: fx.url, root, manifest, prints: await tableFingerprints(cluster, db) };
}

/**
 * Quoted `schema.table` of every table in the backup that holds rows itself (partitioned parents
 * are covered by their partitions), optionally only some schemas, optionally without the managed
 * migration tables a Supabase target keeps.
 */
function backedUp(m: Manifest, opts: { schemas?: string[]; withoutService?: boolean } = {}): string[] {
  return m.schemas.filter((s) => !opts.schemas || opts.schemas.includes(s.name)).flatMap((s) =>
    s.tables.filter((t) =>
      t.kind !== "p" && !(opts.withoutService && s.managed && isServiceTable(s.name, t.name))
    )
      .map((t) => qualified(s.name, t.name))
  );
}

/** Asserts that `tables` have the same row count and content hash in the restored database. */
async function assertSame(src: Source, db: string, tables: string[], what: string): Promise<void> {
  assert(tables.length > 0, `${what}: nothing to compare`);
  const got = await tableFingerprints(src.cluster, db);
  for (const t of tables) {
    const want = src.prints.get(t);
    assert(want, `${what}: source has no fingerprint for ${t}`);
    assertEquals(got.get(t), want, `${what}: ${t} differs (rows/md5)`);
  }
}

for (const major of [15, 17] as const) {
  Deno.test({
    name: `restore round trips on PostgreSQL ${major}`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async (t) => {
      const src = await prepare(major);
      const all = backedUp(src.manifest);
      assert(all.length >= 10, `the fixture backup holds only ${all.length} tables`);
      const superUrl = (db: string) => src.cluster.url({ db });
      const out = ["--out", src.root];

      await t.step("(a) everything into an empty database as superuser, with roles", async () => {
        const db = await src.cluster.createDatabase();
        const r = await runCli(["restore", ...out, "--target-url", superUrl(db), "--roles"], TOOLS);
        noErrors(r, "restore (a)");
        assert(/restored \d+ table\(s\)/.test(r.stdout), r.stdout);
        await assertSame(src, db, all, "(a)");

        // The guard: the same restore again is refused, naming a table, and changes nothing.
        const again = await runCli(["restore", ...out, "--target-url", superUrl(db)], TOOLS);
        assertEquals(again.code, 1, again.stderr);
        assert(
          /refusing to restore into .*: \d+ selected table\(s\) in the way/.test(again.stderr),
          again.stderr,
        );
        assert(/hint: .*--clean/.test(again.stderr), again.stderr);
        await assertSame(src, db, all, "(a) after the refused restore");

        // --clean: rows lost in the target come back; everything else stays identical.
        await src.cluster.sql("delete from public.projects where true", { db });
        const clean = await runCli(
          ["restore", ...out, "--target-url", superUrl(db), "--clean", "--schema", "public"],
          TOOLS,
        );
        noErrors(clean, "restore --clean");
        assert(clean.stderr.includes("--clean: dropping and recreating public."), clean.stderr);
        await assertSame(src, db, all, "(a) after --clean");

        // --dry-run prints the plan and changes nothing.
        const empty = await src.cluster.createDatabase();
        const dry = await runCli(["restore", ...out, "--target-url", superUrl(empty), "--dry-run"], TOOLS);
        assertEquals(dry.code, 0, dry.stderr);
        assert(dry.stdout.includes("Dry run: nothing changed."), dry.stdout);
        assert(/create \+ load/.test(dry.stdout), dry.stdout);
        assertEquals(
          (await src.cluster.sql(
            "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relkind = 'r'",
            { db: empty },
          )).trim(),
          "0",
        );
      });

      await t.step("(b) into a fresh Supabase-shaped project as postgres", async () => {
        const db = await src.cluster.createDatabase();
        const fx = await loadFixture(src.cluster, db, { app: false });
        const r = await runCli(["restore", ...out, "--target-url", fx.url], TOOLS);
        noErrors(r, "restore (b)");
        assert(r.stderr.includes("Supabase-managed, exists: rows only"), r.stderr);
        await assertSame(src, db, backedUp(src.manifest, { withoutService: true }), "(b)");
        // Privileges are the source's, not the target's default privileges (ALL to anon, … in public).
        const acls = (d: string) =>
          src.cluster.sql(
            "select c.relname || ' ' || coalesce(c.relacl::text, '-') from pg_class c " +
              "where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'S') order by 1",
            { db: d },
          );
        assertEquals(await acls(db), await acls(src.db), "(b): privileges on public differ");
      });

      await t.step("(c) one table alone, into an empty database as postgres", async () => {
        const db = await src.cluster.createDatabase();
        await src.cluster.sql(`alter database "${db}" owner to postgres`);
        const url = src.cluster.url({ db, user: "postgres", password: FIXTURE_PASSWORD });
        // a table in a quoted schema, with a quoted name: its schema and types come along
        const name = FIXTURE.quotedTable;
        const r = await runCli(["restore", ...out, "--target-url", url, "--table", name], TOOLS);
        noErrors(r, "restore (c)");
        await assertSame(src, db, [name], "(c)");
        // a partitioned table brings its partitions; its foreign key to auth.users is left out
        const r2 = await runCli(
          ["restore", ...out, "--target-url", url, "--table", FIXTURE.partitioned],
          TOOLS,
        );
        noErrors(r2, "restore (c) partitioned");
        await assertSame(src, db, [...FIXTURE.partitions], "(c) partitioned");
      });

      await t.step("(d) one schema alone, with a name that needs quoting", async () => {
        const db = await src.cluster.createDatabase();
        const r = await runCli(
          ["restore", ...out, "--target-url", superUrl(db), "--roles", "--schema", FIXTURE.quotedSchema],
          TOOLS,
        );
        noErrors(r, "restore (d)");
        await assertSame(src, db, backedUp(src.manifest, { schemas: [FIXTURE.quotedSchema] }), "(d)");
      });

      await t.step("(f) --exclude-table and --exclude-schema leave exactly those out", async () => {
        const db = await src.cluster.createDatabase();
        const r = await runCli([
          "restore",
          ...out,
          "--target-url",
          superUrl(db),
          "--roles",
          "--exclude-table",
          "public.waitlist",
          "--exclude-schema",
          FIXTURE.quotedSchema,
        ], TOOLS);
        noErrors(r, "restore (f)");
        assert((r.stdout + r.stderr).includes("public.waitlist is left out (--exclude-table)"), r.stderr);
        const rest = all.filter((x) =>
          x !== "public.waitlist" && !x.startsWith(`${qualified(FIXTURE.quotedSchema, "x").split(".")[0]}.`)
        );
        assert(rest.length < all.length - 1, "the exclusions left out nothing");
        await assertSame(src, db, rest, "(f)");
        assertEquals(
          (await src.cluster.sql("select to_regclass('public.waitlist') is null", { db })).trim(),
          "t",
        );
        const sales = `select count(*) from pg_namespace where nspname = '${
          FIXTURE.quotedSchema.replaceAll("'", "''")
        }'`;
        assertEquals((await src.cluster.sql(sales, { db })).trim(), "0");
      });

      await t.step("(e) from an archive, after a newer backup", async () => {
        // change the source, back up again: the first backup moves to archive/
        await src.cluster.sql("update public.profiles set full_name = full_name || ' (changed)'", {
          db: src.db,
        });
        await backup(src.url, src.root);
        const archives = [...Deno.readDirSync(`${src.root}/archive`)].map((e) => e.name);
        assertEquals(archives.length, 1, `archives: ${archives}`);
        const db = await src.cluster.createDatabase();
        const r = await runCli(
          ["restore", ...out, "--from", archives[0], "--target-url", superUrl(db), "--roles"],
          TOOLS,
        );
        noErrors(r, "restore (e)");
        await assertSame(src, db, all, "(e) archive = source at the first backup");
        const now = await tableFingerprints(src.cluster, src.db);
        assert(
          all.some((x) => JSON.stringify(now.get(x)) !== JSON.stringify(src.prints.get(x))),
          "(e): the source did not change between the two backups",
        );
      });

      await Deno.remove(src.root, { recursive: true });
    },
  });
}
