/**
 * Git at scale (issue 14, items 1 and 2), through the real CLI on a real PostgreSQL 17, real pg_dump
 * and real git: 30 backups pushed from a blobless, sparse clone made as the central workflow makes
 * it (`'/*' '!/backups/*\/archive/'`), 1% of the rows changed before each. The clone's disk stays at
 * about one backup (archives are trees in git only), every archive reads with `git show`, the
 * default retention of `backup --commit` applies, `list` shows the archives and the repository's
 * growth, and a restore from an archive works once `git sparse-checkout add` brought it in.
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import $ from "dax";
import { type Cluster, startCluster } from "./support/cluster.ts";
import { listFiles, runCli } from "./support/cli.ts";
import { clientBinDir } from "../dev/pgenv.ts";
import { DEFAULT_GIT_RETENTION } from "../lib/store/retention.ts";

const GIT_ENV = { GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1" };
const TOOLS = { PG_BIN: clientBinDir(), ...GIT_ENV };
const ROWS = 2000;

async function git(dir: string, ...args: string[]): Promise<string> {
  return (await $`git -C ${dir} ${args}`.env(GIT_ENV).stdout("piped").stderr("piped")).stdout.trim();
}

/** Bytes of the files under `dir`, leaving out `.git` when `skipGit`. */
async function bytesUnder(dir: string, skipGit = true): Promise<number> {
  let n = 0;
  for (const f of await listFiles(dir)) {
    if (skipGit && (f === ".git" || f.startsWith(".git/"))) continue;
    n += (await Deno.lstat(`${dir}/${f}`)).size;
  }
  return n;
}

const out = (r: { code: number; stdout: string; stderr: string }) =>
  `exit ${r.code}\nstderr:\n${r.stderr}\nstdout:\n${r.stdout}`;

let cluster: Cluster | undefined;

Deno.test("git at scale: 30 backups pushed from a sparse blobless clone; disk stays at one backup", async () => {
  cluster = await startCluster(17);
  const tmp = await Deno.makeTempDir({ prefix: "gitscale-" });
  try {
    const db = await cluster.createDatabase();
    await cluster.sql(
      `create table public.accounts(id int primary key, name text, balance int);
       insert into public.accounts select g, 'account ' || g, g from generate_series(1, ${ROWS}) g;
       create table public.events(id int primary key, account int references public.accounts, body text, v int);
       insert into public.events select g, 1 + g % ${ROWS}, md5(g::text), 0 from generate_series(1, ${ROWS}) g;`,
      { db },
    );
    const bare = `${tmp}/central.git`;
    await $`git -c init.defaultBranch=main init --quiet --bare ${bare}`.env(GIT_ENV);
    await git(bare, "config", "uploadpack.allowFilter", "true");
    const seed = `${tmp}/seed`;
    await $`git clone --quiet ${bare} ${seed}`.env(GIT_ENV).stderr("piped");
    await Deno.writeTextFile(`${seed}/README.md`, "# backups\n");
    await git(seed, "add", "-A");
    await git(seed, "-c", "user.name=seed", "-c", "user.email=seed@example.com", "commit", "-qm", "init");
    await git(seed, "push", "-q", "origin", "HEAD:refs/heads/main");

    // each day, as the workflow: a fresh blobless sparse clone, one backup pushed
    const dayClone = async (i: number) => {
      const dir = `${tmp}/run${i}`;
      await $`git clone --quiet --filter=blob:none --no-checkout file://${bare} ${dir}`.env(GIT_ENV).stderr(
        "piped",
      );
      await git(dir, "sparse-checkout", "set", "--no-cone", "/*", "!/backups/*/archive/");
      await git(dir, "checkout", "--quiet", "main");
      return dir;
    };
    // and one long-lived sparse clone that makes every backup (disk must stay bounded there too)
    const work = await dayClone(0);
    const root = `${work}/backups/prod`;
    const sums: number[] = [];
    const archiveSums = new Map<string, number>();
    let oneBackup = 0;
    let maxTree = 0;
    for (let i = 1; i <= 30; i++) {
      // 1% of the rows change
      await cluster.sql(
        `update public.events set v = v + ${i} where id % 100 = ${i % 100};
         update public.accounts set balance = balance + 1 where id % 100 = ${(i * 7) % 100};`,
        { db },
      );
      sums.push(Number((await cluster.sql("select sum(v) from public.events", { db })).trim()));
      const dir = i % 10 === 0 ? await dayClone(i) : work; // now and then from a fresh clone
      if (dir !== work) await git(work, "pull", "--quiet", "--ff-only");
      const r = await runCli(
        [
          "backup",
          "--db-url",
          cluster.url({ db }),
          "--out",
          `${dir}/backups/prod`,
          "--push",
          "--yes",
          "--sha",
          `${i}`.padStart(7, "0"),
        ],
        TOOLS,
      );
      assertEquals(r.code, 0, out(r));
      ok(/repository +\S/m.test(r.stdout), `the summary shows the repository: ${r.stdout}`);
      if (dir !== work) await git(work, "pull", "--quiet", "--ff-only");
      const latest = await bytesUnder(`${root}/latest`);
      oneBackup = Math.max(oneBackup, latest);
      // the checkout: latest/ and repository.json, never an archive's files
      const tree = await bytesUnder(work);
      maxTree = Math.max(maxTree, tree);
      ok(tree <= 1.2 * latest, `run ${i}: work tree ${tree} bytes, one backup ${latest}`);
      assertEquals(
        (await listFiles(root)).filter((f) => !f.startsWith("latest/")).filter((f) =>
          !f.startsWith(".staging")
        ),
        ["repository.json"],
        `run ${i}: nothing but latest/ on disk`,
      );
      assertEquals(await git(work, "status", "--porcelain"), "", `run ${i}: the clone is clean`);
      const m = JSON.parse(await Deno.readTextFile(`${root}/latest/manifest.json`));
      archiveSums.set(m.createdAt, sums[i - 1]);
      if (i === 30) break;
      // backups a second apart at least, so that names never repeat
      await new Promise((res) => setTimeout(res, 1100));
    }

    // the default retention of backup --commit: every run was today, so the 7 newest stay
    const names = (await git(work, "ls-tree", "--name-only", "HEAD:backups/prod/archive")).split("\n");
    assertEquals(names.length, DEFAULT_GIT_RETENTION.keepLast, names.join("\n"));
    for (const name of names) {
      // each archive reads with git show (a partial clone fetches what it lacks)
      const m = JSON.parse(await git(work, "show", `HEAD:backups/prod/archive/${name}/manifest.json`));
      ok(archiveSums.has(m.createdAt), `${name}: one of the backups made`);
      ok(name.startsWith(m.createdAt.replace(/:/g, "-").replace(/\.\d{3}Z$/, "Z")), name);
    }
    // history works as before: one commit per backup changed latest/manifest.json
    const log = (await git(work, "log", "--format=%H", "--", "backups/prod/latest/manifest.json")).split(
      "\n",
    );
    assertEquals(log.length, 30);

    // list: seven archives in git only, and the repository's size and growth
    const list = await runCli(["list", "--out", root, "--json"], TOOLS);
    assertEquals(list.code, 0, out(list));
    const listed = JSON.parse(list.stdout).roots[0];
    assertEquals(listed.backups.filter((b: { inGit?: boolean }) => b.inGit).length, 7, list.stdout);
    ok(listed.repository.sizeBytes > 0 && listed.repository.lastAddedBytes > 0, list.stdout);
    assertEquals(listed.repository.warning, null);
    const record = JSON.parse(await Deno.readTextFile(`${root}/repository.json`));
    assertEquals(record.backups.length, 30);

    // restore from an archive: refused with the command to run, which then makes it work
    const oldest = names[0];
    const refused = await runCli(
      ["restore", "--out", root, "--from", `archive/${oldest}`, "--target-url", cluster.url({ db: "x" })],
      TOOLS,
    );
    assertEquals(refused.code, 2, out(refused));
    ok(refused.stderr.includes(`git sparse-checkout add /backups/prod/archive/${oldest}/`), refused.stderr);
    await git(work, "sparse-checkout", "add", `/backups/prod/archive/${oldest}/`);
    const m = JSON.parse(await Deno.readTextFile(`${root}/archive/${oldest}/manifest.json`));
    const target = await cluster.createDatabase();
    const restored = await runCli(
      ["restore", "--out", root, "--from", `archive/${oldest}`, "--target-url", cluster.url({ db: target })],
      TOOLS,
    );
    assertEquals(restored.code, 0, out(restored));
    const sum = Number((await cluster.sql("select sum(v) from public.events", { db: target })).trim());
    assertEquals(sum, archiveSums.get(m.createdAt), "the archive holds the data of its day");
    assertEquals(
      (await cluster.sql("select count(*) from public.accounts", { db: target })).trim(),
      String(ROWS),
    );
    console.log(
      `gitscale: one backup ${oneBackup} bytes, work tree at most ${maxTree}, .git ${await bytesUnder(
        `${work}/.git`,
        false,
      )}`,
    );
  } finally {
    await cluster?.stop();
    await Deno.remove(tmp, { recursive: true });
  }
});
