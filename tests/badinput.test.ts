/**
 * Malformed invocations of the real CLI (a process with a clean environment): each must exit 2 with
 * one `error:` line and at most one `hint:` line on stderr, no stack trace, and no password.
 * No database is needed: every case must be refused before a connection is attempted (the URLs
 * with a password point at a closed port, so a case that wrongly connects fails with exit 1).
 */
import { ok } from "node:assert/strict";
import { listFiles, runCli } from "./support/cli.ts";
import { tallied, tallyOf } from "./support/tally.ts";
import { sampleManifest } from "./support/manifest.ts";
import { generateIdentity } from "age-encryption";

/** The password of every URL below; neither it nor its percent-encoded form may ever be printed. */
const PASSWORD = "Pw@:/#%?s3cret";
const ENCODED = encodeURIComponent(PASSWORD);
/** A well-formed URL with the password, on a port where nothing listens. */
const URL = `postgresql://postgres:${ENCODED}@127.0.0.1:9/postgres`;

/** An age identity (secret key): given where a recipient belongs, it must never be printed (item 4). */
const IDENTITY = await generateIdentity();

/** A backup manifest with one field changed by `edit`, as manifest.json text. */
function manifestWith(edit: (m: Record<string, unknown>) => void): string {
  const m = sampleManifest() as unknown as Record<string, unknown>;
  edit(m);
  return JSON.stringify(m);
}

interface Case {
  name: string;
  args: string[];
  env?: Record<string, string>;
  /** Files to create in the case's temp dir first (name → content; a name ending in / is a dir). */
  files?: Record<string, string>;
  /** A word the error line must contain (the flag, file or value it is about). */
  names: string | RegExp;
  /** Secrets of the case that must appear neither in its output nor in any file it leaves. */
  hidden?: string[];
  /** Make the temp dir a git repository with `files` committed (its .git is not checked for writes). */
  git?: boolean;
}

/** A backup root `b` with a latest backup, for the `--from` cases. */
const LATEST_FILES = { "b/latest/": "", "b/latest/manifest.json": manifestWith(() => {}) };

/**
 * `--from` values that name no backup of a git commit, each refused alike by restore and verify
 * (verify --drill reads `--from` the same way): outside git, a time, an option-looking revision
 * (never an option of git), a path out of the repository. Each is one case per command.
 */
const FROM_CASES: { what: string; from: string; git?: boolean; names: string }[] = [
  {
    what: "<rev>:<path> of a root outside git",
    from: "HEAD:b/latest",
    names: "--from 'HEAD:b/latest' names a git commit, but b is not in a git repository",
  },
  { what: "a time", from: "2026-12-01T09:30Z", names: "--from '2026-12-01T09:30Z' is a time, not a backup" },
  {
    what: "an option-looking revision",
    from: "--output=x:b/latest",
    git: true,
    names: "'--output=x' is not a commit of the git repository",
  },
  {
    what: "a revision that is no commit",
    from: "nope:b/latest",
    git: true,
    names: "'nope' is not a commit of the git repository",
  },
  {
    what: "a path out of the repository",
    from: "HEAD:../b/latest",
    git: true,
    names: "HEAD:../b/latest: no backup there (no manifest.json in that commit)",
  },
  {
    what: "a path to no backup",
    from: "HEAD:b",
    git: true,
    names: "HEAD:b: no backup there (no manifest.json in that commit)",
  },
];

const GIT_ENV = { GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1" };

const CASES: Case[] = [
  // connection strings
  { name: "URL that is not a URL", args: ["backup", "--db-url", "not a url"], names: "--db-url" },
  {
    name: "wrong scheme",
    args: ["backup", "--db-url", `mysql://root:${ENCODED}@127.0.0.1:3306/app`],
    names: "--db-url",
  },
  {
    name: "port out of range",
    args: ["backup", "--db-url", `postgresql://postgres:${ENCODED}@127.0.0.1:99999/postgres`],
    names: "--db-url",
  },
  {
    name: "port not a number",
    args: ["backup", "--db-url", `postgresql://postgres:${ENCODED}@127.0.0.1:abc/postgres`],
    names: "--db-url",
  },
  { name: "bad sslmode", args: ["backup", "--db-url", `${URL}?sslmode=sometimes`], names: /sslmode/ },
  { name: "empty URL flag", args: ["backup", "--db-url", ""], names: /db-url|SUPABASE_DB_URL/ },
  { name: "no URL at all", args: ["backup"], names: /db-url|SUPABASE_DB_URL/ },
  {
    name: "bad URL in the environment",
    args: ["backup"],
    env: { SUPABASE_DB_URL: `postgres//postgres:${ENCODED}@127.0.0.1/postgres` },
    names: "$SUPABASE_DB_URL",
  },
  {
    name: "URL ending in a bare % (item 17)",
    args: ["backup"],
    env: { SUPABASE_DB_URL: `postgresql://postgres:${ENCODED}@127.0.0.1:9/postgres%` },
    names: "$SUPABASE_DB_URL has a badly percent-encoded database name",
  },
  {
    name: "URL with a bad % in a query value",
    args: ["backup", "--db-url", `${URL}?application_name=nightly%`],
    names: "--db-url has a badly percent-encoded value of ?application_name=",
  },
  {
    name: "URL with two passwords",
    args: ["restore", "--target-url", `${URL}?password=${ENCODED}`],
    names: "--target-url gives the password twice",
  },
  {
    name: "transaction pooler port",
    args: [
      "backup",
      "--db-url",
      `postgresql://postgres.abc:${ENCODED}@aws-0-eu-west-1.pooler.supabase.com:6543/postgres`,
    ],
    names: /6543|transaction pooler/,
  },
  // numbers and choices
  { name: "--jobs 0", args: ["backup", "--db-url", URL, "--jobs", "0"], names: "--jobs" },
  { name: "--jobs abc", args: ["backup", "--db-url", URL, "--jobs", "abc"], names: "--jobs" },
  {
    name: "$BACKUP_JOBS abc",
    args: ["backup", "--db-url", URL],
    env: { BACKUP_JOBS: "abc" },
    names: "$BACKUP_JOBS",
  },
  { name: "--retries too many", args: ["backup", "--db-url", URL, "--retries", "99"], names: "--retries" },
  {
    name: "--connect-timeout 0",
    args: ["backup", "--db-url", URL, "--connect-timeout", "0"],
    names: "--connect-timeout",
  },
  { name: "unknown --scope", args: ["backup", "--db-url", URL, "--scope", "everything"], names: "--scope" },
  {
    name: "bad --max-file-size",
    args: ["backup", "--db-url", URL, "--max-file-size", "12XB"],
    names: "--max-file-size",
  },
  {
    name: "--max-file-size 0",
    args: ["backup", "--db-url", URL, "--max-file-size", "0"],
    names: "--max-file-size",
  },
  { name: "unknown --compress", args: ["backup", "--db-url", URL, "--compress", "xz"], names: "--compress" },
  {
    name: "bad --encrypt-to",
    args: ["backup", "--db-url", URL, "--encrypt-to", "age1notarecipient"],
    names: "--encrypt-to",
  },
  {
    name: "--encrypt-to given an age identity (item 4)",
    args: ["backup", "--db-url", URL, "--encrypt-to", IDENTITY],
    names: "--encrypt-to: the value is a secret key",
    hidden: [IDENTITY, IDENTITY.slice(16, 40)],
  },
  {
    name: "--encrypt-to given an age identity in lower case",
    args: ["backup", "--db-url", URL, "--encrypt-to", IDENTITY.toLowerCase()],
    names: "--encrypt-to: the value is a secret key",
    hidden: [IDENTITY.toLowerCase(), IDENTITY.slice(16, 40).toLowerCase()],
  },
  {
    name: "--recipients-file holding an age identity",
    args: ["backup", "--db-url", URL, "--recipients-file", "keys.txt"],
    files: { "keys.txt": `# created: today\n${IDENTITY}\n` },
    names: "'keys.txt' line 2 holds a secret key",
    hidden: [IDENTITY.slice(16, 40)],
  },
  {
    name: "--recipients-file that is some other secret file",
    args: ["backup", "--db-url", URL, "--recipients-file", ".env"],
    files: { ".env": "DB_PASSWORD=Hunter2-dotenv\n" },
    names: "'.env' line 1: a value of 26 characters (not shown",
    hidden: ["Hunter2-dotenv"],
  },
  {
    name: "a connection string without its flag",
    args: ["backup", URL],
    names: "unexpected argument 'postgresql://postgres:****@127.0.0.1:9/postgres'",
  },
  {
    name: "missing --recipients-file",
    args: ["backup", "--db-url", URL, "--recipients-file", "nope.txt"],
    names: "nope.txt",
  },
  {
    name: "--exclude-table without a schema",
    args: ["backup", "--db-url", URL, "--exclude-table", "users"],
    names: "--exclude-table",
  },
  // environments
  { name: "unknown --env", args: ["backup", "--env", "staging"], names: /staging/ },
  { name: "--env without a source", args: ["backup", "--env", "prod"], names: /prod/ },
  // output
  {
    name: "--out under a regular file",
    args: ["backup", "--db-url", URL, "--out", "afile/backups"],
    files: { afile: "x" },
    names: "--out",
  },
  // restore / verify
  { name: "restore with no target", args: ["restore"], names: /target-url|RESTORE_DB_URL/ },
  {
    name: "restore of an unknown archive",
    args: ["restore", "--target-url", URL, "--from", "20990101T000000Z_nope", "--out", "empty"],
    files: { "empty/": "" },
    names: "20990101T000000Z_nope",
  },
  {
    name: "restore --table without a schema",
    args: ["restore", "--target-url", URL, "--table", "users"],
    names: "--table",
  },
  {
    name: "restore into a malformed --target-url",
    args: ["restore", "--target-url", `postgresql://postgres:${ENCODED}@127.0.0.1:0/postgres`],
    names: "--target-url",
  },
  {
    name: "restore from a manifest with a size that is a string",
    args: ["restore", "--target-url", URL, "--out", "b"],
    files: {
      "b/latest/": "",
      "b/latest/manifest.json": manifestWith((
        m,
      ) => (m.files = { "roles.sql": { bytes: "12", sha256: "0".repeat(64) } })),
    },
    names: 'manifest field files["roles.sql"].bytes must be a number',
  },
  {
    name: "restore --table from a manifest whose tables are not a list",
    args: ["restore", "--target-url", URL, "--out", "b", "--table", "public.events"],
    files: {
      "b/latest/": "",
      "b/latest/manifest.json": manifestWith((
        m,
      ) => ((m.schemas as Record<string, unknown>[])[0].tables = {})),
    },
    names: "manifest field schemas[0].tables must be an array",
  },
  {
    name: "restore from a manifest whose source.sha is a number",
    args: ["restore", "--target-url", URL, "--out", "b"],
    files: {
      "b/latest/": "",
      "b/latest/manifest.json": manifestWith((m) => (m.source = { repo: "acme/app", event: "push", sha: 5 })),
    },
    names: "manifest field source.sha must be a string",
  },
  {
    name: "restore --as-of a time before the first backup",
    args: ["restore", "--target-url", URL, "--out", "b", "--as-of", "2000-01-01"],
    files: { "b/latest/": "", "b/latest/manifest.json": manifestWith(() => {}) },
    names: "at or before 2000-01-01T23:59:59Z",
  },
  {
    name: "restore --as-of that is not a time",
    args: ["restore", "--target-url", URL, "--out", "b", "--as-of", "last tuesday"],
    files: { "b/latest/": "", "b/latest/manifest.json": manifestWith(() => {}) },
    names: "--as-of 'last tuesday' is not a time",
  },
  {
    name: "restore --as-of with --from",
    args: ["restore", "--target-url", URL, "--out", "b", "--as-of", "2d", "--from", "latest"],
    files: { "b/latest/": "", "b/latest/manifest.json": manifestWith(() => {}) },
    names: "--from and --as-of exclude each other",
  },
  {
    name: "restore --as-of --table of a table not in that backup",
    args: ["restore", "--target-url", URL, "--out", "b", "--as-of", "2999-01-01", "--table", "public.nope"],
    files: { "b/latest/": "", "b/latest/manifest.json": manifestWith(() => {}) },
    names: "--table 'public.nope' is not in this backup",
  },
  {
    name: "restore --into without --table",
    args: ["restore", "--target-url", URL, "--into", "public.orders_old"],
    names: "--into needs --table SCHEMA.TABLE",
  },
  {
    name: "restore --into with --clean",
    args: ["restore", "--target-url", URL, "--table", "public.orders", "--into", "public.o2", "--clean"],
    names: "--into creates a new table; --clean",
  },
  {
    name: "restore --into of a partitioned table",
    args: ["restore", "--target-url", URL, "--out", "b", "--table", "public.events", "--into", "public.ev2"],
    files: { "b/latest/": "", "b/latest/manifest.json": manifestWith(() => {}) },
    names: "public.events is partitioned",
  },
  {
    name: "restore --into without a schema",
    args: ["restore", "--target-url", URL, "--table", "public.orders", "--into", "orders_old"],
    names: "--into",
  },
  { name: "verify --jobs 99", args: ["verify", "--jobs", "99"], names: "--jobs" },
  {
    name: "verify of a missing backup",
    args: ["verify", "--out", "nothing-here"],
    names: /nothing-here|latest/,
  },
  ...FROM_CASES.flatMap((f): Case[] => [
    {
      name: `verify --from ${f.what}`,
      args: ["verify", "--out", "b", `--from=${f.from}`],
      files: LATEST_FILES,
      git: f.git,
      names: f.names,
    },
    {
      name: `verify --drill --from ${f.what}`,
      args: ["verify", "--drill", "--target-url", URL, "--out", "b", `--from=${f.from}`],
      files: LATEST_FILES,
      git: f.git,
      names: f.names,
    },
    {
      name: `restore --from ${f.what}`,
      args: ["restore", "--target-url", URL, "--out", "b", `--from=${f.from}`],
      files: LATEST_FILES,
      git: f.git,
      names: f.names,
    },
  ]),
  // prune
  { name: "prune without a policy", args: ["prune"], names: /keep/ },
  { name: "prune with a negative keep", args: ["prune", "--keep-last", "-1"], names: "--keep-last" },
  {
    name: "prune with a bad duration",
    args: ["prune", "--keep-within", "3 parsecs"],
    names: "--keep-within",
  },
  {
    name: "backup --keep-all with a --keep-* flag",
    args: ["backup", "--db-url", URL, "--commit", "--keep-all", "--keep-last", "3"],
    names: "--keep-all cannot be combined with --keep-* flags",
  },
  // the command line itself
  { name: "unknown command", args: ["frobnicate"], names: "frobnicate" },
  { name: "unknown flag", args: ["backup", "--frobnicate"], names: "--frobnicate" },
  { name: "flag without its value", args: ["backup", "--db-url"], names: "--db-url" },
  { name: "stray argument", args: ["backup", "--db-url", URL, "extra"], names: "extra" },
  // config files
  {
    name: "config that is not JSON",
    args: ["backup", "--config", "bad.json"],
    files: { "bad.json": `{ "databases": { "prod": { "url": "${URL}", } ` },
    names: "bad.json",
  },
  {
    name: "config with an unknown key",
    args: ["backup", "--config", "unknown.json"],
    files: { "unknown.json": JSON.stringify({ databases: { prod: { url: URL, pasword: PASSWORD } } }) },
    names: /unknown\.json.*pasword|pasword.*unknown\.json/,
  },
  {
    name: "config with a wrong type",
    args: ["backup", "--config", "type.json"],
    files: { "type.json": JSON.stringify({ databases: { prod: { url: 5 } } }) },
    names: /type\.json.*url/,
  },
  { name: "missing config file", args: ["backup", "--config", "absent.json"], names: "absent.json" },
];

const STACK = /^\s+at |\.ts:\d+:\d+|Stack backtrace|Uncaught|panicked/m;

for (const c of CASES) {
  Deno.test(`bad input: ${c.name}`, async () => {
    await tallied("bad inputs", async () => {
      const dir = await Deno.makeTempDir({ prefix: "badinput-" });
      try {
        for (const [name, content] of Object.entries(c.files ?? {})) {
          if (name.endsWith("/")) await Deno.mkdir(`${dir}/${name}`, { recursive: true });
          else await Deno.writeTextFile(`${dir}/${name}`, content);
        }
        if (c.git) {
          const id = ["-c", "user.name=t", "-c", "user.email=t@example.com"];
          for (const a of [["init", "-q"], ["add", "-A"], [...id, "commit", "-q", "-m", "backup"]]) {
            const g = await new Deno.Command("git", { args: a, cwd: dir, env: GIT_ENV, stdout: "null" })
              .output();
            ok(g.success, `git ${a.join(" ")}`);
          }
        }
        const r = await runCli(c.args, { ...(c.git ? GIT_ENV : {}), ...c.env }, { cwd: dir });
        const where = `${c.args.join(" ")}\nexit ${r.code}\nstderr:\n${r.stderr}\nstdout:\n${r.stdout}`;
        ok(r.code === 2, `exit code 2 expected: ${where}`);
        const lines = r.stderr.split("\n").filter((l) => l !== "");
        ok(lines.length >= 1 && lines.length <= 2, `one error line and at most one hint: ${where}`);
        ok(lines[0].startsWith("error: "), `first line is error: ${where}`);
        if (lines[1] !== undefined) ok(lines[1].startsWith("hint: "), `second line is hint: ${where}`);
        const names = typeof c.names === "string" ? r.stderr.includes(c.names) : c.names.test(r.stderr);
        ok(names, `the error names ${c.names}: ${where}`);
        ok(!STACK.test(r.stderr + r.stdout), `no stack trace: ${where}`);
        for (const secret of [PASSWORD, ENCODED, ENCODED.toLowerCase(), "s3cret", ...(c.hidden ?? [])]) {
          ok(!(r.stderr + r.stdout).includes(secret), `secret leaked (${secret}): ${where}`);
        }
        const left = (await listFiles(dir)).filter((f) => !(f in (c.files ?? {})) && !f.startsWith(".git/"));
        ok(left.length === 0, `nothing written, but found ${left.join(", ")}: ${where}`);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  });
}

Deno.test("bad input: the table holds at least 25 cases, and all ran", () => {
  ok(CASES.length >= 25, `${CASES.length} cases`);
  const t = tallyOf("bad inputs");
  ok(t.total === CASES.length, `${t.total} of ${CASES.length} ran`);
});
