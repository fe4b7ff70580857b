/**
 * A table back from a point in time, with the real CLI on real PostgreSQL 15 and 17: `restore --as-of`
 * chooses the newest backup taken at or before a time, from archive/ on disk and, once the archive is
 * pruned, from git history alone (read with git cat-file, nothing checked out); `--into` brings the
 * table back under a new name beside the live one (as `postgres`, into the live database), so that a
 * join finds exactly the rows deleted since; a hostile table name changes nothing else. `--from
 * <rev>:<path>` restores the backup of a git commit the same way, and a bad revision is exit 2.
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import $ from "dax";
import { type Cluster, sharedCluster } from "./support/cluster.ts";
import { loadFixture } from "./support/fixture.ts";
import { runCli } from "./support/cli.ts";
import { gitRoot } from "./support/gitroot.ts";

const SETUP = `
create schema shop;
create table shop.customers (id int primary key, name text not null);
insert into shop.customers select i, 'customer ' || i from generate_series(1, 5) i;
create table shop.orders (
  id serial primary key,
  customer int not null references shop.customers (id),
  code text not null unique,
  amount numeric(10,2) check (amount >= 0),
  note text
);
create index orders_amount_idx on shop.orders (amount);
alter table shop.orders enable row level security;
create policy "own orders" on shop.orders for select to authenticated using (customer = 1);
insert into shop.orders (customer, code, amount, note)
  select 1 + i % 5, 'code-' || i, i * 1.5, case when i % 7 = 0 then E'multi\\nline\\ttab ''q''' end
  from generate_series(1, 40) i;
create function shop.touch() returns trigger language plpgsql as $$begin new.note := 'touched'; return new; end$$;
create trigger orders_touch before insert on shop.orders for each row execute function shop.touch();
create table shop."bad"";
drop table shop.customers; --" (id int primary key, "v;" text);
create index "bad"";
drop table shop.customers; --_v" on shop."bad"";
drop table shop.customers; --" ("v;");
insert into shop."bad"";
drop table shop.customers; --" select i, 'v' || i from generate_series(1, 6) i;
grant usage on schema shop to postgres;
grant select on all tables in schema shop to postgres;
grant select on all sequences in schema shop to postgres;
grant create on schema shop to postgres;
`;

/** The hostile table, as --table takes it. */
const BAD = 'shop."bad"";\ndrop table shop.customers; --"';

interface Listed {
  roots: { backups: { backup: string; createdAt: string }[] }[];
}

async function count(c: Cluster, db: string, table: string): Promise<number> {
  return Number((await c.sql(`select count(*) from ${table}`, { db })).trim());
}

async function scenario(c: Cluster): Promise<void> {
  const db = await c.createDatabase();
  const { url } = await loadFixture(c, db, { app: false });
  await c.sql(SETUP, { db });
  const tmp = await Deno.makeTempDir({ prefix: "sb-pit-" });
  try {
    const { repo, out, backup } = await gitRoot(tmp, url);
    // Backup 1 has all 40 orders; then rows are lost and changed, and backup 2 is taken.
    await backup();
    await c.sql(
      `delete from shop.orders where id % 4 = 0; update shop.orders set note = 'changed' where id = 1;
       delete from ${BAD} where id > 3;`,
      { db },
    );
    await backup();
    const listed = (JSON.parse((await runCli(["list", "--out", out, "--json"])).stdout) as Listed).roots[0]
      .backups;
    assertEquals(listed.length, 2);
    const first = listed[1];
    ok(first.backup.startsWith("archive/"), first.backup);

    // --as-of the first backup's time: the archive on disk, a whole restore into an empty database.
    const whole = await c.createDatabase();
    const r1 = await runCli(["restore", "--as-of", first.createdAt, "--out", out], {
      RESTORE_DB_URL: c.url({ db: whole }),
    });
    assertEquals(r1.code, 0, r1.stderr);
    ok(r1.stdout.includes(`from ${first.backup}`), r1.stdout);
    assertEquals(await count(c, whole, "shop.orders"), 40);
    // A time after both: latest (a dry run into an empty database: into one with rows, it exits as the
    // restore would, refused).
    const dry = await runCli(["restore", "--as-of", "2999-01-01", "--out", out, "--dry-run"], {
      RESTORE_DB_URL: c.url({ db: await c.createDatabase() }),
    });
    assertEquals(dry.code, 0, dry.stderr);
    ok(/^restore latest into /m.test(dry.stdout), dry.stdout);

    // --into: the table as it was, beside the live one, in the live database, as postgres.
    const live = { RESTORE_DB_URL: url };
    const lostIds = Array.from({ length: 10 }, (_, i) => String(4 * (i + 1))).join("\n");
    const lost = (copy: string) =>
      c.sql(
        `select b.id from ${copy} b left join shop.orders o using (id) where o.id is null order by b.id`,
        { db },
      );
    const indexes = () =>
      c.sql("select indexname from pg_indexes where schemaname = 'shop' order by 1", { db });
    const before = await indexes();
    const into = await runCli([
      "restore",
      "--table",
      "shop.orders",
      "--as-of",
      first.createdAt,
      "--into",
      "shop.orders_before",
      "--out",
      out,
    ], live);
    assertEquals(into.code, 0, into.stderr);
    ok(into.stdout.startsWith(`restored shop.orders_before (40 row(s)) from ${first.backup}`), into.stdout);
    ok(
      /note: shop\.orders is restored as shop\.orders_before, beside it; renamed .*orders_pkey -> orders_before_pkey/
        .test(into.stderr),
      into.stderr,
    );
    assertEquals((await lost("shop.orders_before")).trim(), lostIds);
    assertEquals(await count(c, db, "shop.orders"), 30);
    assertEquals(
      (await c.sql("select note from shop.orders_before where id = 1", { db })).trim() + "|" +
        (await c.sql("select note from shop.orders where id = 1", { db })).trim(),
      "|changed",
    );
    // The live table keeps its indexes; the copy has its own, no foreign key, no trigger, RLS and policy.
    const added = (await indexes()).split("\n").filter((n) => !before.split("\n").includes(n));
    assertEquals(added, ["orders_before_amount_idx", "orders_before_code_key", "orders_before_pkey"]);
    assertEquals(
      (await c.sql(
        `select (select count(*) from pg_constraint where conrelid = 'shop.orders_before'::regclass and contype = 'f'),
                (select count(*) from pg_trigger where tgrelid = 'shop.orders_before'::regclass),
                (select relrowsecurity from pg_class where oid = 'shop.orders_before'::regclass),
                (select count(*) from pg_policy where polrelid = 'shop.orders_before'::regclass)`,
        { db },
      )).trim(),
      "0|0|t|1",
    );
    // The copy's sequence is its own: the live one goes on where it was.
    assertEquals(
      (await c.sql("select nextval('shop.orders_before_id_seq'), nextval('shop.orders_id_seq')", { db }))
        .trim(),
      "41|41",
    );
    // Rows copied back with SQL: the live table is whole again.
    await c.sql(
      "insert into shop.orders select b.* from shop.orders_before b where not exists (select 1 from shop.orders o where o.id = b.id)",
      { db },
    );
    assertEquals(await count(c, db, "shop.orders"), 40);
    await c.sql("delete from shop.orders where id % 4 = 0", { db });

    // The same name again: exit 2, one line and a hint, nothing written.
    const relations = () =>
      c.sql(
        "select count(*) from pg_class c join pg_namespace n on n.oid = relnamespace where nspname = 'shop'",
        { db },
      );
    const n = await relations();
    const again = await runCli(
      [
        "restore",
        "--table",
        "shop.orders",
        "--as-of",
        first.createdAt,
        "--into",
        "shop.orders_before",
        "--out",
        out,
      ],
      live,
    );
    assertEquals(again.code, 2, again.stderr);
    const lines = again.stderr.trim().split("\n").filter((l) => !l.startsWith("warning:"));
    ok(
      lines.length === 2 && lines[0].startsWith("error: --into shop.orders_before already exists"),
      again.stderr,
    );
    assertEquals(await relations(), n);

    // A hostile table name, and a hostile new name: its rows come back, nothing else is touched.
    const bad = await runCli(
      [
        "restore",
        "--table",
        BAD,
        "--as-of",
        first.createdAt,
        "--into",
        'shop."copy ""of"" bad; --"',
        "--out",
        out,
      ],
      live,
    );
    assertEquals(bad.code, 0, bad.stderr);
    assertEquals(await count(c, db, 'shop."copy ""of"" bad; --"'), 6);
    assertEquals(await count(c, db, BAD), 3);
    assertEquals(await count(c, db, "shop.customers"), 5);

    // Pruned from archive/: git history still has it, read without checking anything out.
    await Deno.remove(`${out}/archive`, { recursive: true });
    await $`git -C ${repo} -c user.name=t -c user.email=t@example.com commit --quiet -am prune`;
    const status = await $`git -C ${repo} status --porcelain`.text();
    const fromGit = await c.createDatabase();
    const r2 = await runCli(["restore", "--as-of", first.createdAt, "--table", "shop.orders", "--out", out], {
      RESTORE_DB_URL: c.url({ db: fromGit }),
    });
    assertEquals(r2.code, 0, r2.stderr);
    ok(/from [0-9a-f]{7}:backups\/latest /.test(r2.stdout), r2.stdout);
    assertEquals(await count(c, fromGit, "shop.orders"), 40);
    assertEquals(await $`git -C ${repo} status --porcelain`.text(), status);
    assertEquals(
      (await c.sql("select note from shop.orders where id = 7", { db: fromGit })).trim(),
      "multi\nline\ttab 'q'",
    );
    // --into from git history, beside the live table.
    const git = await runCli(
      [
        "restore",
        "--table",
        "shop.orders",
        "--as-of",
        first.createdAt,
        "--into",
        "shop.orders_git",
        "--out",
        out,
      ],
      live,
    );
    assertEquals(git.code, 0, git.stderr);
    ok(/from [0-9a-f]{7}:backups\/latest /.test(git.stdout), git.stdout);
    assertEquals((await lost("shop.orders_git")).trim(), lostIds);
    assertEquals(await $`git -C ${repo} status --porcelain`.text(), status);

    // --from <rev>:<path>: the backup of a commit, by its path or (empty) the root's latest/, read the same way.
    const byRev = await c.createDatabase();
    const r3 = await runCli(
      ["restore", "--from", "HEAD~2:backups/latest", "--table", "shop.orders", "--out", out],
      { RESTORE_DB_URL: c.url({ db: byRev }) },
    );
    assertEquals(r3.code, 0, r3.stderr);
    ok(/from [0-9a-f]{7}:backups\/latest /.test(r3.stdout), r3.stdout);
    assertEquals(await count(c, byRev, "shop.orders"), 40);
    const rev = await runCli(
      ["restore", "--from", "HEAD~2:", "--table", "shop.orders", "--into", "shop.orders_rev", "--out", out],
      live,
    );
    assertEquals(rev.code, 0, rev.stderr);
    assertEquals((await lost("shop.orders_rev")).trim(), lostIds);
    assertEquals(await $`git -C ${repo} status --porcelain`.text(), status);
    // verify and the drill take <rev>:<path> too, streaming each file with git cat-file.
    const v = await runCli(["verify", "--from", "HEAD~2:backups/latest", "--out", out]);
    assertEquals(v.code, 0, v.stderr);
    ok(/^ok +[0-9a-f]{7}:backups\/latest /m.test(v.stdout), v.stdout);
    const drilled = await runCli(["verify", "--drill", "--from", "HEAD~2:", "--out", out], {
      RESTORE_DB_URL: c.url({ db: await c.createDatabase() }),
    });
    assertEquals(drilled.code, 0, drilled.stderr);
    ok(/^(\d+)\/\1 tables match$/m.test(drilled.stdout), drilled.stdout);
    // A commit whose files were altered, made beside HEAD with a scratch index (the work tree and HEAD
    // untouched): one data.sql changed, one removed, each named.
    const m = JSON.parse(await $`git -C ${repo} show HEAD:backups/latest/manifest.json`.text()) as {
      files: Record<string, unknown>;
    };
    const [changed, removed] = Object.keys(m.files).filter((f) => f.endsWith("/data.sql"));
    const index = `${tmp}/scratch-index`;
    const g = (args: string[], stdin?: string) => {
      // Its own identity: a test file beside it may point GIT_CONFIG_GLOBAL at /dev/null for the process.
      const cmd = $`git -C ${repo} ${args}`.env({
        GIT_INDEX_FILE: index,
        GIT_AUTHOR_NAME: "t",
        GIT_AUTHOR_EMAIL: "t@example.com",
        GIT_COMMITTER_NAME: "t",
        GIT_COMMITTER_EMAIL: "t@example.com",
      });
      return (stdin === undefined ? cmd : cmd.stdinText(stdin)).text();
    };
    await g(["read-tree", "HEAD"]);
    const blob = await g(["hash-object", "-w", "--stdin"], "1\tforged\n");
    await g(["update-index", "--cacheinfo", `100644,${blob},backups/latest/${changed}`]);
    await g(["update-index", "--force-remove", `backups/latest/${removed}`]);
    const forged = await g(["commit-tree", await g(["write-tree"]), "-p", "HEAD", "-m", "forged"]);
    const forgedRun = await runCli(["verify", "--from", `${forged}:backups/latest`, "--out", out]);
    assertEquals(forgedRun.code, 1, forgedRun.stderr);
    ok(forgedRun.stdout.includes(changed) && forgedRun.stdout.includes(removed), forgedRun.stdout);
    assertEquals(await $`git -C ${repo} status --porcelain`.text(), status);

    // A revision git does not know, a path without a backup, a time: exit 2, one line and a hint.
    for (
      const [from, re] of [
        ["no-such-rev:backups/latest", /^error: 'no-such-rev' is not a commit of the git repository /],
        ["HEAD~2:backups/nowhere", /^error: HEAD~2:backups\/nowhere: no backup there/],
        ["HEAD~99:", /^error: 'HEAD~99' is not a commit/],
        ["2026-12-01T09:30", /^error: --from '2026-12-01T09:30' is a time, not a backup/],
      ] as const
    ) {
      const r = await runCli(["restore", "--from", from, "--table", "shop.orders", "--out", out], {
        RESTORE_DB_URL: c.url({ db: await c.createDatabase() }),
      });
      assertEquals(r.code, 2, `${from}: ${r.stderr}`);
      const lines = r.stderr.trim().split("\n");
      ok(lines.length === 2 && re.test(lines[0]) && lines[1].startsWith("hint: "), r.stderr);
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

for (const major of [15, 17] as const) {
  Deno.test(`restore --as-of --into from archive/ and from git history on PostgreSQL ${major}`, async () => {
    await scenario(await sharedCluster(major));
  });
}
