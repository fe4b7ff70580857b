/**
 * Correctness at scale (issue 17), small enough for CI: 300 schemas with one table each (grouped:
 * a few pg_dump runs cut into one archive per schema, with foreign keys and a view across schemas),
 * 2,000 tables in `public`, and one 20 MB bytea value, on PostgreSQL 17. The backup verifies, restores
 * into an empty database, and every table has the same rows and content hash as the source. Speed
 * and memory are measured by the benchmark (bench/bench.ts), not here.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { clientBinDir } from "../dev/pgenv.ts";
import type { Manifest } from "../lib/store/manifest.ts";
import { runCli } from "./support/cli.ts";
import { sharedCluster } from "./support/cluster.ts";
import { tableFingerprints } from "./support/fixture.ts";
import { startProxy } from "./support/proxy.ts";

const TOOLS = { PG_BIN: clientBinDir() };
const SCHEMAS = 300;
const TABLES = 2000;
const BIG_MB = 20;

/** The dataset's SQL: schemas t001…, each with one table (some referencing the previous one), then `public`. */
function datasetSql(): string[] {
  const out: string[] = [];
  for (let i = 1; i <= SCHEMAS; i++) {
    const s = `t${String(i).padStart(3, "0")}`;
    const fk = i > 1 && i % 3 === 0 ? `, prev int references t${String(i - 1).padStart(3, "0")}.items` : "";
    out.push(
      `create schema ${s};
       create table ${s}.items (id int primary key, note text${fk});
       insert into ${s}.items select g, '${s} ' || g${fk ? ", 1" : ""} from generate_series(1, ${
        i % 7 + 1
      }) g;`,
    );
    if (i % 50 === 0) {
      out.push(`create view ${s}.both as select a.id from ${s}.items a join t001.items b using (id);`);
    }
  }
  const pub: string[] = [];
  for (let i = 1; i <= TABLES; i++) {
    pub.push(
      `create table public.p${i} (id int primary key, v text);
       insert into public.p${i} select g, md5(g::text) from generate_series(1, ${i % 5}) g;`,
    );
  }
  for (let i = 0; i < pub.length; i += 200) out.push(pub.slice(i, i + 200).join("\n"));
  // MD5 digests do not compress: the dump holds the whole 20 MB.
  out.push(
    `create table public.big_value (id int primary key, b bytea);
     insert into public.big_value select 1, string_agg(decode(md5(g::text), 'hex'), ''::bytea order by g)
       from generate_series(1, ${BIG_MB * 65536}) g;`,
  );
  return out;
}

Deno.test({
  name: "300 schemas, 2,000 tables and a 20 MB value: backup, verify, restore, same rows",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const c = await sharedCluster(17);
    const db = await c.createDatabase();
    for (const sql of datasetSql()) await c.sql(sql, { db });
    await c.sql("analyze", { db });
    const root = await Deno.makeTempDir({ prefix: "sb-scale-" });
    try {
      const b = await runCli(
        ["backup", "--out", root, "--yes", "--jobs", "4"],
        { ...TOOLS, SUPABASE_DB_URL: c.url({ db }) },
      );
      assertEquals(b.code, 0, b.stderr);
      assert(!/warning/.test(b.stderr), b.stderr);
      const m: Manifest = JSON.parse(await Deno.readTextFile(`${root}/latest/manifest.json`));
      const names = m.schemas.map((s) => s.name);
      assertEquals(names.filter((n) => /^t\d{3}$/.test(n)).length, SCHEMAS);
      const pub = m.schemas.find((s) => s.name === "public")!;
      assertEquals(pub.tables.length, TABLES + 1);
      assertEquals(pub.tables.find((t) => t.name === "big_value")!.rows, 1);
      for (const s of m.schemas.filter((x) => x.name.startsWith("t"))) {
        assertEquals(s.tables.map((t) => t.name), ["items"], s.name);
        assert(m.files[s.dump].bytes > 0, s.dump);
      }

      const v = await runCli(["verify", "--out", root], TOOLS);
      assertEquals(v.code, 0, v.stdout + v.stderr);

      const target = await c.createDatabase();
      const r = await runCli(["restore", "--out", root], { ...TOOLS, RESTORE_DB_URL: c.url({ db: target }) });
      assertEquals(r.code, 0, r.stderr);
      const [want, got] = [await tableFingerprints(c, db), await tableFingerprints(c, target)];
      assertEquals(want.size, SCHEMAS + TABLES + 1);
      assertEquals(got, want);
      assertEquals(
        await c.sql("select count(*) from t050.both", { db: target }),
        await c.sql("select count(*) from t050.both", { db }),
      );
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "one schema's data read in slices: one .dump, verify, restore, same rows",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const c = await sharedCluster(17);
    const db = await c.createDatabase();
    const sql = Array.from(
      { length: 40 },
      (_, i) =>
        `create table public.q${i} (id int primary key, v text, r int references public.q0);
       insert into public.q${i} select g, md5(g::text), ${i === 0 ? "null" : "1"} from generate_series(1, ${
          i * 100 + 1
        }) g;`,
    );
    await c.sql(sql.join("\n") + "\nanalyze;", { db });
    const root = await Deno.makeTempDir({ prefix: "sb-slices-" });
    try {
      const b = await runCli(["backup", "--out", root, "--yes", "--jobs", "4"], {
        ...TOOLS,
        SUPABASE_DB_URL: c.url({ db }),
      });
      assertEquals(b.code, 0, b.stderr);
      const m: Manifest = JSON.parse(await Deno.readTextFile(`${root}/latest/manifest.json`));
      const pub = m.schemas.find((s) => s.name === "public")!;
      assertEquals(pub.tables.length, 40);
      // The slices' TABLE DATA entries are numbered after every entry of the schema's own dump.
      const list = new TextDecoder().decode(
        (await new Deno.Command(`${clientBinDir()}/pg_restore`, {
          args: ["-l", `${root}/latest/${pub.dump}`],
          stdout: "piped",
        }).output()).stdout,
      ).split("\n").filter((l) => /^\d+;/.test(l));
      const id = (l: string) => Number(l.split(";")[0]);
      const data = list.filter((l) => / TABLE DATA /.test(l)).map(id);
      const other = Math.max(...list.filter((l) => !/ (TABLE DATA|SEQUENCE SET) /.test(l)).map(id));
      assertEquals(data.length, 40);
      // Two ways, balanced by size: the slice holds about half of the rows, in at least 10 tables.
      assert(data.filter((x) => x > other).length >= 10, list.join("\n"));
      assertEquals((await runCli(["verify", "--out", root], TOOLS)).code, 0);
      const target = await c.createDatabase();
      const r = await runCli(["restore", "--out", root], { ...TOOLS, RESTORE_DB_URL: c.url({ db: target }) });
      assertEquals(r.code, 0, r.stderr);
      assertEquals(await tableFingerprints(c, target), await tableFingerprints(c, db));
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

/** `pg_restore -l` of `file`: its entries without their dump ids, sorted. */
async function tocLines(file: string): Promise<string[]> {
  const o = await new Deno.Command(`${clientBinDir()}/pg_restore`, { args: ["-l", file], stdout: "piped" })
    .output();
  assert(o.success, file);
  return new TextDecoder().decode(o.stdout).split("\n").filter((l) => /^\d+;/.test(l)).sort();
}

Deno.test({
  name:
    "300 tables through a 20 ms proxy: slices by name prefix, one .dump with every row and sequence value",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const c = await sharedCluster(17);
    const db = await c.createDatabase();
    // r000…r299, each with an owned sequence (r000_id_seq…); a sequence of no table that the prefix
    // of r200…r299 matches; one table left out by --exclude-table in the middle of a run (a prefix
    // must not match it: a slice would dump its rows, which the backup leaves out).
    const sql = Array.from({ length: 300 }, (_, i) => {
      const t = `r${String(i).padStart(3, "0")}`;
      return `create table public.${t} (id serial primary key, v text);
        insert into public.${t} (v) select md5(g::text) from generate_series(1, ${i % 4 + 1}) g;`;
    });
    sql.push("create sequence public.r2_counter; select setval('public.r2_counter', 4242);");
    sql.push("analyze;");
    await c.sql(sql.join("\n"), { db });
    const proxy = startProxy(c.port, 10); // 10 ms each way
    const root = await Deno.makeTempDir({ prefix: "sb-slices-rtt-" });
    const u = new URL(c.url({ db }));
    /**
     * A backup through the proxy into `out`; checks its .dump against one pg_dump of the schema
     * (`extra` its arguments besides) and returns its `pg_restore -l` lines.
     */
    const backupAndCompare = async (out: string, tables: number, extra: string[]) => {
      const url = new URL(c.url({ db }));
      url.port = String(proxy.port);
      const b = await runCli([
        "backup",
        "--out",
        out,
        "--yes",
        "--jobs",
        "4",
        "--exclude-table",
        "public.r150",
      ], {
        ...TOOLS,
        SUPABASE_DB_URL: url.href,
      });
      assertEquals(b.code, 0, b.stderr);
      const m: Manifest = JSON.parse(await Deno.readTextFile(`${out}/latest/manifest.json`));
      const pub = m.schemas.find((s) => s.name === "public")!;
      assertEquals(pub.tables.length, 299);
      const list = await tocLines(`${out}/latest/${pub.dump}`);
      const id = (l: string) => Number(l.split(";")[0]);
      const data = list.filter((l) => / TABLE DATA /.test(l)).map(id);
      const other = Math.max(...list.filter((l) => !/ (TABLE DATA|SEQUENCE SET) /.test(l)).map(id));
      assertEquals(data.length, tables);
      // Two or three ways (the round trip is over 1 ms, whatever the data: sqrt(299 × 20 ms / 1 s)):
      // half the tables' data or more came from slices, numbered after the schema's own entries.
      assert(data.filter((x) => x > other).length >= 100, list.join("\n"));
      // The same entries as one pg_dump of the schema (ids and order aside).
      const plain = `${out}/plain.dump`;
      const o = await new Deno.Command(`${clientBinDir()}/pg_dump`, {
        args: [
          "-Fc",
          `--file=${plain}`,
          "--schema=public",
          ...extra,
          "--exclude-table=public.r150",
          "--no-password",
        ],
        env: {
          PGHOST: u.hostname,
          PGPORT: u.port,
          PGUSER: decodeURIComponent(u.username),
          PGPASSWORD: decodeURIComponent(u.password),
          PGDATABASE: db,
        },
      }).output();
      assert(o.success, new TextDecoder().decode(o.stderr));
      const strip = (l: string[]) => l.map((x) => x.replace(/^\d+; \d+ \d+ /, "")).sort();
      assertEquals(strip(list), strip(await tocLines(plain)));
      return { list, id, other };
    };
    try {
      const { list } = await backupAndCompare(root, 299, []);
      assertEquals(list.filter((l) => / SEQUENCE SET /.test(l)).length, 301); // r150_id_seq too, as pg_dump -T does

      assertEquals((await runCli(["verify", "--out", root], TOOLS)).code, 0);
      const target = await c.createDatabase();
      const r = await runCli(["restore", "--out", root], { ...TOOLS, RESTORE_DB_URL: c.url({ db: target }) });
      assertEquals(r.code, 0, r.stderr);
      const want = await tableFingerprints(c, db);
      want.delete("public.r150");
      assertEquals(await tableFingerprints(c, target), want);
      const seqs =
        "select string_agg(sequencename || '=' || coalesce(last_value, 0), ',' order by 1) from pg_sequences";
      assertEquals(await c.sql(seqs, { db: target }), await c.sql(seqs, { db }));

      // An extension's configuration table whose name a slice's prefix ("r2") would match (made one by
      // hand, as pg_extension_config_dump does from an extension's script; so CREATE EXTENSION does not
      // make it, and this backup is not restored): the .dump still lists what pg_dump lists, and the
      // table's rows come from the schema's own dump, not from a slice. (slicePatterns leaves such a
      // table out of every prefix; with that check removed this test still passed on pg_dump 17.12,
      // so it guards the result, not the check: tests/unit/backup/slice.test.ts tests the check.)
      await c.sql(
        `create extension ltree with schema public;
         create table public.r2_ltree_config (id int primary key, v text);
         insert into public.r2_ltree_config values (1, 'config');
         alter extension ltree add table public.r2_ltree_config;
         update pg_extension set extconfig = array['public.r2_ltree_config'::regclass::oid],
           extcondition = array[''] where extname = 'ltree';`,
        { db },
      );
      const again = await backupAndCompare(`${root}/ext`, 300, ["--extension=ltree"]);
      const config = again.list.find((l) => / TABLE DATA public r2_ltree_config /.test(l));
      assert(config && again.id(config) < again.other, again.list.join("\n"));
    } finally {
      await proxy.close();
      await Deno.remove(root, { recursive: true });
    }
  },
});
