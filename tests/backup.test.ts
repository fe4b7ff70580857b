/**
 * The backup engine against the Supabase-shaped fixture on real PostgreSQL 15 and 17, connected as
 * the non-superuser `postgres` with a hostile password, using the provisioned pg_dump 17.
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { createHash } from "node:crypto";
import { type Cluster, sharedCluster } from "./support/cluster.ts";
import { FIXTURE_PASSWORD, loadFixture, tableFingerprints } from "./support/fixture.ts";
import { listFiles, runCli } from "./support/cli.ts";
import { startProxy } from "./support/proxy.ts";
import { psql } from "./support/psql.ts";
import type { Manifest } from "../lib/store/manifest.ts";
import { findPgTools } from "../lib/pg/tools.ts";
import { REPO } from "./support/paths.ts";

const ENC_PW = encodeURIComponent(FIXTURE_PASSWORD);

async function sha256(path: string): Promise<string> {
  return createHash("sha256").update(await Deno.readFile(path)).digest("hex");
}

/**
 * pg_restore 17 into `db` through a script, as psql runs it: pg_restore 17 writes
 * `SET transaction_timeout`, which servers before 17 reject, so that line is dropped for them.
 */
async function pgRestore(c: Cluster, db: string, args: string[]): Promise<{ code: number; stderr: string }> {
  const tools = await findPgTools({ minMajor: 17, cwd: REPO });
  const single = args.includes("--single-transaction");
  const script = await new Deno.Command(tools.path("pg_restore"), {
    args: ["-f", "-", ...args.filter((a) => a !== "--single-transaction" && a !== "--exit-on-error")],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (script.code !== 0) return { code: script.code, stderr: new TextDecoder().decode(script.stderr) };
  let text = new TextDecoder().decode(script.stdout);
  if (c.major < 17) text = text.replace(/^SET transaction_timeout = .*\n/gm, "");
  const child = new Deno.Command(tools.path("psql"), {
    args: ["-X", "-q", "-v", "ON_ERROR_STOP=1", ...(single ? ["-1"] : []), "-d", c.url({ db })],
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const out = await child.output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

/**
 * Restores every schema dump of a backup as superuser: pre-data in passes (a schema that depends on
 * another is retried after it), then data, then post-data.
 */
async function restoreDumps(
  c: Cluster,
  db: string,
  dir: string,
  m: Manifest,
  sections = ["pre-data", "data", "post-data"],
) {
  if (sections.includes("pre-data")) {
    // A new database has an empty public schema; the backup's public dump creates it.
    await c.sql("drop schema if exists public cascade", { db });
  }
  for (const section of sections) {
    if (section === "data") {
      for (const s of m.schemas) {
        const r = await pgRestore(c, db, ["--section=data", "--exit-on-error", `${dir}/${s.dump}`]);
        if (r.code !== 0) throw new Error(`data of ${s.name}: ${r.stderr}`);
      }
      continue;
    }
    // Schemas refer to each other (types, keys): retry the ones that failed after the others.
    const pending = m.schemas.map((s) => s.dump);
    for (let pass = 0; pending.length > 0; pass++) {
      const failed: string[] = [];
      let lastError = "";
      for (const d of pending) {
        const r = await pgRestore(c, db, [
          `--section=${section}`,
          "--single-transaction",
          "--exit-on-error",
          `${dir}/${d}`,
        ]);
        if (r.code !== 0) {
          failed.push(d);
          lastError = r.stderr;
        }
      }
      if (failed.length === pending.length) {
        throw new Error(`${section} restore makes no progress: ${lastError}`);
      }
      pending.splice(0, pending.length, ...failed);
      if (pass > 10) throw new Error("too many passes");
    }
  }
}

function backupTables(m: Manifest): string[] {
  const q = (n: string) => /^[a-z_][a-z0-9_]*$/.test(n) ? n : `"${n.replaceAll('"', '""')}"`;
  return m.schemas.flatMap((s) =>
    s.tables.filter((t) => t.kind !== "p").map((t) => `${q(s.name)}.${q(t.name)}`)
  );
}

for (const major of [15, 17] as const) {
  Deno.test(`backup of the Supabase-shaped fixture on PostgreSQL ${major}`, async (t) => {
    const c = await sharedCluster(major);
    const db = await c.createDatabase();
    const { url } = await loadFixture(c, db);
    const out = await Deno.makeTempDir({ prefix: "sb-backup-test-" });
    const stepSummary = `${out}.summary.md`;
    const r = await runCli([
      "backup",
      "--out",
      out,
      "--yes",
      "--source-repo",
      "acme/app",
      "--event",
      "push",
      "--sha",
      "abcdef1234567",
    ], {
      SUPABASE_DB_URL: url,
      GITHUB_STEP_SUMMARY: stepSummary,
    });
    const dir = `${out}/latest`;
    const m: Manifest = JSON.parse(await Deno.readTextFile(`${dir}/manifest.json`).catch(() => "{}"));

    await t.step("exit 3 (partial) with the unreadable table named in summary and manifest", () => {
      assertEquals(r.code, 3, r.stderr);
      assertEquals(m.status, "partial");
      ok(
        m.skipped.some((s) => s.schema === "billing" && s.table === "secret_keys"),
        JSON.stringify(m.skipped),
      );
      ok(r.stdout.includes("billing.secret_keys"), r.stdout);
      ok(r.stdout.includes("status        partial"), r.stdout);
    });

    await t.step("every readable table is in the manifest with its exact row count", async () => {
      const source = await tableFingerprints(c, db);
      const inManifest = new Map<string, number | null>();
      for (const s of m.schemas) {
        for (const tb of s.tables) if (tb.kind !== "p") inManifest.set(`${s.name}.${tb.name}`, tb.rows);
      }
      for (const [name, fp] of source) {
        const [schema, table] = splitQualified(name);
        if (schema === "billing" && table === "secret_keys") continue;
        if (["vault"].includes(schema)) continue;
        assertEquals(inManifest.get(`${schema}.${table}`), fp.rows, `${name}`);
      }
      ok(inManifest.has("public.profiles"));
      ok([...inManifest.keys()].some((k) => k.startsWith("auth.users")));
    });

    await t.step("every manifest checksum holds and no file is unlisted", async () => {
      const files = (await listFiles(dir)).filter((f) => f !== "manifest.json");
      assertEquals(files, Object.keys(m.files).sort());
      for (const [rel, want] of Object.entries(m.files)) {
        assertEquals(await sha256(`${dir}/${rel}`), want.sha256, rel);
      }
      ok(m.snapshot.consistent, "exported snapshot used");
      assertEquals(m.source, { repo: "acme/app", event: "push", sha: "abcdef1234567" });
    });

    await t.step("the password appears in no output or file", async () => {
      const texts = [r.stdout, r.stderr, await Deno.readTextFile(stepSummary)];
      for (const f of await listFiles(dir)) {
        texts.push(new TextDecoder().decode(await Deno.readFile(`${dir}/${f}`)));
      }
      for (const text of texts) {
        ok(!text.includes(FIXTURE_PASSWORD), "plain password leaked");
        ok(!text.includes(ENC_PW), "encoded password leaked");
      }
      const roles = await Deno.readTextFile(`${dir}/roles.sql`);
      ok(!/SCRAM-SHA-256\$|md5[0-9a-f]{32}|PASSWORD/i.test(roles), "password hash in roles.sql");
      ok(!/CREATE ROLE (anon|postgres|supabase_admin);/.test(roles), "reserved role in roles.sql");
    });

    await t.step("the schema dumps restore completely into an empty database", async () => {
      const target = await c.createDatabase();
      await restoreDumps(c, target, dir, m);
      const want = await tableFingerprints(c, db, backupTables(m));
      const got = await tableFingerprints(c, target, backupTables(m));
      assertEquals(got, want);
    });

    await t.step("every data.sql restores with psql to identical content", async () => {
      const target = await c.createDatabase();
      await restoreDumps(c, target, dir, m, ["pre-data", "post-data"]);
      for (const s of m.schemas) {
        for (const tb of s.tables) {
          for (const f of tb.dataFiles) {
            await psql(c, target, ["-f", `${dir}/${f}`], {
              PGOPTIONS: "-c session_replication_role=replica",
            });
          }
        }
      }
      assertEquals(
        await tableFingerprints(c, target, backupTables(m)),
        await tableFingerprints(c, db, backupTables(m)),
      );
    });

    await t.step("a table's schema.sql + data.sql recreate it alone (quoted names included)", async () => {
      const target = await c.createDatabase();
      await restoreDumps(c, target, dir, m);
      const picks = m.schemas.flatMap((s) =>
        s.tables.filter((tb) => tb.kind === "r" && !tb.partitionOf && tb.name !== "users").map((tb) => ({
          s,
          tb,
        }))
      ).filter(({ s, tb }) => s.name === "public" || /[ "A-Z]/.test(tb.name) || /[ "A-Z]/.test(s.name));
      ok(picks.length >= 2, "fixture has public and quoted tables");
      for (const { s, tb } of picks) {
        const qn = `"${s.name.replaceAll('"', '""')}"."${tb.name.replaceAll('"', '""')}"`;
        await psql(c, target, ["-c", `drop table ${qn} cascade`]);
        await psql(c, target, ["-f", `${dir}/${tb.schemaFile}`]);
        for (const f of tb.dataFiles) {
          await psql(c, target, ["-f", `${dir}/${f}`], { PGOPTIONS: "-c session_replication_role=replica" });
        }
        const [want] = (await tableFingerprints(c, db, [qn])).values();
        const [got] = (await tableFingerprints(c, target, [qn])).values();
        assertEquals(got, want, qn);
      }
    });

    await t.step("an unchanged database backs up to byte-identical per-table and roles files", async () => {
      const again = await Deno.makeTempDir({ prefix: "sb-backup-test-" });
      const r2 = await runCli(["backup", "--out", again, "--yes", "--no-archive"], { SUPABASE_DB_URL: url });
      assertEquals(r2.code, 3, r2.stderr);
      const m2: Manifest = JSON.parse(await Deno.readTextFile(`${again}/latest/manifest.json`));
      const stable = (mm: Manifest) =>
        Object.fromEntries(
          Object.entries(mm.files).filter(([k]) => !k.endsWith(".dump")).map(([k, v]) => [k, v.sha256]),
        );
      assertEquals(stable(m2), stable(m));
      await Deno.remove(again, { recursive: true });
    });

    await Deno.remove(out, { recursive: true });
    await Deno.remove(stepSummary).catch(() => {});
  });
}

Deno.test("a backup taken while another connection writes FK-linked rows restores with no FK violation", async () => {
  const c = await sharedCluster(17);
  const db = await c.createDatabase();
  await c.sql(
    `create schema shop; create schema ledger;
     create table shop.orders (id bigint primary key, note text);
     create table ledger.lines (id bigserial primary key, order_id bigint not null references shop.orders(id), amount int);
     create table shop.filler (id int primary key, pad text);
     insert into shop.filler select g, repeat('x', 200) from generate_series(1, 20000) g;
     grant usage on schema shop, ledger to postgres; grant select on all tables in schema shop, ledger to postgres;
     grant select on all sequences in schema ledger to postgres;`,
    { db },
  );
  const { url } = await loadFixture(c, db, { app: false });
  // Slow link so the per-schema dumps start at different moments.
  const proxy = startProxy(c.port, 5);
  const viaProxy = url.replace(`:${c.port}/`, `:${proxy.port}/`);
  let writing = true;
  let written = 0;
  const writer = (async () => {
    while (writing) {
      written++;
      await c.sql(
        `begin; insert into shop.orders values (${written}, 'o'); insert into ledger.lines (order_id, amount) values (${written}, 1), (${written}, 2); commit;`,
        { db },
      );
    }
  })();
  const out = await Deno.makeTempDir({ prefix: "sb-backup-fk-" });
  const r = await runCli(["backup", "--out", out, "--yes", "--scope", "user", "--jobs", "4"], {
    SUPABASE_DB_URL: viaProxy,
  });
  writing = false;
  await writer;
  await proxy.close();
  assertEquals(r.code, 0, r.stderr);
  ok(written > 5, `writer made progress (${written})`);
  const m: Manifest = JSON.parse(await Deno.readTextFile(`${out}/latest/manifest.json`));
  ok(m.snapshot.consistent);
  const target = await c.createDatabase();
  await restoreDumps(c, target, `${out}/latest`, m); // post-data adds the FK: fails on a violation
  const orphans = await c.sql(
    "select count(*) from ledger.lines l left join shop.orders o on o.id = l.order_id where o.id is null",
    { db: target },
  );
  assertEquals(orphans.trim().split("\n").pop()?.trim(), "0");
  const rows = (s: string, t: string) =>
    m.schemas.find((x) => x.name === s)!.tables.find((x) => x.name === t)!.rows!;
  assertEquals(rows("ledger", "lines"), 2 * rows("shop", "orders"));
  await Deno.remove(out, { recursive: true });
});

function splitQualified(name: string): [string, string] {
  const parts: string[] = [];
  let cur = "", quoted = false;
  for (let i = 0; i < name.length; i++) {
    const ch = name[i];
    if (quoted) {
      if (ch === '"' && name[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ".") {
      parts.push(cur);
      cur = "";
    } else cur += ch;
  }
  parts.push(cur);
  return [parts[0], parts[1]];
}
