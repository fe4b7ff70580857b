/**
 * The programs a restore starts, seen through a --pg-bin of wrappers that log each start and then run
 * the real program (issue 12, the restore's speed), on PostgreSQL 15 and 17: a whole restore lists each
 * dump's post-data once (the roles check and the post-data step share it); psql, which starts while the
 * backup is still being read and checked, is ended without COMMIT when a check then refuses the
 * restore: the target is unchanged and no session of the tool stays on the server. Reading the target
 * asks only about tables it has (no query fails on the server).
 * @module
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { join } from "node:path";
import { clientBinDir } from "../dev/pgenv.ts";
import { runCli } from "./support/cli.ts";
import { sharedCluster } from "./support/cluster.ts";
import { tableFingerprints } from "./support/fixture.ts";

/** A bin folder whose psql and pg_restore log `<pid> <program> <args>` to `log`, the rest linked. */
async function loggingBin(dir: string, log: string): Promise<string> {
  const real = clientBinDir();
  const bin = join(dir, "bin");
  await Deno.mkdir(bin);
  for await (const e of Deno.readDir(real)) {
    if (e.name === "psql" || e.name === "pg_restore") {
      await Deno.writeTextFile(
        join(bin, e.name),
        `#!/bin/sh\necho "$$ ${e.name} $*" >> '${log}'\nexec '${join(real, e.name)}' "$@"\n`,
        { mode: 0o755 },
      );
    } else await Deno.symlink(join(real, e.name), join(bin, e.name));
  }
  return bin;
}

/** The logged starts: pid, program and arguments. */
async function starts(log: string): Promise<{ pid: number; prog: string; args: string }[]> {
  const text = await Deno.readTextFile(log).catch(() => "");
  return text.split("\n").filter(Boolean).map((l) => {
    const [pid, prog, ...args] = l.split(" ");
    return { pid: Number(pid), prog, args: args.join(" ") };
  });
}

function running(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

for (const major of [15, 17] as const) {
  Deno.test({
    name: `the programs a restore runs (PostgreSQL ${major})`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async (t) => {
      const c = await sharedCluster(major);
      const src = await c.createDatabase();
      await c.sql(
        `create schema app;
         create schema crm;
         create table crm.customers (id int primary key, name text not null);
         create table app.orders (id int primary key, customer int not null references crm.customers,
                                  total numeric not null);
         create index on app.orders (customer);
         alter table app.orders enable row level security;
         create policy own_orders on app.orders for select to public using (total >= 0);
         insert into crm.customers select g, 'c' || g from generate_series(1, 20) g;
         insert into app.orders select g, 1 + g % 20, g from generate_series(1, 100) g;`,
        { db: src },
      );
      const dir = await Deno.makeTempDir({ prefix: `restore-runs-${major}-` });
      const log = join(dir, "runs.log");
      const env = { PG_BIN: await loggingBin(dir, log) };
      try {
        const root = join(dir, "backups");
        const b = await runCli(["backup", "--db-url", c.url({ db: src }), "--out", root, "--yes"], env);
        assertEquals(b.code, 0, b.stderr);
        const want = await tableFingerprints(c, src);
        const target = await c.createDatabase();

        await t.step("a whole restore lists each dump's post-data once", async () => {
          await Deno.remove(log).catch(() => {});
          const r = await runCli(
            ["restore", "--out", root, "--target-url", c.url({ db: target }), "--yes"],
            env,
          );
          assertEquals(r.code, 0, r.stderr);
          assertEquals(await tableFingerprints(c, target), want);
          const runs = await starts(log);
          const listings = runs.filter((x) =>
            x.prog === "pg_restore" && x.args.startsWith("-l --section=post-data")
          );
          // One per schema dump (app, crm, public), each once.
          const dumps = listings.map((x) => x.args.split(" ").at(-1)!);
          assertEquals(dumps.length, 3, runs.map((x) => `${x.prog} ${x.args}`).join("\n"));
          assertEquals(new Set(dumps).size, 3);
          assertEquals(runs.filter((x) => x.prog === "psql").length, 1);
          // The target had none of the tables: nothing asked whether they are empty.
          const serverLog = await Deno.readTextFile(join(c.dataDir, "..", "server.log"));
          ok(!serverLog.includes(`relation "crm.customers" does not exist`), "a query on a missing table");
        });

        await t.step("refused after psql started: the target is unchanged, the session gone", async () => {
          await Deno.remove(log).catch(() => {});
          const before = await tableFingerprints(c, target);
          // The tables exist now: without --clean the plan refuses them (exit 1, nothing written).
          const r = await runCli(
            ["restore", "--out", root, "--target-url", c.url({ db: target }), "--yes"],
            env,
          );
          ok(r.code !== 0, r.stderr);
          ok(/error: /.test(r.stderr), r.stderr);
          const psql = (await starts(log)).filter((x) => x.prog === "psql");
          assertEquals(psql.length, 1, "psql starts while the backup is read and checked");
          ok(!running(psql[0].pid), "psql is ended");
          assertEquals(await tableFingerprints(c, target), before);
          let sessions = "";
          for (let i = 0; i < 50; i++) {
            sessions = (await c.sql(
              `select count(*) from pg_stat_activity where datname = '${target}' and pid <> pg_backend_pid()`,
            )).trim();
            if (sessions === "0") break;
            await new Promise((res) => setTimeout(res, 100));
          }
          assertEquals(sessions, "0");
        });
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}
