/**
 * Rows that are not UTF-8 survive a backup and a restore byte for byte, on PostgreSQL 15 and 17 with
 * the real CLI: a `SQL_ASCII` database whose text holds every byte from 0x01 to 0xFF (most of it not
 * UTF-8), and a `LATIN1` database, each restored whole and by `--table` into a database of the same
 * encoding; the `LATIN1` backup also into a UTF-8 database, which the server converts to. Enough rows
 * that the data files reach the restore in many chunks, cut at every position of a row.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { clientBinDir } from "../dev/pgenv.ts";
import { type CliResult, runCli } from "./support/cli.ts";
import { type Cluster, sharedCluster } from "./support/cluster.ts";

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
}
