/**
 * Rows that are not UTF-8 survive a backup and a restore byte for byte, on PostgreSQL 15 and 17 with
 * the real CLI: a `SQL_ASCII` database whose text holds every byte from 0x01 to 0xFF (most of it not
 * UTF-8), and a `LATIN1` database, each restored whole and by `--table` into a database of the same
 * encoding; the `LATIN1` backup also into a UTF-8 database, which the server converts to. Enough rows
 * that the data files reach the restore in many chunks, cut at every position of a row.
 *
 * Definitions with non-ASCII names, defaults, comments and function bodies: a `LATIN1` database's come
 * back the same (`pg_dump --schema-only` of source and target equal), into `LATIN1` and into UTF-8; a
 * `SQL_ASCII` database's in UTF-8 too, and one holding a byte that is not UTF-8 is refused before
 * anything is written.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { clientBinDir } from "../dev/pgenv.ts";
import { type CliResult, runCli } from "./support/cli.ts";
import { type Cluster, sharedCluster } from "./support/cluster.ts";
import { schemaEntries } from "./support/schema.ts";

const TOOLS = { PG_BIN: clientBinDir() };

function succeeded(r: CliResult, what: string): void {
  assert(r.code === 0, `${what}: exit ${r.code}\n${r.stderr}`);
}

/** A new database of this encoding (C locale), owned by the superuser. */
async function database(c: Cluster, encoding: string): Promise<string> {
  const db = `enc_${encoding.toLowerCase()}_${crypto.randomUUID().slice(0, 8)}`;
  await c.sql(
    `CREATE DATABASE ${db} ENCODING '${encoding}' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`,
  );
  return db;
}

/** The rows' fingerprint: count and md5 of the text's bytes as the server keeps them. */
async function fingerprint(c: Cluster, db: string, bytesOf = "v"): Promise<string> {
  return (await c.sql(
    `SELECT count(*) || ' ' || md5(string_agg(${bytesOf}, '' ORDER BY id)) FROM public.raw`,
    {
      db,
    },
  )).trim();
}

/**
 * `rows` rows of `bytes` (hex, a value that is valid in the database's encoding), each with its id
 * in front so that every row is cut somewhere else by the 64 KiB chunks of a stream.
 */
async function fill(c: Cluster, db: string, hex: string, encoding: string, rows: number): Promise<void> {
  await c.sql(
    `CREATE TABLE public.raw (id int PRIMARY KEY, v text NOT NULL);
     INSERT INTO public.raw
       SELECT g, g::text || convert_from(decode('${hex}', 'hex'), '${encoding}') FROM generate_series(1, ${rows}) g;`,
    { db },
  );
}

/** Every byte from 0x01 to 0xFF, as hex. */
const ALL_BYTES = Array.from({ length: 255 }, (_, i) => (i + 1).toString(16).padStart(2, "0")).join("");
/** LATIN1 letters (0xC0–0xFF) and signs (0xA0–0xBF), with ASCII between. */
const LATIN1_BYTES = Array.from({ length: 96 }, (_, i) => (0xa0 + i).toString(16) + "41").join("");

async function backup(c: Cluster, db: string): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "encoding-test-" });
  succeeded(
    await runCli(["backup", "--db-url", c.url({ db }), "--out", root, "--yes"], TOOLS),
    `backup of ${db}`,
  );
  return root;
}

async function restore(c: Cluster, root: string, db: string, ...rest: string[]): Promise<void> {
  succeeded(
    await runCli(["restore", "--out", root, "--target-url", c.url({ db }), "--yes", ...rest], TOOLS),
    `restore into ${db}${rest.length ? ` (${rest.join(" ")})` : ""}`,
  );
}

/** Restores the backup whole, then by `--table`, each into a new database of `encoding`, and compares. */
async function wholeAndTable(c: Cluster, root: string, encoding: string, want: string): Promise<void> {
  const whole = await database(c, encoding);
  await restore(c, root, whole);
  assertEquals(await fingerprint(c, whole), want, "restored whole");
  const one = await database(c, encoding);
  await restore(c, root, one, "--table", "public.raw");
  assertEquals(await fingerprint(c, one), want, "restored by --table");
}

for (const major of [15, 17] as const) {
  Deno.test(`encoding (PostgreSQL ${major}): SQL_ASCII rows holding every byte restore byte for byte`, async () => {
    const c = await sharedCluster(major);
    const src = await database(c, "SQL_ASCII");
    await fill(c, src, ALL_BYTES, "SQL_ASCII", 3000);
    const want = await fingerprint(c, src);
    assertEquals(want.split(" ")[0], "3000");
    const root = await backup(c, src);
    try {
      await wholeAndTable(c, root, "SQL_ASCII", want);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });

  Deno.test(`encoding (PostgreSQL ${major}): LATIN1 rows restore exactly, also into a UTF-8 database`, async () => {
    const c = await sharedCluster(major);
    const src = await database(c, "LATIN1");
    await fill(c, src, LATIN1_BYTES, "LATIN1", 3000);
    const want = await fingerprint(c, src);
    // The same characters, as UTF-8 bytes (what a UTF-8 database holds after the server converted).
    const asUtf8 = "encode(convert_to(v, 'UTF8'), 'hex')";
    const wantUtf8 = await fingerprint(c, src, asUtf8);
    const root = await backup(c, src);
    try {
      await wholeAndTable(c, root, "LATIN1", want);
      const utf8 = await database(c, "UTF8");
      await restore(c, root, utf8);
      assertEquals(await fingerprint(c, utf8, asUtf8), wantUtf8, "restored into UTF-8");
      // And the text reads as the LATIN1 letters it was: é is 0xE9 in LATIN1.
      const e = await c.sql(`SELECT position(chr(233) in v) > 0 FROM public.raw WHERE id = 1`, { db: utf8 });
      assertEquals(e.trim(), "t");
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });

  Deno.test(`encoding (PostgreSQL ${major}): LATIN1 and SQL_ASCII definitions with non-ASCII text restore unchanged`, async () => {
    const c = await sharedCluster(major);
    // Sent as UTF-8 (the server converts to the database's encoding).
    const ddl = `SET client_encoding = 'UTF8';
      CREATE TABLE public."café" (id int PRIMARY KEY, "naïve" text DEFAULT 'déjà vu' CHECK ("naïve" <> 'ÿ'));
      COMMENT ON TABLE public."café" IS 'ça va';
      CREATE FUNCTION public."grüß"() RETURNS text LANGUAGE sql AS $$ SELECT 'Grüße'::text $$;
      CREATE VIEW public."vüe" AS SELECT id, "naïve" FROM public."café";
      INSERT INTO public."café" VALUES (1, 'é'), (2, DEFAULT);`;
    const rows =
      `SELECT string_agg(id || ':' || "naïve" || ':' || public."grüß"(), ',' ORDER BY id) FROM public."vüe"`;
    const utf8Rows = (db: string) => c.sql(`SET client_encoding = 'UTF8'; ${rows}`, { db });
    for (const encoding of ["LATIN1", "SQL_ASCII"]) {
      const src = await database(c, encoding);
      await c.sql(ddl, { db: src });
      const want = await schemaEntries(c, src);
      assert(
        want.some((e) => e.includes("'déjà vu'::text")),
        `${encoding}: the source's dump has the default`,
      );
      const wantRows = await utf8Rows(src);
      assertEquals(wantRows.trim(), "1:é:Grüße,2:déjà vu:Grüße");
      const root = await backup(c, src);
      try {
        for (const into of [encoding, "UTF8"]) {
          const db = await database(c, into);
          await restore(c, root, db);
          assertEquals(await schemaEntries(c, db), want, `${encoding} into ${into}: the definitions`);
          assertEquals(await utf8Rows(db), wantRows, `${encoding} into ${into}: the rows`);
        }
        const one = await database(c, encoding);
        await restore(c, root, one, "--table", "public.café");
        assertEquals(
          (await c.sql(`SET client_encoding = 'UTF8'; SELECT obj_description('public."café"'::regclass)`, {
            db: one,
          }))
            .trim(),
          "ça va",
          `${encoding}: --table restores the table's comment`,
        );
      } finally {
        await Deno.remove(root, { recursive: true });
      }
    }
  });

  Deno.test(`encoding (PostgreSQL ${major}): a SQL_ASCII definition holding a byte that is not UTF-8 is refused, nothing written`, async () => {
    const c = await sharedCluster(major);
    const src = await database(c, "SQL_ASCII");
    // A default and a comment with the byte 0xE9 (Latin-1 é) as it is, made by EXECUTE.
    await c.sql(
      `CREATE TABLE public.t (id int PRIMARY KEY, v text);
       DO $$ BEGIN
         EXECUTE 'ALTER TABLE public.t ALTER v SET DEFAULT ' || quote_literal(convert_from('\\xe9'::bytea, 'SQL_ASCII'));
       END $$;
       INSERT INTO public.t (id) VALUES (1);`,
      { db: src },
    );
    assertEquals(
      (await c.sql("SELECT encode(convert_to(v, 'SQL_ASCII'), 'hex') FROM public.t", { db: src })).trim(),
      "e9",
    );
    const root = await backup(c, src);
    try {
      const db = await database(c, "SQL_ASCII");
      const r = await runCli(["restore", "--out", root, "--target-url", c.url({ db }), "--yes"], TOOLS);
      assertEquals(r.code, 1, r.stderr);
      assert(
        /its definitions hold bytes that are not UTF-8 in a SQL_ASCII database, which a restore cannot carry unchanged; nothing of it was run/
          .test(r.stderr),
        r.stderr,
      );
      assert(/^hint: only rows may hold any bytes/m.test(r.stderr), r.stderr);
      assertEquals(
        (await c.sql("SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace", { db }))
          .trim(),
        "0",
      );
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });
}
