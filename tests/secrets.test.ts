/**
 * Secret handling on a real PostgreSQL 17 with the Supabase-shaped fixture, whose `postgres`
 * password holds every URL-special character. The password (raw and percent-encoded) must not
 * appear in any message, summary (text, --json, GitHub step summary), manifest, backup file,
 * commit message or `git log -p`; roles.sql must hold no password hash; backup files are 0600 and
 * directories 0700 outside CI. git's hooks (post-commit, reference-transaction, pre-push) record
 * their environment: it must hold neither `$SUPABASE_DB_URL` nor the password (issue 16, item 5).
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { type Cluster, startCluster } from "./support/cluster.ts";
import { FIXTURE_PASSWORD, loadFixture } from "./support/fixture.ts";
import { listFiles, runCli } from "./support/cli.ts";
import { tallied, tallyOf } from "./support/tally.ts";

const ROLE_PASSWORD = "RoleSecret-7f3a9c";
const FORMS = [
  FIXTURE_PASSWORD,
  encodeURIComponent(FIXTURE_PASSWORD),
  encodeURIComponent(FIXTURE_PASSWORD).toLowerCase(),
  ROLE_PASSWORD,
];

/** Fails naming `what` and the form found when `text` holds the password in any form. */
function assertNoSecret(text: string, what: string): void {
  for (const s of FORMS) {
    const at = text.indexOf(s);
    ok(at < 0, `${what} holds a secret (${s}) near: …${text.slice(Math.max(0, at - 60), at + 60)}…`);
  }
}

async function git(cwd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("git", { args, cwd, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  if (out.code !== 0) throw new Error(`git ${args.join(" ")}: ${dec.decode(out.stderr)}`);
  return dec.decode(out.stdout);
}

/** Hooks that save their whole environment under `<work>/hook-env/` (one file per run). */
const HOOKS = ["post-commit", "reference-transaction", "pre-push"];

async function installEnvHooks(repoDir: string, into: string): Promise<void> {
  for (const hook of HOOKS) {
    const path = `${repoDir}/.git/hooks/${hook}`;
    await Deno.writeTextFile(path, `#!/bin/sh\nenv > "${into}/${hook}-$$"\ncat > /dev/null\nexit 0\n`);
    await Deno.chmod(path, 0o755);
  }
}

let cluster: Cluster | undefined;
let url = "";
let work = "";
let repo = "";
const runs: { name: string; code: number; stdout: string; stderr: string }[] = [];

async function setup(): Promise<void> {
  if (cluster) return;
  cluster = await startCluster(17);
  const db = await cluster.createDatabase();
  url = (await loadFixture(cluster, db)).url;
  await cluster.sql(`create role app_writer login password '${ROLE_PASSWORD}';`, { db });
  work = await Deno.makeTempDir({ prefix: "secrets-" });
  repo = `${work}/repo`;
  await Deno.mkdir(repo);
  await git(repo, "init", "-q", "-b", "main");
  await Deno.mkdir(`${work}/hook-env`);
  await installEnvHooks(repo, `${work}/hook-env`);
  // a clone of a bare central repository, for --push (pre-push runs there)
  await git(work, "init", "-q", "--bare", "-b", "main", "central.git");
  await git(work, "clone", "-q", `${work}/central.git`, "pushed");
  await installEnvHooks(`${work}/pushed`, `${work}/hook-env`);
  const env = { GITHUB_STEP_SUMMARY: `${work}/step-summary.md`, SUPABASE_DB_URL: url };
  const out = ["--out", `${repo}/backups`];
  for (
    const [name, args, extra] of [
      ["backup --commit", ["backup", ...out, "--commit"], {}],
      ["backup --json --commit", ["backup", ...out, "--json", "--commit"], {}],
      ["backup --dry-run", ["backup", ...out, "--dry-run"], {}],
      ["backup with a --db-url flag", ["backup", "--db-url", url, "--out", `${work}/flag-backups`], {}],
      [
        "backup into a refused port",
        ["backup", "--db-url", url.replace(/:\d+\//, ":9/"), "--out", `${work}/x`, "--retries", "0"],
        {},
      ],
      [
        "backup with a wrong password",
        [
          "backup",
          "--db-url",
          url.replace(encodeURIComponent(FIXTURE_PASSWORD), "wrong"),
          "--out",
          `${work}/x`,
        ],
        {},
      ],
      ["backup in Actions", ["backup", ...out, "--no-archive"], { GITHUB_ACTIONS: "true" }],
      [
        "backup --push",
        [
          "backup",
          "--out",
          `${work}/pushed/backups`,
          "--push",
          "--git-name",
          "t",
          "--git-email",
          "t@example.com",
        ],
        {},
      ],
    ] as const
  ) {
    const r = await runCli([...args], { ...env, ...extra });
    runs.push({ name, ...r });
  }
}

Deno.test("secrets: every run behaved as expected", async () => {
  await setup();
  for (const r of runs) {
    const expectFail = /refused|wrong/.test(r.name);
    ok(expectFail ? r.code === 1 : r.code === 0 || r.code === 3, `${r.name}: exit ${r.code}\n${r.stderr}`);
  }
});

Deno.test("secret scan: stdout and stderr of every run", async () => {
  await setup();
  for (const r of runs) {
    await tallied("secret scans", () => {
      // A `::add-mask::` line asks the Actions runner to mask the value: the one allowed exception.
      const stdout = r.stdout.split("\n").filter((l) => !l.startsWith("::add-mask::")).join("\n");
      assertNoSecret(stdout, `${r.name}: stdout`);
      assertNoSecret(r.stderr, `${r.name}: stderr`);
    });
  }
});

Deno.test("a password in a --db-url flag is warned about once, at connection, naming $SUPABASE_DB_URL", async () => {
  await setup();
  await tallied("secret scans", () => {
    const warning = /^warning: the password in --db-url can be read by every user of this machine/;
    for (const r of runs) {
      const lines = r.stderr.split("\n").filter((l) => warning.test(l));
      if (/--db-url/.test(r.name) || /refused|wrong/.test(r.name)) {
        assertEquals(lines.length, 1, `${r.name}:\n${r.stderr}`);
        ok(lines[0].includes("set $SUPABASE_DB_URL instead"), lines[0]);
      } else assertEquals(lines.length, 0, `${r.name} took the URL from $SUPABASE_DB_URL:\n${r.stderr}`);
    }
  });
});

Deno.test("secret scan: --json output", async () => {
  await setup();
  await tallied("secret scans", () => {
    const r = runs.find((r) => r.name === "backup --json --commit")!;
    const parsed = JSON.parse(r.stdout);
    ok(parsed, "--json prints JSON");
    assertNoSecret(r.stdout, "--json output");
  });
});

Deno.test("secret scan: GitHub step summary", async () => {
  await setup();
  await tallied("secret scans", async () => {
    const text = await Deno.readTextFile(`${work}/step-summary.md`);
    ok(text.trim().length > 0, "the step summary was written");
    assertNoSecret(text, "step summary");
  });
});

Deno.test("secret scan: every file of every backup (manifest included)", async () => {
  await setup();
  for (const root of [`${repo}/backups`, `${work}/flag-backups`]) {
    await tallied("secret scans", async () => {
      const files = await listFiles(root);
      ok(files.some((f) => f.endsWith("manifest.json")), `${root} holds backups`);
      for (const f of files) assertNoSecret(await Deno.readTextFile(`${root}/${f}`), `${root}/${f}`);
    });
  }
});

Deno.test("secret scan: commit messages and git log -p", async () => {
  await setup();
  await tallied("secret scans", async () => {
    const log = await git(repo, "log", "-p", "--all", "--format=%H%n%an <%ae>%n%B");
    ok(log.includes("manifest.json"), "the backup was committed");
    assertNoSecret(log, "git log -p");
  });
});

Deno.test("secret scan: the environment of git's hooks holds no database URL or password", async () => {
  await setup();
  await tallied("secret scans", async () => {
    const files = await listFiles(`${work}/hook-env`);
    for (const hook of HOOKS) {
      ok(files.some((f) => f.startsWith(`${hook}-`)), `${hook} ran: ${files.join(", ")}`);
    }
    for (const f of files) {
      const env = await Deno.readTextFile(`${work}/hook-env/${f}`);
      ok(/^PATH=/m.test(env), `${f}: git still gets PATH`);
      ok(!/^SUPABASE_DB_URL=/m.test(env), `${f}: $SUPABASE_DB_URL reached a git hook`);
      assertNoSecret(env, `environment of git hook ${f}`);
    }
  });
});

Deno.test("secret scan: roles.sql holds no password or hash", async () => {
  await setup();
  await tallied("secret scans", async () => {
    const roles = await Deno.readTextFile(`${repo}/backups/latest/roles.sql`);
    ok(/CREATE ROLE/.test(roles), "roles.sql holds roles");
    ok(roles.includes("app_writer"), "the custom role is there");
    ok(!roles.includes("SCRAM-SHA-256$"), "no SCRAM hash");
    ok(!/md5[0-9a-f]{32}/.test(roles), "no md5 hash");
    ok(!/PASSWORD/i.test(roles), "no PASSWORD clause");
    assertNoSecret(roles, "roles.sql");
  });
});

Deno.test("secret scan: backup files are 0600 and directories 0700", async () => {
  await setup();
  await tallied("secret scans", async () => {
    const root = `${work}/flag-backups`;
    const walk = async (dir: string) => {
      assertEquals((await Deno.stat(dir)).mode! & 0o777, 0o700, `${dir} is 0700`);
      for await (const e of Deno.readDir(dir)) {
        const p = `${dir}/${e.name}`;
        if (e.isDirectory) await walk(p);
        else assertEquals((await Deno.stat(p)).mode! & 0o777, 0o600, `${p} is 0600`);
      }
    };
    await walk(`${root}/latest`);
  });
});

Deno.test("secret scans: every scan ran; clean up", async () => {
  const t = tallyOf("secret scans");
  ok(t.total >= 8 + 1 + 1 + 1 + 2 + 1 + 1 + 1 + 1, `${t.total} scans`);
  await cluster?.stop();
  if (work) await Deno.remove(work, { recursive: true });
});
