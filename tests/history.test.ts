/**
 * `diff` and `history` with the real CLI on real PostgreSQL 15 and 17: the Supabase-shaped fixture
 * plus a `shop` schema changed between five backups (inserts, deletes, updates, a column added, a
 * policy changed, a table dropped and one created), each committed into a git repository. diff must
 * report exactly those changes for every consecutive pair, from the folders and from git history
 * alike; history must list the backups in which a table changed; the live database can be compared
 * and its lost rows put back with the SQL diff --rows prints.
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import $ from "dax";
import { type Cluster, sharedCluster } from "./support/cluster.ts";
import { loadFixture } from "./support/fixture.ts";
import { runCli } from "./support/cli.ts";
import { gitRoot } from "./support/gitroot.ts";
import { psql } from "./support/psql.ts";

/** The steps between backups: SQL run as the superuser before backup 2, 3, 4 and 5. */
const SETUP = `
create schema shop;
create table shop.orders (id int primary key, customer text not null, amount numeric(10,2), note text);
insert into shop.orders select i, 'customer ' || i, i * 1.5, case when i % 4 = 0 then E'multi\\nline\\ttab ''q''' end
  from generate_series(1, 20) i;
alter table shop.orders enable row level security;
create policy "own orders" on shop.orders for select to authenticated using (customer = current_user);
create table shop.notes (body text);
insert into shop.notes values ('a'), ('b'), ('b');
create table shop.legacy (id int primary key, label text);
insert into shop.legacy select i, 'old ' || i from generate_series(1, 5) i;
grant usage on schema shop to postgres;
grant select on all tables in schema shop to postgres;
`;
const STEPS = [
  // 1 -> 2: two inserts, one delete, one update; a duplicate row in a table without a key
  `insert into shop.orders values (21, 'new 21', 10, null), (22, 'new 22', 11, 'x');
   delete from shop.orders where id = 3;
   update shop.orders set amount = 99.99 where id = 5;
   insert into shop.notes values ('b');`,
  // 2 -> 3: a column added, one delete
  `alter table shop.orders add column coupon text;
   delete from shop.orders where id = 10;`,
  // 3 -> 4: the policy changed, one update (of the new column)
  `drop policy "own orders" on shop.orders;
   create policy "own orders" on shop.orders for select to authenticated using (customer = current_user or amount < 5);
   update shop.orders set coupon = 'SPRING' where id = 8;`,
  // 4 -> 5: a table dropped and one created
  `drop table shop.legacy;
   create table shop.coupons (code text primary key, percent int);
   insert into shop.coupons values ('SPRING', 10), ('FALL', 15);
   grant select on shop.coupons to postgres;`,
];

interface TableJson {
  table: string;
  status: string;
  schemaChanges: { kind: string; name: string; change: string }[];
  rows?: { key: string[]; added: number; removed: number; changed: number };
}

interface RowJson {
  table: string;
  change: string;
  key?: Record<string, string>;
}

/** The changes diff reported, as comparable text: one line per table not unchanged. */
function changes(doc: { tables: TableJson[] }): string[] {
  return doc.tables.filter((t) => t.status !== "unchanged").map((t) => {
    const schema = t.schemaChanges.map((c) => `${c.kind} ${c.name} ${c.change}`).join("; ");
    const r = t.rows;
    const rows = r && r.added + r.removed + r.changed > 0
      ? ` rows +${r.added} -${r.removed} ~${r.changed} by [${r.key}]`
      : "";
    return `${t.status} ${t.table}${schema ? `: ${schema}` : ""}${rows}`;
  });
}

/** The row changes of --rows --json, as `table change key` lines, sorted. */
function rowKeys(doc: { rowChanges: RowJson[] }): string[] {
  return doc.rowChanges.map((r) => `${r.table} ${r.change} ${r.key ? Object.values(r.key).join(",") : "-"}`)
    .sort();
}

const EXPECTED = [
  [
    "changed shop.notes rows +1 -0 ~0 by []",
    "changed shop.orders rows +2 -1 ~1 by [id]",
  ],
  ["changed shop.orders: column coupon added rows +0 -1 ~0 by [id]"],
  ["changed shop.orders: policy own orders changed rows +0 -0 ~1 by [id]"],
  ["added shop.coupons", "removed shop.legacy"],
];
const EXPECTED_ROWS = [
  [
    "shop.notes added -",
    "shop.orders added 21",
    "shop.orders added 22",
    "shop.orders changed 5",
    "shop.orders removed 3",
  ],
  ["shop.orders removed 10"],
  ["shop.orders changed 8"],
  [
    "shop.coupons added FALL",
    "shop.coupons added SPRING",
    "shop.legacy removed 1",
    "shop.legacy removed 2",
    "shop.legacy removed 3",
    "shop.legacy removed 4",
    "shop.legacy removed 5",
  ],
];

async function parseJson<T>(r: { code: number; stdout: string; stderr: string }, code: number): Promise<T> {
  assertEquals(r.code, code, `exit ${r.code}\n${r.stderr}\n${r.stdout.slice(0, 2000)}`);
  return await Promise.resolve(JSON.parse(r.stdout) as T);
}

function oneLineError(r: { code: number; stdout: string; stderr: string }, pattern: RegExp): void {
  assertEquals(r.code, 2, `exit ${r.code}: ${r.stderr}`);
  const lines = r.stderr.trim().split("\n");
  assertEquals(lines.length, 2, r.stderr);
  ok(lines[0].startsWith("error: ") && pattern.test(lines[0]), lines[0]);
  ok(lines[1].startsWith("hint: "), lines[1]);
  assertEquals(r.stdout, "");
}

async function scenario(c: Cluster): Promise<void> {
  const db = await c.createDatabase();
  const { url } = await loadFixture(c, db);
  await c.sql(SETUP, { db });
  const tmp = await Deno.makeTempDir({ prefix: "sb-history-" });
  try {
    const { repo, out, backup } = await gitRoot(tmp, url);
    await backup();
    for (const step of STEPS) {
      await c.sql(step, { db });
      await backup();
    }
    const list = await parseJson<{ roots: { backups: { backup: string; createdAt: string }[] }[] }>(
      await runCli(["list", "--out", out, "--json"]),
      0,
    );
    // Oldest first: the four archives, then latest.
    const listed = list.roots[0].backups.map((b) => b.backup);
    const labels = [...listed.slice(1).reverse(), listed[0]];
    assertEquals(labels.length, 5);
    assertEquals(labels[4], "latest");

    for (let i = 0; i < 4; i++) {
      const [from, to] = [labels[i], labels[i + 1]];
      const doc = await parseJson<{ tables: TableJson[]; equal: boolean }>(
        await runCli(["diff", from, to, "--out", out, "--json"]),
        1,
      );
      assertEquals(changes(doc), EXPECTED[i], `${from} -> ${to}`);
      assertEquals(doc.equal, false);
      const withRows = await parseJson<{ tables: TableJson[]; rowChanges: RowJson[] }>(
        await runCli(["diff", from, to, "--out", out, "--json", "--rows"]),
        1,
      );
      assertEquals(rowKeys(withRows), EXPECTED_ROWS[i], `rows ${from} -> ${to}`);
      // The same pair from git history: commit k holds backup k as latest/.
      const git = await parseJson<{ tables: TableJson[]; from: { createdAt: string } }>(
        await runCli(["diff", `HEAD~${4 - i}:`, `HEAD~${3 - i}:backups/latest`, "--out", out, "--json"], {}, {
          cwd: repo,
        }),
        1,
      );
      assertEquals(changes(git), EXPECTED[i], `git ${from} -> ${to}`);
      assertEquals(git.tables.length, doc.tables.length);
    }

    // Equal backups: exit 0. Text report names the changes.
    const same = await runCli(["diff", "latest", "latest", "--out", out]);
    assertEquals(same.code, 0, same.stderr);
    ok(/0 changed, 0 added, 0 removed/.test(same.stdout), same.stdout);
    const text = await runCli(["diff", labels[2], labels[3], "--out", out]);
    assertEquals(text.code, 1, text.stderr);
    ok(/changed {4}shop\.orders/.test(text.stdout), text.stdout);
    ok(/policy "own orders" changed/.test(text.stdout), text.stdout);
    ok(/rows: 0 added, 0 removed, 1 changed \(by id; 20 -> 20\)/.test(text.stdout), text.stdout);
    // No FROM: the newest archive against latest.
    const dflt = await parseJson<{ tables: TableJson[] }>(await runCli(["diff", "--out", out, "--json"]), 1);
    assertEquals(changes(dflt), EXPECTED[3]);
    // A date picks the newest backup at or before it (the future: latest).
    const dated = await runCli(["diff", labels[3], "2999-01-01", "--out", out, "--json"]);
    assertEquals(changes(JSON.parse(dated.stdout)), EXPECTED[3]);

    // history, from the manifests: on disk, then from git history alone once archive/ is gone.
    const hist = async () =>
      (await parseJson<{ changes: { label: string; change: string; rows: number }[] }>(
        await runCli(["history", "--table", "shop.orders", "--out", out, "--json"], {}, { cwd: repo }),
        0,
      )).changes.map((e) => `${e.change} ${e.rows}`);
    const expectedHistory = ["created 20", "data 21", "schema+data 20", "schema+data 20"];
    assertEquals(await hist(), expectedHistory);
    const legacy = await parseJson<
      { table: string; schema: string; name: string; changes: { label: string; change: string }[] }
    >(
      await runCli(["history", "--table", "shop.legacy", "--out", out, "--json"]),
      0,
    );
    // the table as schema and name apart, and as before joined
    assertEquals([legacy.schema, legacy.name, legacy.table], ["shop", "legacy", "shop.legacy"]);
    assertEquals(legacy.changes.map((e) => [e.label, e.change]), [[labels[0], "created"], [
      "latest",
      "dropped",
    ]]);
    await Deno.remove(`${out}/archive`, { recursive: true });
    await $`git -C ${repo} -c user.name=t -c user.email=t@example.com commit --quiet -am prune`;
    assertEquals(await hist(), expectedHistory);
    const textHist = await runCli(["history", "--table", "shop.orders", "--out", out]);
    assertEquals(textHist.code, 0, textHist.stderr);
    ok(/shop\.orders: 4 changes in 5 backups \(the table is in 5\)/.test(textHist.stdout), textHist.stdout);
    // The time history prints (whole seconds) names that backup in diff too, though only git has it
    // now, as it does for restore --as-of; before, diff looked on disk only and said no backup was
    // taken at or before it.
    const first = textHist.stdout.split("\n")[2].split(/\s+/)[0];
    const old = await parseJson<{ from: { label: string; createdAt: string } }>(
      await runCli(["diff", first, "latest", "--out", out, "--json"], {}, { cwd: repo }),
      1,
    );
    ok(/^[0-9a-f]{7}:/.test(old.from.label), old.from.label);
    assertEquals(old.from.createdAt.slice(0, 19), first.slice(0, 19));

    // Bad input: one line and a hint, exit 2, nothing on stdout.
    oneLineError(await runCli(["diff", "2026-13-99x", "--out", out]), /no such backup/);
    oneLineError(await runCli(["diff", "nope", "--out", out]), /'nope': no such backup/);
    oneLineError(
      await runCli(["diff", "2000-01-01", "latest", "--out", out]),
      /at or before 2000-01-01T23:59:59Z/,
    );
    oneLineError(
      await runCli(["diff", "HEAD~1:", "--table", "shop.nope", "--out", out], {}, { cwd: repo }),
      /table shop\.nope is not in/,
    );
    oneLineError(await runCli(["history", "--table", "shop.nope", "--out", out]), /in none of the 5 backups/);
    oneLineError(await runCli(["diff", "no-such-rev:", "--out", out], {}, { cwd: repo }), /is not a commit/);

    // The live database: lose two rows, see them, put them back with the SQL diff prints.
    await c.sql(
      "delete from shop.orders where id in (1, 2); update shop.orders set note = 'live' where id = 4;",
      {
        db,
      },
    );
    const live = await parseJson<{ tables: TableJson[] }>(
      await runCli(["diff", "--db-url", url, "--out", out, "--table", "shop.orders", "--json"]),
      1,
    );
    assertEquals(changes(live), ["changed shop.orders rows +0 -2 ~1 by [id]"]);
    // A compressed backup of that state is read through its decoder: the same rows.
    const zst = await runCli([
      "backup",
      "--db-url",
      url,
      "--out",
      `${tmp}/zst`,
      "--compress",
      "zstd",
      "--yes",
    ]);
    ok(zst.code === 0 || zst.code === 3, zst.stderr);
    const packed = await parseJson<{ tables: TableJson[]; rowChanges: RowJson[] }>(
      await runCli([
        "diff",
        "latest",
        `${tmp}/zst/latest`,
        "--out",
        out,
        "--table",
        "shop.orders",
        "--json",
        "--rows",
      ]),
      1,
    );
    assertEquals(rowKeys(packed), [
      "shop.orders changed 4",
      "shop.orders removed 1",
      "shop.orders removed 2",
    ]);
    const undo = await runCli(["diff", "live", "latest", "--out", out, "--table", "shop.orders", "--rows"], {
      SUPABASE_DB_URL: url,
    });
    assertEquals(undo.code, 1, undo.stderr);
    ok(
      /^INSERT INTO shop\.orders \(id, customer, amount, note, coupon\) VALUES \('1', /m.test(undo.stdout),
      undo.stdout,
    );
    await Deno.writeTextFile(`${tmp}/undo.sql`, undo.stdout);
    await psql(c, db, ["-f", `${tmp}/undo.sql`]);
    const after = await runCli(["diff", "latest", "--db-url", url, "--out", out, "--table", "shop.orders"]);
    assertEquals(after.code, 0, after.stdout + after.stderr);
    assertEquals(
      (await c.sql("select note from shop.orders where id = 4", { db })).trim(),
      "multi\nline\ttab 'q'",
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

for (const major of [15, 17] as const) {
  Deno.test(`diff and history over five backups and git history on PostgreSQL ${major}`, async () => {
    await scenario(await sharedCluster(major));
  });
}

/**
 * Two backups taken in the same second (as fast backups of a small database are): history lists both,
 * to the millisecond, and diff chooses each by that time. Their archive names, cut to the second, are
 * the same; before, history merged them into one and the change between them was lost. The backups
 * are real; their createdAt is set to the same second, in a repository whose one commit holds both.
 */
Deno.test("two backups in the same second are two entries of history, and diff tells them apart", async () => {
  const c = await sharedCluster(17);
  const db = await c.createDatabase();
  await c.sql(`create table public.t (id int primary key); insert into public.t values (1);`, { db });
  const tmp = await Deno.makeTempDir({ prefix: "sb-history-second-" });
  try {
    const { out, backup } = await gitRoot(`${tmp}/first`, c.url({ db }));
    await backup();
    await c.sql(`insert into public.t values (2);`, { db });
    await backup();
    // The same backups in a new repository, their times in one second.
    const repo = `${tmp}/repo`;
    await Deno.mkdir(repo, { recursive: true });
    await $`cp -r ${out} ${repo}/backups`;
    const archives = [...Deno.readDirSync(`${repo}/backups/archive`)].map((e) => e.name);
    assertEquals(archives.length, 1);
    const setTime = async (dir: string, at: string) => {
      const m = JSON.parse(await Deno.readTextFile(`${dir}/manifest.json`));
      m.createdAt = at;
      await Deno.writeTextFile(`${dir}/manifest.json`, JSON.stringify(m, null, 2));
    };
    await setTime(`${repo}/backups/archive/${archives[0]}`, "2026-12-01T09:30:10.100Z");
    await setTime(`${repo}/backups/latest`, "2026-12-01T09:30:10.700Z");
    const git = ["-c", "user.name=t", "-c", "user.email=t@example.com"];
    await $`git -c init.defaultBranch=main init --quiet ${repo}`;
    await $`git -C ${repo} add -A`;
    await $`git -C ${repo} ${git} commit --quiet -m both`;
    const hist = await parseJson<
      { backups: number; changes: { createdAt: string; change: string; rows: number }[] }
    >(
      await runCli(["history", "--table", "public.t", "--out", `${repo}/backups`, "--json"]),
      0,
    );
    assertEquals(hist.backups, 2);
    assertEquals(hist.changes.map((e) => `${e.createdAt} ${e.change} ${e.rows}`), [
      "2026-12-01T09:30:10.100Z created 1",
      "2026-12-01T09:30:10.700Z data 2",
    ]);
    const text = await runCli(["history", "--table", "public.t", "--out", `${repo}/backups`]);
    ok(
      text.stdout.includes("2026-12-01T09:30:10.100Z  created") &&
        text.stdout.includes("2026-12-01T09:30:10.700Z  data"),
      text.stdout,
    );
    // the printed times choose each backup
    const d = await parseJson<{ tables: TableJson[] }>(
      await runCli([
        "diff",
        "2026-12-01T09:30:10.100Z",
        "2026-12-01T09:30:10.700Z",
        "--out",
        `${repo}/backups`,
        "--json",
      ]),
      1,
    );
    assertEquals(changes(d), ["changed public.t rows +1 -0 ~0 by [id]"]);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
