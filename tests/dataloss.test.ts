/**
 * Four ways to lose data (issue 16, items 7, 8, 9, 10 and 18), each through the real CLI on a
 * real PostgreSQL 17, real pg_dump and real git with a bare central repository:
 * - ignore rules (`.gitignore`, `core.excludesFile`) must not drop backup files from a push, and a
 *   `.gitattributes` filter that changes them must stop the push;
 * - a `--no-archive` run killed between setting latest/ aside and moving the new one in must not
 *   leave zero backups when the next run fails;
 * - a push race must not discard uncommitted edits outside the backup root;
 * - a backup running for over an hour must not be deleted by a second run;
 * - a backup set aside in `.git/supabase-backup/` by a run killed during a push race is listed,
 *   and pushed by the next run.
 * Counted in the "faults" tally.
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { createHash } from "node:crypto";
import $ from "dax";
import { type Cluster, startCluster } from "./support/cluster.ts";
import { listFiles, PLAIN_PATH, runCli } from "./support/cli.ts";
import { REPO } from "./support/paths.ts";
import { waitForDump } from "./support/psql.ts";
import { tallied, tallyOf } from "./support/tally.ts";

const GIT_ENV = { GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1" };
const DEAD = "dead0000beef";

let cluster: Cluster | undefined;
let smallDb = "";
let bigDb = "";

async function setup(): Promise<Cluster> {
  if (cluster) return cluster;
  cluster = await startCluster(17);
  smallDb = await cluster.createDatabase();
  await cluster.sql(
    `create table public.notes(id int primary key, body text);
     insert into public.notes select g, 'note ' || g from generate_series(1, 100) g;`,
    { db: smallDb },
  );
  return cluster;
}

/** A database whose dump takes a few seconds (~1.5M rows), made on first use. */
async function big(): Promise<string> {
  const c = await setup();
  if (bigDb) return bigDb;
  bigDb = await c.createDatabase();
  await c.sql(
    `create table public.events(id bigint primary key, payload text);
     insert into public.events select g, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text)
       from generate_series(1, 1000000) g;
     create table public.logs as select g as id, repeat(md5(g::text), 3) as line from generate_series(1, 500000) g;`,
    { db: bigDb },
  );
  return bigDb;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function git(dir: string, ...args: string[]): Promise<string> {
  return (await $`git -C ${dir} ${args}`.env(GIT_ENV).stdout("piped").stderr("piped")).stdout.trim();
}

/** A bare central repository on branch main with one commit holding `files`, in a new temp dir. */
async function central(files: Record<string, string> = {}): Promise<{ tmp: string; bare: string }> {
  const tmp = await Deno.makeTempDir({ prefix: "dataloss-" });
  const bare = `${tmp}/central.git`;
  await $`git -c init.defaultBranch=main init --quiet --bare ${bare}`.env(GIT_ENV);
  const seed = `${tmp}/seed`;
  await $`git clone --quiet ${bare} ${seed}`.env(GIT_ENV).stderr("piped");
  await Deno.writeTextFile(`${seed}/README.md`, "# backups\n");
  for (const [path, text] of Object.entries(files)) await Deno.writeTextFile(`${seed}/${path}`, text);
  await git(seed, "add", "-A");
  await git(seed, "-c", "user.name=seed", "-c", "user.email=seed@example.com", "commit", "-qm", "init");
  await git(seed, "push", "-q", "origin", "HEAD:refs/heads/main");
  return { tmp, bare };
}

async function clone(bare: string, dir: string): Promise<string> {
  await $`git clone --quiet ${bare} ${dir}`.env(GIT_ENV).stderr("piped");
  return dir;
}

/** `backup` of `db` into `out` (extra flags after), with a hermetic git configuration. */
function backup(db: string, out: string, ...flags: string[]) {
  return runCli(["backup", "--db-url", cluster!.url({ db }), "--out", out, ...flags], GIT_ENV);
}

async function treeHash(dir: string): Promise<string> {
  const h = createHash("sha256");
  for (const f of await listFiles(dir)) {
    h.update(`${f}\0`);
    h.update(await Deno.readFile(`${dir}/${f}`));
  }
  return h.digest("hex");
}

async function names(dir: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

const out = (r: { code: number; stdout: string; stderr: string }) =>
  `exit ${r.code}\nstderr:\n${r.stderr}\nstdout:\n${r.stdout}`;

Deno.test("dataloss: ignore rules (.gitignore, core.excludesFile) do not drop backup files from a push", async () => {
  await tallied("faults", async () => {
    await setup();
    const { tmp, bare } = await central({ ".gitignore": "*.dump\n" });
    try {
      const work = await clone(bare, `${tmp}/work`);
      await Deno.writeTextFile(`${tmp}/excludes`, "*.sql\nmanifest.json\n");
      await git(work, "config", "core.excludesFile", `${tmp}/excludes`);
      const r = await backup(smallDb, `${work}/backups`, "--push");
      assertEquals(r.code, 0, out(r));
      const check = await clone(bare, `${tmp}/check`);
      const pushed = await listFiles(`${check}/backups/latest`);
      assertEquals(pushed, await listFiles(`${work}/backups/latest`));
      ok(
        pushed.some((f) => f.endsWith(".dump")) && pushed.some((f) => f.endsWith("data.sql")),
        pushed.join(),
      );
      const v = await runCli(["verify", "--out", `${check}/backups`]);
      assertEquals(v.code, 0, `a fresh clone verifies:\n${out(v)}`);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  });
});

Deno.test("dataloss: a .gitattributes filter that changes backup files stops the push (exit 1)", async () => {
  await tallied("faults", async () => {
    await setup();
    // like a Git LFS set-up: the committed blob is a short stand-in for the dump
    const { tmp, bare } = await central({ ".gitattributes": "*.dump filter=pointer\n" });
    try {
      const work = await clone(bare, `${tmp}/work`);
      await git(work, "config", "filter.pointer.clean", "head -c 20");
      await git(work, "config", "filter.pointer.smudge", "cat");
      const r = await backup(smallDb, `${work}/backups`, "--push");
      assertEquals(r.code, 1, out(r));
      ok(
        /^error: commit [0-9a-f]{7} does not hold the backup in backups\/latest as written: .*\.dump differs from the file on disk/m
          .test(r.stderr),
        out(r),
      );
      ok(
        /^hint: nothing was pushed.*\.gitattributes.*'backups\/\*\* -filter -text -ident'/m.test(r.stderr),
        out(r),
      );
      assertEquals(await git(bare, "log", "--format=%s", "main"), "init", "nothing was pushed");
      const v = await runCli(["verify", "--out", `${work}/backups`]);
      assertEquals(v.code, 0, `the backup is complete in the work tree:\n${out(v)}`);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  });
});

Deno.test("dataloss: a --no-archive run killed between its two renames leaves a backup, even if the next run fails", async () => {
  await tallied("faults", async () => {
    const c = await setup();
    const tmp = await Deno.makeTempDir({ prefix: "dataloss-noarchive-" });
    try {
      const root = `${tmp}/backups`;
      let r = await backup(smallDb, root, "--no-archive");
      assertEquals(r.code, 0, out(r));
      r = await backup(smallDb, `${tmp}/other`, "--no-archive");
      assertEquals(r.code, 0, out(r));
      const newer = await treeHash(`${tmp}/other/latest`);
      // What kill -9 leaves between the renames: the old latest set aside, the new backup staged,
      // the run's lock file (held by nobody now); and old enough for any age rule.
      const aside = `${root}/.staging-${DEAD}-old-0badcafe`;
      await Deno.rename(`${root}/latest`, aside);
      await Deno.rename(`${tmp}/other/latest`, `${root}/.staging-${DEAD}`);
      await Deno.writeTextFile(`${root}/.staging-${DEAD}.lock`, "{}\n");
      const past = new Date(Date.now() - 2 * 3600_000);
      for (const p of [aside, `${root}/.staging-${DEAD}`]) await Deno.utime(p, past, past);

      // The next run cannot connect (nothing listens on the port)...
      const down = await runCli([
        "backup",
        "--db-url",
        c.url({ db: smallDb }).replace(`:${c.port}/`, ":1/"),
        "--out",
        root,
        "--no-archive",
        "--retries",
        "0",
      ]);
      assertEquals(down.code, 1, out(down));
      ok(/recovered a complete backup .* left by an interrupted run/.test(down.stderr), out(down));
      // ...and the newer backup is latest/, checked.
      assertEquals(await treeHash(`${root}/latest`), newer);
      const v = await runCli(["verify", "--out", root]);
      assertEquals(v.code, 0, out(v));

      // The next good run cleans up what is left.
      r = await backup(smallDb, root, "--no-archive");
      assertEquals(r.code, 0, out(r));
      assertEquals(await names(root), ["archive", "latest"]);
      assertEquals(await names(`${root}/archive`), []);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  });
});

Deno.test("dataloss: --push refuses a clone with uncommitted edits outside the root, which a race would reset", async () => {
  await tallied("faults", async () => {
    await setup();
    const { tmp, bare } = await central();
    try {
      const a = await clone(bare, `${tmp}/a`);
      const b = await clone(bare, `${tmp}/b`); // behind once a pushed: its push would race
      let r = await backup(smallDb, `${a}/backups`, "--push");
      assertEquals(r.code, 0, out(r));
      await Deno.writeTextFile(`${b}/README.md`, "# backups\nmy notes, not committed\n");
      await Deno.writeTextFile(`${b}/todo.txt`, "untracked\n");
      r = await backup(smallDb, `${b}/backups`, "--push");
      assertEquals(r.code, 2, out(r));
      ok(
        /^error: cannot push from .*: it has uncommitted changes outside the backup root: README\.md, todo\.txt$/m
          .test(r.stderr),
        out(r),
      );
      ok(/^hint: commit or stash them/m.test(r.stderr), out(r));
      assertEquals(await Deno.readTextFile(`${b}/README.md`), "# backups\nmy notes, not committed\n");
      assertEquals(await names(`${b}/backups`), [], "nothing was written");

      await git(b, "stash", "-u");
      r = await backup(smallDb, `${b}/backups`, "--push");
      assertEquals(r.code, 0, out(r));
      ok(/pushed \(2 attempt\(s\)\)/.test(r.stdout), out(r));
      await git(b, "stash", "pop");
      assertEquals(await Deno.readTextFile(`${b}/README.md`), "# backups\nmy notes, not committed\n");
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  });
});

/** The staging folder `.staging-<owner>` of a run writing into `root`, once it appears. */
async function stagingOf(root: string, ms = 60_000): Promise<string> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const dir = (await names(root)).find((n) => /^\.staging-[A-Za-z0-9_]+$/.test(n));
    if (dir) return `${root}/${dir}`;
    await sleep(50);
  }
  throw new Error(`no staging folder in ${root}`);
}

Deno.test("dataloss: a backup running for over an hour is not deleted by a second run; a killed one's is", async () => {
  await tallied("faults", async () => {
    const c = await setup();
    const db = await big();
    const tmp = await Deno.makeTempDir({ prefix: "dataloss-long-" });
    try {
      const root = `${tmp}/backups`;
      let longDone = false;
      const long = backup(db, root).finally(() => (longDone = true));
      const staging = await stagingOf(root);
      await waitForDump(c, db);
      // an hour old as far as modification times go
      const past = new Date(Date.now() - 2 * 3600_000);
      await Deno.utime(staging, past, past);
      const second = await backup(smallDb, root);
      assertEquals(second.code, 0, out(second));
      ok(!longDone, "the long backup was still running when the second one finished");
      const first = await long;
      assertEquals(first.code, 0, `the long backup survived:\n${out(first)}`);
      const all = await runCli(["verify", "--out", root, "--all"]);
      assertEquals(all.code, 0, out(all));
      assertEquals((await names(`${root}/archive`)).length, 1);

      // A run killed with SIGKILL: its lock is free, so the next run takes its folder and, once it
      // succeeded, removes it.
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-all",
          "--quiet",
          `${REPO}/backup.ts`,
          "backup",
          "--db-url",
          c.url({ db }),
          "--out",
          root,
        ],
        cwd: REPO,
        env: { ...GIT_ENV, PATH: PLAIN_PATH, NO_COLOR: "1" },
        stdout: "null",
        stderr: "null",
      }).spawn();
      const killed = await stagingOf(root);
      await waitForDump(c, db);
      child.kill("SIGKILL");
      await child.status;
      // its pg_dump, orphaned, fails once its connections are gone
      await c.sql(`select pg_terminate_backend(pid) from pg_stat_activity where datname = '${db}'`);
      ok((await names(root)).includes(killed.split("/").pop()!), "the killed run's folder is there");
      const third = await backup(smallDb, root);
      assertEquals(third.code, 0, out(third));
      assertEquals(await names(root), ["archive", "latest"], "nothing of the killed run is left");
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  });
});

Deno.test("dataloss: a backup a killed run set aside in .git during a push race is listed, then pushed", async () => {
  await tallied("faults", async () => {
    await setup();
    const { tmp, bare } = await central();
    try {
      const work = await clone(bare, `${tmp}/work`);
      let r = await backup(smallDb, `${work}/backups`, "--push");
      assertEquals(r.code, 0, out(r));
      // Two complete backups made elsewhere, set aside as a run killed mid-race leaves them: one by
      // this version (with the file naming its root, and the dead run's lock), one by an earlier one.
      const holder = `${work}/.git/supabase-backup`;
      await Deno.mkdir(holder, { recursive: true });
      const held: Record<string, string> = {};
      for (const name of [`race-${DEAD}-0badcafe`, "race-1a2b3c4d"]) {
        r = await backup(smallDb, `${tmp}/elsewhere-${name}`);
        assertEquals(r.code, 0, out(r));
        await Deno.rename(`${tmp}/elsewhere-${name}/latest`, `${holder}/${name}`);
        held[name] = JSON.parse(await Deno.readTextFile(`${holder}/${name}/manifest.json`)).createdAt;
      }
      await Deno.writeTextFile(`${holder}/race-${DEAD}-0badcafe.root`, "backups\n");
      await Deno.writeTextFile(`${work}/backups/.staging-${DEAD}.lock`, "{}\n");

      const listed = await runCli(["list", "--out", `${work}/backups`, "--json"]);
      assertEquals(listed.code, 0, out(listed));
      const backups = JSON.parse(listed.stdout).roots[0].backups;
      assertEquals(
        backups.filter((b: { leftover?: string }) => b.leftover).map((b: { backup: string }) => b.backup)
          .sort(),
        ["leftover:race-1a2b3c4d", `leftover:race-${DEAD}-0badcafe`],
      );
      const text = await runCli(["list", "--out", `${work}/backups`]);
      ok(/latest \+ 0 archives \+ 2 left by interrupted runs/.test(text.stdout), out(text));

      r = await backup(smallDb, `${work}/backups`, "--push");
      assertEquals(r.code, 0, out(r));
      assertEquals(await names(holder), []);
      const check = await clone(bare, `${tmp}/check`);
      const archived = await Promise.all(
        (await names(`${check}/backups/archive`)).map(async (n) =>
          JSON.parse(await Deno.readTextFile(`${check}/backups/archive/${n}/manifest.json`)).createdAt
        ),
      );
      assertEquals(archived.length, 3, "the first backup and both recovered ones are archives");
      for (const t of Object.values(held)) ok(archived.includes(t), `${t} was pushed`);
      const v = await runCli(["verify", "--out", `${check}/backups`, "--all"]);
      assertEquals(v.code, 0, out(v));
      assertEquals(await git(work, "status", "--porcelain"), "");
      assertEquals(await names(`${work}/backups`), ["archive", "latest", "repository.json"]);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  });
});

Deno.test("dataloss: every case ran", async () => {
  assertEquals(tallyOf("faults").total, 6);
  await cluster?.stop();
});
