/**
 * A table back from a point in time, with the real CLI on real PostgreSQL 15 and 17: `restore --as-of`
 * chooses the newest backup taken at or before a time, from archive/ on disk and, once the archive is
 * pruned, from git history alone (read with git cat-file, nothing checked out).
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
insert into shop.orders (customer, code, amount, note)
  select 1 + i % 5, 'code-' || i, i * 1.5, case when i % 7 = 0 then E'multi\\nline\\ttab ''q''' end
  from generate_series(1, 40) i;
grant usage on schema shop to postgres;
grant select on all tables in schema shop to postgres;
grant select on all sequences in schema shop to postgres;
`;

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
      "delete from shop.orders where id % 4 = 0; update shop.orders set note = 'changed' where id = 1;",
      {
        db,
      },
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
    // A time after both: latest.
    const dry = await runCli(["restore", "--as-of", "2999-01-01", "--out", out, "--dry-run"], {
      RESTORE_DB_URL: c.url({ db: whole }),
    });
    assertEquals(dry.code, 0, dry.stderr);
    ok(/^restore latest into /m.test(dry.stdout), dry.stdout);

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
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

for (const major of [15, 17] as const) {
  Deno.test(`restore --as-of from archive/ and from git history on PostgreSQL ${major}`, async () => {
    await scenario(await sharedCluster(major));
  });
}
