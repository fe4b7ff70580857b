/**
 * The repository growth a backup commit records (issue 14), through the real CLI on a real
 * PostgreSQL 17 and real git: it must be what the repository holds once packed (the central
 * repository repacked after each push with `git repack -a -d -f --window=250 --depth=50`, which
 * pairs each file with its previous version), not git's loose objects (about 25 times that). Odd starts: the first backup, a missing `repository.json`, a record of the old format (loose
 * bytes, which warned far too early), a symlink committed in its place (never followed), a shallow
 * blobless sparse clone as the workflow makes it (the first measure is then "at least", and no
 * archive's blob is fetched to measure). A complete clone whose packs (`git count-objects -v`) hold
 * more than the record counts gives the record their size.
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import $ from "dax";
import { type Cluster, startCluster } from "./support/cluster.ts";
import { runCli } from "./support/cli.ts";
import { clientBinDir } from "../dev/pgenv.ts";

const GIT_ENV = { GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1" };
const TOOLS = { PG_BIN: clientBinDir(), ...GIT_ENV };
const TABLES = 24;
const ROWS = 600;
/** How far the recorded bytes may be from the packed growth, either way (measured: 0.83× to 1.2×). */
const FACTOR = 1.5;

async function git(dir: string, ...args: string[]): Promise<string> {
  return (await $`git -C ${dir} ${args}`.env(GIT_ENV).stdout("piped").stderr("piped")).stdout.trim();
}

/**
 * The central repository's bytes once packed anew with a wide window. (git's default window of 10
 * stores from 1× to 15× more for a later backup of this database, by how its name hash happens to
 * pair the files named data.sql: too noisy to compare with.)
 */
async function packed(bare: string): Promise<number> {
  await git(bare, "repack", "-a", "-d", "-f", "-q", "--window=250", "--depth=50");
  await git(bare, "prune", "--expire=now");
  const out = await git(bare, "count-objects", "-v");
  const kib = (k: string) => Number(out.match(new RegExp(`^${k}: (\\d+)$`, "m"))?.[1] ?? 0);
  return (kib("size") + kib("size-pack")) * 1024;
}

const out = (r: { code: number; stdout: string; stderr: string }) =>
  `exit ${r.code}\nstderr:\n${r.stderr}\nstdout:\n${r.stdout}`;

interface Repository {
  sizeBytes: number;
  exact: boolean;
  lastAddedBytes: number;
  warning: string | null;
}

let cluster: Cluster | undefined;

Deno.test("git growth: a backup records what it adds once packed; odd starts measure again", async () => {
  cluster = await startCluster(17);
  // a colon in the path: the scratch object directory must name the repository's objects quoted
  const top = await Deno.makeTempDir({ prefix: "gitgrowth-" });
  const tmp = `${top}/a:b`;
  await Deno.mkdir(tmp);
  try {
    const db = await cluster.createDatabase();
    // many tables, so that many files are named data.sql (git's name hash pairs them badly)
    await cluster.sql(
      Array.from(
        { length: TABLES },
        (_, i) =>
          `create table public.t${i + 1}(id int primary key, name text, v int);
         insert into public.t${i + 1} select g, md5((g * ${i + 1})::text) || ' row ' || g, 0
           from generate_series(1, ${ROWS}) g;`,
      ).join("\n"),
      { db },
    );
    const bare = `${tmp}/central.git`;
    await $`git -c init.defaultBranch=main init --quiet --bare ${bare}`.env(GIT_ENV);
    await git(bare, "config", "uploadpack.allowFilter", "true");
    await git(bare, "config", "uploadpack.allowAnySHA1InWant", "true");
    const seed = `${tmp}/seed`;
    await $`git clone --quiet ${bare} ${seed}`.env(GIT_ENV).stderr("piped");
    await Deno.writeTextFile(`${seed}/README.md`, "# backups\n");
    await git(seed, "add", "-A");
    await git(seed, "-c", "user.name=seed", "-c", "user.email=seed@example.com", "commit", "-qm", "init");
    await git(seed, "push", "-q", "origin", "HEAD:refs/heads/main");
    let day = 0;
    /** One backup pushed from `dir`, after 1% of the rows changed; its summary's repository. */
    const backup = async (dir: string): Promise<Repository> => {
      day++;
      await cluster!.sql(
        Array.from(
          { length: TABLES },
          (_, i) => `update public.t${i + 1} set v = v + 1 where id % 100 = ${day};`,
        )
          .join("\n"),
        { db },
      );
      const r = await runCli(
        [
          "backup",
          "--db-url",
          cluster!.url({ db }),
          "--out",
          `${dir}/backups/prod`,
          "--push",
          "--yes",
          "--json",
        ],
        TOOLS,
      );
      assertEquals(r.code, 0, out(r));
      await new Promise((res) => setTimeout(res, 1100)); // archive names are by the second
      return JSON.parse(r.stdout)[0].repository;
    };

    // a full clone: the first backup, then later ones
    const full = `${tmp}/full`;
    await $`git clone --quiet file://${bare} ${full}`.env(GIT_ENV).stderr("piped");
    let central = await packed(bare);
    const first = await backup(full);
    const firstPacked = await packed(bare) - central;
    central += firstPacked;
    // the first backup: the repository's size is its packed size (the seed commit is a few bytes)
    ok(first.exact, JSON.stringify(first));
    ok(
      first.sizeBytes <= 1.5 * central && first.sizeBytes >= central / 1.5,
      `first: recorded ${first.sizeBytes} bytes, packed ${central}`,
    );
    ok(
      first.lastAddedBytes <= 1.5 * firstPacked,
      `first: added ${first.lastAddedBytes}, packed ${firstPacked}`,
    );
    assertEquals(first.warning, null);
    const ratios: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await backup(full);
      const grew = await packed(bare) - central;
      central += grew;
      ratios.push(`${r.lastAddedBytes}/${grew}`);
      ok(
        r.lastAddedBytes <= FACTOR * grew && r.lastAddedBytes >= grew / FACTOR,
        `later backup: recorded ${r.lastAddedBytes} bytes, the packed repository grew ${grew} (${ratios})`,
      );
      assertEquals(r.warning, null);
      await git(full, "pull", "--quiet", "--ff-only");
    }
    console.log(`gitgrowth: first ${first.lastAddedBytes}/${firstPacked}, later recorded/packed ${ratios}`);

    // a complete clone whose packs hold more than the record counts (as a repository kept with git gc
    // may: here packed without deltas): the record goes on from the packs git reports
    await git(full, "repack", "-a", "-d", "-f", "-q", "--window=0");
    const counts = await git(full, "count-objects", "-v");
    const packs = Number(counts.match(/^size-pack: (\d+)$/m)![1]) * 1024;
    const recordBefore =
      JSON.parse(await Deno.readTextFile(`${full}/backups/prod/repository.json`)).sizeBytes;
    ok(packs > 2 * recordBefore, `packs ${packs}, record ${recordBefore}`);
    const anchored = await backup(full);
    assertEquals(
      anchored.sizeBytes,
      packs + anchored.lastAddedBytes,
      `packs ${packs}: ${JSON.stringify(anchored)}`,
    );
    ok(anchored.exact);
    await git(full, "pull", "--quiet", "--ff-only");
    await git(full, "repack", "-a", "-d", "-f", "-q", "--window=250", "--depth=50"); // packed well again
    central = await packed(bare);

    // a record of the old format (loose bytes: 25 times too many, warning of 1 GB in weeks) is started again
    const record = `${full}/backups/prod/repository.json`;
    const old = {
      format: 1,
      sizeBytes: 800e6,
      measuredBy: "count-objects", // format 1
      backups: Array.from({ length: 10 }, (_, i) => ({
        at: new Date(Date.now() - (10 - i) * 86_400_000).toISOString(),
        addedBytes: 20e6,
      })),
    };
    await Deno.writeTextFile(record, JSON.stringify(old));
    await git(full, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "old record");
    await git(full, "push", "-q");
    const listedOld = await runCli(["list", "--out", `${full}/backups/prod`, "--json"], TOOLS);
    assertEquals(listedOld.code, 0, out(listedOld));
    assertEquals(JSON.parse(listedOld.stdout).roots[0].repository, undefined, listedOld.stdout);
    central = await packed(bare);
    const restarted = await backup(full);
    const all = await packed(bare);
    assertEquals(restarted.warning, null);
    ok(restarted.exact);
    ok(
      restarted.sizeBytes <= FACTOR * all && restarted.sizeBytes >= all / FACTOR,
      `restarted: recorded ${restarted.sizeBytes} bytes, packed ${all}`,
    );
    assertEquals(JSON.parse(await Deno.readTextFile(record)).backups.length, 1);
    central = all;

    // a symlink committed in the record's place is never followed: not read, not written through
    const outside = `${tmp}/outside.json`;
    const outsideText = JSON.stringify({ ...JSON.parse(await Deno.readTextFile(record)), sizeBytes: 4e9 });
    await Deno.writeTextFile(outside, outsideText);
    await Deno.remove(record);
    await Deno.symlink(outside, record);
    await git(full, "add", "-A");
    await git(full, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "symlink");
    await git(full, "push", "-q");
    const listedLink = await runCli(["list", "--out", `${full}/backups/prod`, "--json"], TOOLS);
    assertEquals(JSON.parse(listedLink.stdout).roots[0].repository, undefined, listedLink.stdout);
    const relinked = await backup(full);
    assertEquals(await Deno.readTextFile(outside), outsideText, "the symlink's target is untouched");
    ok((await Deno.lstat(record)).isFile, "the record is a file again");
    ok(relinked.sizeBytes < 1e9 && relinked.warning === null, JSON.stringify(relinked));
    assertEquals(JSON.parse(await Deno.readTextFile(record)).backups.length, 1);
    central = await packed(bare);

    // the workflow's clone: shallow, blobless, sparse; repository.json missing
    const ci = `${tmp}/ci`;
    await $`git clone --quiet --depth=1 --filter=blob:none --no-checkout file://${bare} ${ci}`.env(GIT_ENV)
      .stderr("piped");
    await git(ci, "sparse-checkout", "set", "--no-cone", "/*", "!/backups/*/archive/");
    await git(ci, "checkout", "--quiet", "main");
    await git(ci, "rm", "--quiet", "backups/prod/repository.json");
    await git(ci, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "no record");
    // pushed and measured before the backup, so that the growth compared below is the backup's alone
    // (this commit's trees, about 5 KiB packed, once counted against the backup: 8431 recorded, 13312 grown)
    await git(ci, "push", "-q", "origin", "HEAD:refs/heads/main");
    central = await packed(bare);
    /** The objects HEAD references that the clone lacks, and those it holds. */
    const objects = async () => {
      const lines = (await git(ci, "rev-list", "--objects", "--missing=print", "HEAD")).split("\n");
      const missing = new Set(lines.filter((l) => l.startsWith("?")).map((l) => l.slice(1)));
      const held = new Set(lines.filter((l) => !l.startsWith("?")).map((l) => l.split(" ")[0]));
      const paths = new Map(
        (await git(ci, "ls-tree", "-r", "HEAD")).split("\n").map((
          l,
        ) => [l.split(" ")[2].split("\t")[0], l.split("\t")[1]]),
      );
      return { missing, held, paths };
    };
    const before = await objects();
    ok(before.missing.size > 0, "the clone lacks the archives' blobs");
    const fromCi = await backup(ci);
    const grew = await packed(bare) - central;
    console.log(`gitgrowth: ci recorded/packed ${fromCi.lastAddedBytes}/${grew}`);
    assertEquals(fromCi.exact, false, "a shallow, partial clone's first measure is a lower bound");
    ok(
      fromCi.sizeBytes <= FACTOR * (central + grew),
      `ci: ${fromCi.sizeBytes} bytes, packed ${central + grew}`,
    );
    ok(
      fromCi.lastAddedBytes <= FACTOR * grew && fromCi.lastAddedBytes >= grew / FACTOR,
      `ci: recorded ${fromCi.lastAddedBytes} bytes, the packed repository grew ${grew}`,
    );
    assertEquals(fromCi.warning, null);
    const rec = JSON.parse(await Deno.readTextFile(`${ci}/backups/prod/repository.json`));
    assertEquals(rec.measuredBy, "packed (partial clone: at least)");
    // measuring fetched nothing: of the archives' blobs this clone lacked, only manifests are here now
    // (retention reads each archive's manifest for its date)
    const after = await objects();
    const fetched = [...before.missing].filter((o) => after.held.has(o)).map((o) => before.paths.get(o) ?? o);
    assertEquals(fetched.filter((p) => !p.endsWith("/manifest.json")), [], "no archive data was fetched");
    ok([...before.missing].some((o) => after.missing.has(o)), "archives lacking blobs are still in HEAD");
  } finally {
    await cluster?.stop();
    await Deno.remove(top, { recursive: true });
  }
});
