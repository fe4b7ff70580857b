/**
 * Messages cannot be forged from database content (issue 16, item 6), on a real PostgreSQL 17 with
 * the real CLI inside a simulated GitHub Actions job: a schema and tables whose names hold line
 * breaks, `::error::` / `::add-mask::` workflow commands, an escape sequence and Markdown are backed
 * up (text, `--json`, `--dry-run`), one of them unreadable (skipped), and restored. In every line of
 * stdout, stderr and the step summary: no control character, and no line that starts (after white
 * space) with `::` or `##[`; the names appear escaped (`nl\n::error::…` in progress lines, `U&"nl\000a…"`
 * as SQL names them in the summary and the plan), and as themselves in JSON.
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { clientBinDir } from "../dev/pgenv.ts";
import { qualified, quoteIdent, sqlIdent } from "../lib/pg/ident.ts";
import { runCli } from "./support/cli.ts";
import { sharedCluster } from "./support/cluster.ts";
import { loadFixture } from "./support/fixture.ts";
import { tallied } from "./support/tally.ts";

const SCHEMA = "nl\n::error::forged schema";
const TABLE = "t\n::add-mask::x\x1b[2J";
const SKIPPED = "locked\r\n##[error]skipped";
const MARKDOWN = "md ![x](https://evil.example/p.png) | `tick`";
/** The escaped form a reader sees. */
const SHOWN_SCHEMA = "nl\\n::error::forged schema";

// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f]/;

/** Fails naming `what` and the line when a line of `text` could forge a log line or a command. */
function assertSafe(text: string, what: string): void {
  for (const line of text.split("\n")) {
    ok(!/^\s*(::|##\[)/.test(line), `${what}: a line starts a workflow command: ${JSON.stringify(line)}`);
    ok(!CONTROL.test(line), `${what}: a control character in ${JSON.stringify(line)}`);
  }
}

Deno.test({
  name: "names with line breaks and workflow commands are shown escaped, never as lines (PostgreSQL 17)",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const c = await sharedCluster(17);
    const db = await c.createDatabase();
    const s = quoteIdent(SCHEMA);
    await c.sql(
      `create schema ${s};
       create table ${qualified(SCHEMA, TABLE)} (id int primary key, note text);
       insert into ${
        qualified(SCHEMA, TABLE)
      } select g, E'row\\n::error::in data' from generate_series(1, 5) g;
       create table ${qualified(SCHEMA, MARKDOWN)} (id int primary key);
       insert into ${qualified(SCHEMA, MARKDOWN)} values (1);
       create table ${qualified(SCHEMA, SKIPPED)} (id int);
       grant usage on schema ${s} to postgres;
       grant select on ${qualified(SCHEMA, TABLE)}, ${qualified(SCHEMA, MARKDOWN)} to postgres;`,
      { db },
    );
    const { url } = await loadFixture(c, db, { app: false });
    const work = await Deno.makeTempDir({ prefix: "sb-messages-" });
    const summaryFile = `${work}/step-summary.md`;
    const env = {
      PG_BIN: clientBinDir(),
      SUPABASE_DB_URL: url,
      GITHUB_ACTIONS: "true",
      GITHUB_STEP_SUMMARY: summaryFile,
    };
    const out = ["--out", `${work}/backups`, "--schema", SCHEMA];
    try {
      await t.step("backup: progress, summary and step summary", async () => {
        await tallied("message scans", async () => {
          const r = await runCli(["backup", ...out], env);
          assertEquals(r.code, 3, r.stderr); // partial: one table is unreadable
          assertSafe(r.stderr, "backup stderr");
          assertSafe(r.stdout, "backup stdout");
          ok(r.stderr.includes(`dumped schema ${SHOWN_SCHEMA}`), r.stderr);
          // the summary names them as SQL does (as the restore does): U&"…" for a control character
          ok(r.stdout.includes(`  ${sqlIdent(SCHEMA)}  `), r.stdout);
          ok(r.stdout.includes(`  ${sqlIdent(SCHEMA)}.${sqlIdent(SKIPPED)}: `), r.stdout);
          ok(r.stdout.includes('U&"locked\\000d\\000a##[error]skipped"'), r.stdout);
          const md = await Deno.readTextFile(summaryFile);
          assertSafe(md, "step summary");
          ok(md.includes(`| \`${sqlIdent(SCHEMA)}\` |`), md);
          ok(!md.includes("](https://evil.example"), "no link outside a code span");
        });
      });

      await t.step("backup --json keeps the names as JSON strings", async () => {
        await tallied("message scans", async () => {
          const r = await runCli(["backup", ...out, "--json"], env);
          assertEquals(r.code, 3, r.stderr);
          assertSafe(r.stderr, "backup --json stderr");
          assertSafe(r.stdout, "backup --json stdout");
          const parsed = JSON.parse(r.stdout);
          assertEquals(parsed[0].schemas[0].name, SCHEMA);
          assertEquals(parsed[0].skipped[0].table, SKIPPED);
        });
      });

      await t.step("backup --dry-run", async () => {
        await tallied("message scans", async () => {
          const r = await runCli(["backup", ...out, "--dry-run"], env);
          ok(r.code === 0 || r.code === 3, r.stderr);
          assertSafe(r.stderr, "dry-run stderr");
          assertSafe(r.stdout, "dry-run stdout");
          ok(r.stdout.includes(`skip ${sqlIdent(SCHEMA)}.${sqlIdent(SKIPPED)}: `), r.stdout);
        });
      });

      await t.step("restore of those names", async () => {
        await tallied("message scans", async () => {
          const target = await c.createDatabase();
          const r = await runCli(
            ["restore", "--out", `${work}/backups`, "--target-url", c.url({ db: target })],
            env,
          );
          assertEquals(r.code, 0, r.stderr);
          assertSafe(r.stderr, "restore stderr");
          assertSafe(r.stdout, "restore stdout");
          // The plan and the progress show each name escaped inside its own line: no line was
          // broken at a name (which would leave a neutralised `\x3a:error::` line start).
          // the plan writes names as --table takes them: U&"…" for one with a line break
          ok(r.stderr.includes(`  schema ${sqlIdent(SCHEMA)} (created)`), r.stderr);
          ok(r.stderr.includes(`schema ${SHOWN_SCHEMA}: data restored`), r.stderr);
          ok(!r.stderr.includes("\\x3a:"), r.stderr);
          const dry = await runCli(
            ["restore", "--out", `${work}/backups`, "--target-url", c.url({ db: target }), "--dry-run"],
            env,
          );
          assertSafe(dry.stdout, "restore --dry-run stdout");
          ok(dry.stdout.includes(`  schema ${sqlIdent(SCHEMA)} (exists: objects created in it)`), dry.stdout);
          ok(!dry.stdout.includes("\\x3a:"), dry.stdout);
          const rows = await c.sql(`select count(*) from ${qualified(SCHEMA, TABLE)}`, { db: target });
          assertEquals(rows.trim(), "5");
        });
      });

      await t.step("an error and a hint quoting a name stay one line each", async () => {
        await tallied("message scans", async () => {
          const r = await runCli(
            [
              "restore",
              "--out",
              `${work}/backups`,
              "--target-url",
              c.url({ db: db }),
              "--table",
              `nope.${TABLE}`,
            ],
            env,
          );
          ok(r.code !== 0, r.stderr);
          assertSafe(r.stderr, "error");
          const lines = r.stderr.split("\n").filter((l) => l !== "");
          assertEquals(lines.length, 2, r.stderr);
          ok(lines[0].startsWith("error: ") && lines[1].startsWith("hint: "), r.stderr);
          // the hint lists the backup's schemas as --table takes them
          ok(lines[1].includes(sqlIdent(SCHEMA)), r.stderr);
        });
      });
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
});
