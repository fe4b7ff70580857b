/**
 * Hostile names on PostgreSQL 15 and 17 with the real CLI.
 *
 * A table and a column whose names hold a newline, quotes, `;`, `--` and `\` (so pg_dump's
 * `COPY … FROM stdin;` header spans several lines), on PostgreSQL 15 and 17 with the real CLI: the
 * manifest counts exactly the table's rows, the data split into parts by --max-file-size restores
 * part by part with psql and with `restore --table` to identical content, and `verify --drill`
 * matches every table, and `--dry-run` names the table it cannot read as SQL does (`U&"…"`).
 *
 * Names that case-insensitive, normalising file systems (APFS, NTFS) would merge: schemas `É` and
 * `é`, and tables `café` (NFC), `café` (NFD), `K`, the Kelvin sign and `k`. Every table gets its own
 * folder, distinct even after case folding and normalisation, and a restore gives identical rows.
 *
 * A schema and an owner whose names hold a line break (`pg_restore -l` lists it as a space): restore
 * --table keeps the table's comments and grants.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { clientBinDir } from "../dev/pgenv.ts";
import type { Manifest } from "../lib/store/manifest.ts";
import { qualified, quoteIdent, sqlQualified } from "../lib/pg/ident.ts";
import { listFiles, runCli } from "./support/cli.ts";
import { sharedCluster } from "./support/cluster.ts";
import { loadFixture, tableFingerprints } from "./support/fixture.ts";
import { psql } from "./support/psql.ts";

const TOOLS = { PG_BIN: clientBinDir() };
/**
 * Hostile table and column names: each line of the COPY statement after the first looks like a
 * row; in the second table, a `\.` line looks like the end of the data and a `FROM stdin;` line
 * like the statement's end.
 */
const NAMES: [table: string, column: string][] = [
  ['evil\n1\tx\n"; -- \\ y', 'note\n2\ty\n-- ";'],
  ['evil\n\\.\nFROM stdin;\n"\n end', 'note\n\\.\n-- ";'],
];
const TABLES = NAMES.map(([table]) => table);
const ROWS = 50;

for (const major of [15, 17] as const) {
  Deno.test({
    name: `a COPY header spanning lines on PostgreSQL ${major}: exact rows, split parts restore identically`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async (t) => {
      const c = await sharedCluster(major);
      const db = await c.createDatabase();
      const tables = TABLES.map((n) => `app.${quoteIdent(n)}`);
      await c.sql(
        `create schema app;
         create table app.plain (id int primary key);
         insert into app.plain values (1), (2), (3);
         ${
          tables.map((tb, i) =>
            `create table ${tb} (id int primary key, ${quoteIdent(NAMES[i][1])} text);
             comment on table ${tb} is 'table ${i}';
             comment on column ${tb}.${quoteIdent(NAMES[i][1])} is 'column ${i}';
             insert into ${tb} select g, repeat(md5(g::text), 4) || E'\\nline\\t' || g
               from generate_series(1, ${ROWS}) g;`
          ).join("\n")
        }
         grant usage on schema app to postgres; grant select on all tables in schema app to postgres;`,
        { db },
      );
      const { url } = await loadFixture(c, db, { app: false });
      const root = await Deno.makeTempDir({ prefix: "sb-copyheader-" });
      try {
        const r = await runCli(
          ["backup", "--db-url", url, "--out", root, "--yes", "--schema", "app", "--max-file-size", "2KB"],
          TOOLS,
        );
        assertEquals(r.code, 0, r.stderr);
        const dir = `${root}/latest`;
        const m: Manifest = JSON.parse(await Deno.readTextFile(`${dir}/manifest.json`));
        const app = m.schemas.find((s) => s.name === "app")!;
        const source = await tableFingerprints(c, db, [...tables, "app.plain"]);

        await t.step("the manifest counts every table's rows exactly", () => {
          for (const name of TABLES) {
            const evil = app.tables.find((tb) => tb.name === name)!;
            assertEquals(evil.rows, ROWS, name);
            assert(evil.dataFiles.length >= 3, `data parts of ${name}: ${evil.dataFiles.length}`);
          }
          assertEquals(app.tables.find((tb) => tb.name === "plain")!.rows, 3);
        });

        // pg_dump 17 writes SET transaction_timeout, which a PostgreSQL 15 server refuses: plain
        // psql runs these files against 17 only (restore and the drill leave the setting out for 15).
        if (major === 17) {
          await t.step("schema.sql, then each part with psql, give identical rows", async () => {
            const target = await c.createDatabase();
            await c.sql("create schema app", { db: target });
            for (const tb of app.tables) {
              for (const f of [tb.schemaFile, ...tb.dataFiles]) {
                await psql(c, target, ["-1", "-f", `${dir}/${f}`]);
              }
            }
            assertEquals(await tableFingerprints(c, target, [...tables, "app.plain"]), source);
          });
        }

        // The table's comments and privileges are in its schema.sql: pg_dump names the table in their
        // entries quoted, as SQL does.
        const extras = (db: string, table: string) =>
          c.sql(
            `select relacl::text, obj_description(oid, 'pg_class'), col_description(oid, 2) from pg_class
              where oid = '${table.replaceAll("'", "''")}'::regclass`,
            { db },
          );
        await t.step(
          "restore --table restores each split table identically, with comments and privileges",
          async () => {
            for (const table of tables) {
              const target = await c.createDatabase();
              const rr = await runCli(
                ["restore", "--out", root, "--target-url", c.url({ db: target }), "--table", table],
                TOOLS,
              );
              assertEquals(rr.code, 0, rr.stderr);
              const got = await tableFingerprints(c, target, [table]);
              assertEquals(got, new Map([[table, source.get(table)]]));
              const want = await extras(db, table);
              assert(/postgres=r\//.test(want) && /table \d/.test(want) && /column \d/.test(want), want);
              assertEquals(await extras(target, table), want);
            }
          },
        );

        await t.step("restore --exclude-table leaves out a hostile table with its comments", async () => {
          const target = await c.createDatabase();
          const rr = await runCli(
            ["restore", "--out", root, "--target-url", c.url({ db: target }), "--exclude-table", tables[0]],
            TOOLS,
          );
          assertEquals(rr.code, 0, rr.stderr);
          const kept = [tables[1], "app.plain"];
          assertEquals(await tableFingerprints(c, target, kept), await tableFingerprints(c, db, kept));
          assertEquals(
            (await c.sql(
              "select count(*) from pg_class where relnamespace = 'app'::regnamespace and relkind = 'r'",
              {
                db: target,
              },
            )).trim(),
            "2",
          );
        });

        await t.step("verify --drill matches every table", async () => {
          const target = await c.createDatabase();
          const v = await runCli(
            ["verify", "--out", root, "--drill", "--target-url", c.url({ db: target })],
            TOOLS,
          );
          assertEquals(v.code, 0, v.stderr + v.stdout);
        });

        await t.step("--dry-run names a table it cannot read as SQL does, on one line", async () => {
          await c.sql(`revoke select on ${tables[0]} from postgres`, { db });
          try {
            const dry = await runCli([
              "backup",
              "--db-url",
              url,
              "--out",
              root,
              "--schema",
              "app",
              "--dry-run",
            ], TOOLS);
            assertEquals(dry.code, 0, dry.stderr);
            const skip = dry.stdout.split("\n").filter((l) => l.startsWith("skip "));
            assertEquals(skip.map((l) => l.slice(0, l.indexOf(": permission denied"))), [
              `skip ${sqlQualified("app", TABLES[0])}`,
            ]);
            assert(skip[0].startsWith('skip app.U&"evil\\000a1\\0009x\\000a""; -- \\\\ y": '), skip[0]);
          } finally {
            await c.sql(`grant select on ${tables[0]} to postgres`, { db });
          }
        });
      } finally {
        await Deno.remove(root, { recursive: true });
      }
    },
  });
}

const FOLD_SCHEMAS = ["É", "é"];
const FOLD_TABLES = ["caf\u00e9", "cafe\u0301", "K", "\u212a", "k"];
/** What APFS does to a name, roughly: normalise, then compare case-insensitively. */
const fold = (s: string) => s.normalize("NFD").toUpperCase().toLowerCase().normalize("NFKC");

for (const major of [15, 17] as const) {
  Deno.test({
    name: `names that differ only by case or normalisation get distinct folders on PostgreSQL ${major}`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      const c = await sharedCluster(major);
      const db = await c.createDatabase();
      const tables = FOLD_SCHEMAS.flatMap((s) => FOLD_TABLES.map((t) => qualified(s, t)));
      await c.sql(
        FOLD_SCHEMAS.map((s) => `create schema ${quoteIdent(s)};`).join("\n") +
          tables.map((t, i) => `create table ${t} (id int primary key); insert into ${t} values (${i});`)
            .join("\n"),
        { db },
      );
      const root = await Deno.makeTempDir({ prefix: "sb-foldnames-" });
      try {
        const r = await runCli(
          [
            "backup",
            "--db-url",
            c.url({ db }),
            "--out",
            root,
            "--yes",
            ...FOLD_SCHEMAS.flatMap((s) => ["--schema", s]),
          ],
          TOOLS,
        );
        assertEquals(r.code, 0, r.stderr);
        const m: Manifest = JSON.parse(await Deno.readTextFile(`${root}/latest/manifest.json`));
        const folders = m.schemas.flatMap((s) =>
          s.tables.map((t) => t.schemaFile.split("/").slice(0, 3).join("/"))
        );
        assertEquals(folders.length, tables.length);
        assertEquals(new Set(folders.map(fold)).size, tables.length, folders.join(", "));
        const onDisk = (await listFiles(`${root}/latest`)).filter((f) => f.endsWith("/schema.sql"));
        assertEquals(onDisk.length, tables.length);
        const target = await c.createDatabase();
        const rr = await runCli(["restore", "--out", root, "--target-url", c.url({ db: target })], TOOLS);
        assertEquals(rr.code, 0, rr.stderr);
        const want = await tableFingerprints(c, db, tables);
        assert(want.size === tables.length);
        assertEquals(await tableFingerprints(c, target, tables), want);
      } finally {
        await Deno.remove(root, { recursive: true });
      }
    },
  });

  Deno.test(`a schema and an owner whose names hold a line break on PostgreSQL ${major}: restore --table keeps the table's comment and grants`, async () => {
    const c = await sharedCluster(major);
    const db = await c.createDatabase();
    const schema = "line\nbreak";
    const owner = `own\ner_${crypto.randomUUID().slice(0, 8)}`;
    const table = `${quoteIdent(schema)}.t`;
    await c.sql(
      `create role ${quoteIdent(owner)};
       create schema ${quoteIdent(schema)};
       create table ${table} (id int primary key, v text);
       alter table ${table} owner to ${quoteIdent(owner)};
       comment on table ${table} is 'the table';
       comment on column ${table}.v is 'the column';
       grant select on ${table} to postgres;
       insert into ${table} values (1, 'a');`,
      { db },
    );
    const root = await Deno.makeTempDir({ prefix: "sb-linebreak-" });
    try {
      const r = await runCli(["backup", "--db-url", c.url({ db }), "--out", root, "--yes"], TOOLS);
      assertEquals(r.code, 0, r.stderr);
      const target = await c.createDatabase();
      const rr = await runCli(
        ["restore", "--out", root, "--target-url", c.url({ db: target }), "--yes", "--table", table],
        TOOLS,
      );
      assertEquals(rr.code, 0, rr.stderr);
      const extras = (d: string) =>
        c.sql(
          `select relacl::text, obj_description(oid, 'pg_class'), col_description(oid, 2) from pg_class
            where oid = '${table.replaceAll("'", "''")}'::regclass`,
          { db: d },
        );
      const want = await extras(db);
      assert(/postgres=r\//.test(want) && /the table/.test(want) && /the column/.test(want), want);
      assertEquals(await extras(target), want);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });
}
