/**
 * verify and the drill on a real backup of the Supabase-shaped fixture (PostgreSQL 17, tools 17):
 * an intact backup verifies, a flipped byte, a missing file and an extra file are each caught by
 * `verify` (naming the file) and the flipped byte by `restore` too; `verify --drill` restores into a
 * scratch database and prints N/N tables match.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { clientBinDir } from "../dev/pgenv.ts";
import type { Manifest } from "../lib/store/manifest.ts";
import { sqlQualified } from "../lib/pg/ident.ts";
import { runCli } from "./support/cli.ts";
import { sharedCluster } from "./support/cluster.ts";
import { loadFixture } from "./support/fixture.ts";

const TOOLS = { PG_BIN: clientBinDir() };

async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyDir(`${from}/${e.name}`, `${to}/${e.name}`);
    else await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}

async function flipByte(path: string, at: number): Promise<void> {
  const bytes = await Deno.readFile(path);
  bytes[at] ^= 0x01;
  await Deno.writeFile(path, bytes);
}

Deno.test({
  name: "verify catches damaged backups; restore refuses them; the drill matches every table",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const cluster = await sharedCluster(17);
    const src = await cluster.createDatabase();
    const fx = await loadFixture(cluster, src);
    const root = await Deno.makeTempDir({ prefix: "verify-test-" });
    const b = await runCli(["backup", "--db-url", fx.url, "--out", root, "--yes"], TOOLS);
    assert(b.code === 0 || b.code === 3, `backup failed (${b.code}):\n${b.stderr}`);
    const m = JSON.parse(await Deno.readTextFile(`${root}/latest/manifest.json`)) as Manifest;
    const tables = m.schemas.flatMap((s) => s.tables).filter((x) => x.rows !== null).length;
    const out = ["--out", root];

    await t.step("an intact backup verifies", async () => {
      const r = await runCli(["verify", ...out], TOOLS);
      assertEquals(r.code, 0, r.stderr);
      assert(/^ok {6}latest .*: \d+ files match the manifest$/m.test(r.stdout), r.stdout);
      assert(r.stdout.includes("1/1 backups verified"), r.stdout);
      const json = await runCli(["verify", ...out, "--json"], TOOLS);
      assertEquals(json.code, 0, json.stderr);
      const report = JSON.parse(json.stdout);
      assertEquals(report.backups[0].files, Object.keys(m.files).length);
      assertEquals(report.backups[0].faults, []);
    });

    await t.step("verify --drill restores into a scratch database and prints N/N tables match", async () => {
      const db = await cluster.createDatabase();
      const r = await runCli(["verify", ...out, "--drill", "--target-url", cluster.url({ db })], TOOLS);
      assertEquals(r.code, 0, r.stderr);
      assert(r.stdout.includes(`${tables}/${tables} tables match`), r.stdout);
      assert(!/error/i.test(r.stderr), r.stderr);
      // every table's count, independently of the tool
      for (const s of m.schemas) {
        for (const x of s.tables) {
          if (x.rows === null || x.kind === "p") continue;
          const q = `select count(*) from only "${s.name.replaceAll('"', '""')}"."${
            x.name.replaceAll('"', '""')
          }"`;
          assertEquals(Number((await cluster.sql(q, { db })).trim()), x.rows, `${s.name}.${x.name}`);
        }
      }
    });

    await t.step("the drill reports a table whose count differs, exit 1", async () => {
      const bad = await Deno.makeTempDir({ prefix: "verify-drill-bad-" });
      await copyDir(`${root}/latest`, `${bad}/latest`);
      const mm = structuredClone(m);
      const victim = mm.schemas.flatMap((s) => s.tables.map((x) => ({ s, x }))).find((v) =>
        (v.x.rows ?? 0) > 0 && v.x.kind !== "p"
      )!;
      victim.x.rows! += 1;
      await Deno.writeTextFile(`${bad}/latest/manifest.json`, JSON.stringify(mm, null, 2));
      const db = await cluster.createDatabase();
      const r = await runCli(["verify", "--out", bad, "--drill", "--target-url", cluster.url({ db })], TOOLS);
      assertEquals(r.code, 1, r.stderr);
      assert(r.stdout.includes(`${tables - 1}/${tables} tables match`), r.stdout);
      // named as SQL does, in the MISMATCH line and the error; --json keeps the names as they are
      const name = sqlQualified(victim.s.name, victim.x.name);
      assert(r.stderr.includes(`first ${name} (manifest`), `${name}: ${r.stderr}`);
      assert(r.stdout.includes(`MISMATCH ${name}: manifest ${victim.x.rows} rows`), r.stdout);
      const j = await runCli(
        [
          "verify",
          "--out",
          bad,
          "--drill",
          "--json",
          "--target-url",
          cluster.url({ db: await cluster.createDatabase() }),
        ],
        TOOLS,
      );
      assertEquals(j.code, 1, j.stderr);
      const mis = JSON.parse(j.stdout).mismatches;
      assertEquals(
        mis.map((x: { table: string; schema: string; name: string }) => [x.table, x.schema, x.name]),
        [
          [name, victim.s.name, victim.x.name],
        ],
      );
      await Deno.remove(bad, { recursive: true });
    });

    await t.step("a flipped byte is caught by verify and by restore, naming the file", async () => {
      const bad = await Deno.makeTempDir({ prefix: "verify-bad-" });
      await copyDir(`${root}/latest`, `${bad}/latest`);
      const data = Object.keys(m.files).find((f) =>
        /\/data(\.\d+)?\.sql$/.test(f) && m.files[f].bytes > 200
      )!;
      await flipByte(`${bad}/latest/${data}`, Math.floor(m.files[data].bytes / 2));
      const v = await runCli(["verify", "--out", bad], TOOLS);
      assertEquals(v.code, 1, v.stderr);
      assert(v.stdout.includes(`checksum  ${data}`), v.stdout);
      assert(/^error: verify failed: latest: checksum /m.test(v.stderr) && v.stderr.includes(data), v.stderr);

      const db = await cluster.createDatabase();
      const r = await runCli(["restore", "--out", bad, "--target-url", cluster.url({ db })], TOOLS);
      assertEquals(r.code, 1, r.stderr);
      assert(r.stderr.includes(`backup file ${data} is damaged`), r.stderr);
      // nothing was restored
      assertEquals(
        (await cluster.sql(
          "select count(*) from pg_namespace where nspname not like 'pg_%' and nspname not in ('public', 'information_schema')",
          { db },
        )).trim(),
        "0",
      );

      // the dump of a schema, too
      const dump = m.schemas[0].dumpParts?.[0] ?? m.schemas[0].dump;
      await copyDir(`${root}/latest`, `${bad}/latest`);
      await flipByte(`${bad}/latest/${dump}`, 100);
      const v2 = await runCli(["verify", "--out", bad], TOOLS);
      assertEquals(v2.code, 1);
      assert(v2.stderr.includes(dump), v2.stderr);
      await Deno.remove(bad, { recursive: true });
    });

    await t.step("missing and extra files are reported", async () => {
      const bad = await Deno.makeTempDir({ prefix: "verify-missing-" });
      await copyDir(`${root}/latest`, `${bad}/latest`);
      const gone = Object.keys(m.files).find((f) => f.endsWith("schema.sql"))!;
      await Deno.remove(`${bad}/latest/${gone}`);
      await Deno.writeTextFile(`${bad}/latest/stray.txt`, "x");
      const r = await runCli(["verify", "--out", bad, "--json"], TOOLS);
      assertEquals(r.code, 1);
      const faults = JSON.parse(r.stdout).backups[0].faults as { file: string; problem: string }[];
      assertEquals(
        faults.map((f) => `${f.problem} ${f.file}`).sort(),
        [`extra stray.txt`, `missing ${gone}`].sort(),
      );
      const restore = await runCli(
        ["restore", "--out", bad, "--target-url", cluster.url({ db: await cluster.createDatabase() })],
        TOOLS,
      );
      assertEquals(restore.code, 1);
      assert(restore.stderr.includes(gone), restore.stderr);
      await Deno.remove(bad, { recursive: true });
    });

    await t.step("verify --all checks latest and every archive", async () => {
      const b2 = await runCli(["backup", "--db-url", fx.url, "--out", root, "--yes"], TOOLS);
      assert(b2.code === 0 || b2.code === 3, b2.stderr);
      const r = await runCli(["verify", ...out, "--all"], TOOLS);
      assertEquals(r.code, 0, r.stderr);
      assert(r.stdout.includes("2/2 backups verified"), r.stdout);
      assert(/^ok {6}archive\//m.test(r.stdout), r.stdout);
    });

    await t.step("usage errors: no target for the drill, unknown archive", async () => {
      const r = await runCli(["verify", ...out, "--drill"], TOOLS);
      assertEquals(r.code, 2);
      assert(r.stderr.includes("--target-url"), r.stderr);
      const u = await runCli(["verify", ...out, "--from", "no-such-archive"], TOOLS);
      assertEquals(u.code, 2);
      assert(
        /--from 'no-such-archive'/.test(u.stderr) && /hint: run 'backup.ts list/.test(u.stderr),
        u.stderr,
      );
    });

    await Deno.remove(root, { recursive: true });
  },
});
