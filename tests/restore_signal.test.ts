/**
 * A restore or drill interrupted mid-load (SIGINT, SIGTERM), with the real CLI on PostgreSQL 17:
 * it exits 130 or 143 and says what is true, that the target was not changed (the restore is one
 * transaction, rolled back), and the target is indeed as it was, with no session of the restore left.
 * @module
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { spawnCli } from "./support/cli.ts";
import type { Cluster } from "./support/cluster.ts";
import { fingerprint, TOOLS, withBackup } from "./support/restored.ts";
import { waitForActivity } from "./support/psql.ts";

/** Waits until a session of `db` runs a COPY … FROM STDIN (the restore is loading rows). */
function waitForLoad(c: Cluster, db: string, ms = 60_000): Promise<void> {
  return waitForActivity(c, db, "copy %from stdin%", "the restore never started loading rows", ms, 20);
}

async function sessionsOf(c: Cluster, db: string): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const n = Number((await c.sql(`select count(*) from pg_stat_activity where datname = '${db}'`)).trim());
    if (n === 0) return 0;
    await new Promise((r) => setTimeout(r, 50));
  }
  return Number((await c.sql(`select count(*) from pg_stat_activity where datname = '${db}'`)).trim());
}

Deno.test({
  name: "an interrupted restore or drill says the target was not changed, and it was not",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: (t) =>
    withBackup(
      `create table public.small (id int primary key);
       insert into public.small select generate_series(1, 10);
       create table public.big (id int primary key, body text);
       insert into public.big select g, repeat(md5(g::text), 8) from generate_series(1, 600000) g;`,
      async (c, root) => {
        const runs = [
          { signal: "SIGINT", code: 130, args: ["restore", "--yes"], target: "the target" },
          { signal: "SIGTERM", code: 143, args: ["restore", "--yes"], target: "the target" },
          { signal: "SIGINT", code: 130, args: ["verify", "--drill"], target: "the drill target" },
        ] as const;
        for (const run of runs) {
          await t.step(`${run.args[0]} ${run.signal} mid-load`, async () => {
            const db = await c.createDatabase();
            const before = await fingerprint(c, db);
            const { child, result } = spawnCli(
              [...run.args, "--out", root, "--target-url", c.url({ db })],
              TOOLS,
            );
            await waitForLoad(c, db);
            child.kill(run.signal);
            const r = await result;
            assertEquals(r.code, run.code, r.stderr);
            const error = r.stderr.trim().split("\n").find((l) => l.startsWith("error: ")) ?? "";
            assertEquals(
              error,
              `error: interrupted by ${run.signal}; nothing was changed in ${run.target}: the restore runs in one ` +
                "transaction, which was rolled back",
            );
            ok(!/committed|--clean|part of/.test(r.stderr), r.stderr);
            assertEquals(await sessionsOf(c, db), 0);
            assertEquals(await fingerprint(c, db), before);
          });
        }
      },
    ),
});
