/**
 * Files above --max-file-size: a table with ~6 MB of data, backed up with --max-file-size 1MB, gets
 * data.NNN.sql parts and a dump in parts, each at most 1 MB; `verify` accepts the backup; the parts
 * restore to identical content with psql and with `backup.ts restore`.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { clientBinDir } from "../dev/pgenv.ts";
import type { Manifest } from "../lib/store/manifest.ts";
import { runCli } from "./support/cli.ts";
import { sharedCluster } from "./support/cluster.ts";
import { loadFixture, tableFingerprints } from "./support/fixture.ts";
import { psql } from "./support/psql.ts";

const TOOLS = { PG_BIN: clientBinDir() };
const MB = 1_000_000;

Deno.test({
  name: "a table larger than --max-file-size is split into parts that restore to identical content",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const c = await sharedCluster(17);
    const db = await c.createDatabase();
    await c.sql(
      `create schema big;
       create table big.blobs (id int primary key, body text);
       insert into big.blobs select g, md5(g::text) || repeat(md5((g * 7)::text), 3) || E'\\nline two\\t' || g
         from generate_series(1, 45000) g;
       create table big.small (id int primary key);
       insert into big.small values (1), (2);
       grant usage on schema big to postgres; grant select on all tables in schema big to postgres;`,
      { db },
    );
    const { url } = await loadFixture(c, db, { app: false });
    const root = await Deno.makeTempDir({ prefix: "sb-split-" });
    const r = await runCli(
      ["backup", "--db-url", url, "--out", root, "--yes", "--schema", "big", "--max-file-size", "1MB"],
      TOOLS,
    );
    assertEquals(r.code, 0, r.stderr);
    const dir = `${root}/latest`;
    const m: Manifest = JSON.parse(await Deno.readTextFile(`${dir}/manifest.json`));
    const big = m.schemas.find((s) => s.name === "big")!;
    const blobs = big.tables.find((tb) => tb.name === "blobs")!;

    await t.step("data.sql and the dump are split into parts of at most 1 MB", async () => {
      assertEquals(blobs.rows, 45000);
      assert(blobs.dataFiles.length >= 5, `data parts: ${blobs.dataFiles.join(", ")}`);
      assert(blobs.dataFiles.every((f, i) => f.endsWith(`data.${String(i + 1).padStart(3, "0")}.sql`)));
      assert((big.dumpParts ?? []).length >= 2, `dump parts: ${JSON.stringify(big.dumpParts)}`);
      for (const f of [...blobs.dataFiles, ...big.dumpParts!]) {
        const size = (await Deno.stat(`${dir}/${f}`)).size;
        assert(size <= MB && size > 0, `${f} is ${size} bytes`);
        assertEquals(m.files[f].bytes, size, f);
      }
      const small = big.tables.find((tb) => tb.name === "small")!;
      assertEquals(small.dataFiles.length, 1);
      assert(small.dataFiles[0].endsWith("/data.sql"), small.dataFiles[0]);
    });

    await t.step("verify accepts the split backup", async () => {
      const v = await runCli(["verify", "--out", root], TOOLS);
      assertEquals(v.code, 0, v.stderr + v.stdout);
    });

    const source = await tableFingerprints(c, db, ["big.blobs", "big.small"]);

    await t.step("schema.sql then every part, with psql, give identical rows", async () => {
      const target = await c.createDatabase();
      await c.sql("create schema big", { db: target });
      for (const tb of big.tables) {
        for (const f of [tb.schemaFile, ...tb.dataFiles]) await psql(c, target, ["-1", "-f", `${dir}/${f}`]);
      }
      assertEquals(await tableFingerprints(c, target, ["big.blobs", "big.small"]), source);
    });

    await t.step("backup.ts restore joins the dump parts and restores identical rows", async () => {
      const target = await c.createDatabase();
      const rr = await runCli(["restore", "--out", root, "--target-url", c.url({ db: target })], TOOLS);
      assertEquals(rr.code, 0, rr.stderr);
      assertEquals(await tableFingerprints(c, target, ["big.blobs", "big.small"]), source);
    });

    await Deno.remove(root, { recursive: true });
  },
});
