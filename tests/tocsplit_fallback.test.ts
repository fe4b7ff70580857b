/**
 * The splitter's safety net with real pg_dump output: a table comment that copies the TOC header of
 * another table (something only crafted object definitions produce) makes the one-stream split stop,
 * and the tool falls back to one pg_restore per file. The files are still right: the other table's
 * schema.sql is byte-identical to a backup without the crafted comment, and both tables restore.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { clientBinDir } from "../dev/pgenv.ts";
import type { Manifest } from "../lib/store/manifest.ts";
import { runCli } from "./support/cli.ts";
import { sharedCluster } from "./support/cluster.ts";
import { loadFixture, tableFingerprints } from "./support/fixture.ts";
import { psql } from "./support/psql.ts";

const TOOLS = { PG_BIN: clientBinDir() };

async function tocLine(dump: string, table: string): Promise<{ id: string; oid: string }> {
  const out = await new Deno.Command(`${clientBinDir()}/pg_restore`, { args: ["-l", dump], stdout: "piped" })
    .output();
  const line = new TextDecoder().decode(out.stdout).split("\n").find((l) =>
    new RegExp(`^\\d+; 1259 \\d+ TABLE s ${table} `).test(l)
  );
  assert(line, `no TABLE entry for ${table}`);
  const [, id, oid] = line.match(/^(\d+); 1259 (\d+) /)!;
  return { id, oid };
}

Deno.test({
  name: "a crafted TOC header in a comment makes the split fall back to pg_restore per file",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const c = await sharedCluster(17);
    const db = await c.createDatabase();
    await c.sql(
      `create schema s;
       create table s.a (id int primary key, note text);
       create table s.b (id int primary key, a_id int references s.a);
       insert into s.a select g, 'n' || g from generate_series(1, 20) g;
       insert into s.b select g, g from generate_series(1, 20) g;
       grant usage on schema s to postgres; grant select on all tables in schema s to postgres;`,
      { db },
    );
    const { url } = await loadFixture(c, db, { app: false });
    const backup = async () => {
      const root = await Deno.makeTempDir({ prefix: "sb-fallback-" });
      const r = await runCli(["backup", "--db-url", url, "--out", root, "--yes", "--schema", "s"], TOOLS);
      assertEquals(r.code, 0, r.stderr);
      const m: Manifest = JSON.parse(await Deno.readTextFile(`${root}/latest/manifest.json`));
      return { r, root, dir: `${root}/latest`, m };
    };
    const first = await backup();
    assert(!first.r.stderr.includes("one pg_restore per file"), first.r.stderr);
    const b = await tocLine(`${first.dir}/${first.m.schemas[0].dump}`, "b");

    const fake = `x\n--\n-- TOC entry ${b.id} (class 1259 OID ${b.oid})\n` +
      `-- Name: b; Type: TABLE; Schema: s; Owner: supabase_admin\n--\n\n`;
    await c.sql(`comment on table s.a is '${fake.replaceAll("'", "''")}'`, { db });
    const second = await backup();
    assertEquals(await tocLine(`${second.dir}/${second.m.schemas[0].dump}`, "b"), b, "entry ids are stable");
    assert(
      /warning: schema s: .*; writing its tables with one pg_restore per file/.test(second.r.stderr),
      second.r.stderr,
    );

    const file = (run: typeof first, t: string, kind: "schemaFile" | "dataFiles") =>
      run.m.schemas[0].tables.find((x) => x.name === t)![kind];
    const read = (run: typeof first, rel: string) => Deno.readTextFile(`${run.dir}/${rel}`);
    assertEquals(
      await read(second, file(second, "b", "schemaFile") as string),
      await read(first, file(first, "b", "schemaFile") as string),
    );
    assert((await read(second, file(second, "a", "schemaFile") as string)).includes("-- TOC entry"));

    const target = await c.createDatabase();
    await c.sql("create schema s", { db: target });
    for (const t of ["a", "b"]) {
      const own = [file(second, t, "schemaFile") as string, ...(file(second, t, "dataFiles") as string[])];
      for (const f of own) await psql(c, target, ["-f", `${second.dir}/${f}`]);
    }
    assertEquals(
      await tableFingerprints(c, target, ["s.a", "s.b"]),
      await tableFingerprints(c, db, ["s.a", "s.b"]),
    );
    assertEquals(
      (await c.sql("select obj_description('s.a'::regclass)", { db: target })).trimEnd(),
      fake.trimEnd(),
    );
    for (const run of [first, second]) await Deno.remove(run.root, { recursive: true });
  },
});
