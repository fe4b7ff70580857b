/**
 * Hostile names, settings and backup files (issue 16, items 1 and 2), on PostgreSQL 15 and 17 with the real
 * CLI and real pg_dump/pg_restore/psql 17. The non-superuser `postgres` owns tables, columns, comments and a
 * function whose names and bodies hold newlines, quotes, semicolons, `--`, dollar quotes, backslashes, a
 * forged `OWNER TO` with a `COPY … TO PROGRAM` after it, and a forged `-- Name: …` entry header; and it sets
 * its own search_path to a value holding `CREATE ROLE intruder SUPERUSER`. A restore and a drill as
 * superuser restore everything identically and run nothing of it. A backup file changed to hold `\!` (its
 * checksum recomputed, so verify passes) is refused by restore before anything runs.
 * @module
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { clientBinDir } from "../dev/pgenv.ts";
import type { Manifest } from "../lib/store/manifest.ts";
import { runCli } from "./support/cli.ts";
import { type Cluster, sharedCluster } from "./support/cluster.ts";
import { loadFixture } from "./support/fixture.ts";
import { tallied } from "./support/tally.ts";
import { rewriteBackupFile } from "./support/manifest.ts";

const TOOLS = { PG_BIN: clientBinDir() };
// Short: a table name holds it, and names are cut at 63 bytes.
const MARK = `/tmp/sbp${crypto.randomUUID().slice(0, 4)}`;

/** Table names in schema `app`, each a way to break line-by-line SQL handling. */
const NAMES = [
  `x OWNER TO n;\nCOPY(SELECT)TO PROGRAM'touch ${MARK}o';\n--`,
  'q"uote',
  "semi;colon",
  "dash--dash",
  "$$dollar$$",
  "back\\slash",
  "new\nline",
  "tab\tname",
  "Mixed Case É",
];

const ident = (s: string) => `"${s.replaceAll('"', '""')}"`;
const lit = (s: string) => `'${s.replaceAll("'", "''")}'`;

function hostileSql(): string {
  const parts = ["set role postgres;", "create schema app;"];
  for (const [i, n] of NAMES.entries()) {
    const t = `app.${ident(n)}`;
    parts.push(
      `create table ${t} (id int primary key, ${ident(`c\n--${i}`)} text, "v;\\" text);`,
      `insert into ${t} select g, ${
        lit(`row\n\\.\n\\! touch ${MARK}c\n`)
      } || g, E'\\\\.' from generate_series(1, ${10 + i}) g;`,
      `comment on table ${t} is ${lit(`\n\\! touch ${MARK}m\n-- ;`)};`,
    );
  }
  parts.push(
    // A body holding a forged entry header and a meta-command line, dollar-quoted.
    `create function app.f() returns text language sql as $body$select '\n--\n-- Name: app; Type: SCHEMA; Schema: -; Owner: postgres\n--\n\n\\! touch ${MARK}f\n'::text$body$;`,
    `create view app.${ident("v\n;view")} as select id from app.${ident("semi;colon")};`,
    `alter role postgres set search_path to ${lit(`public\nCREATE ROLE intruder SUPERUSER LOGIN;\n`)};`,
    "reset role;",
  );
  return parts.join("\n");
}

/** Row count and content hash of every table in `app`, and each function's body, by name. */
async function fingerprint(c: Cluster, db: string): Promise<Record<string, string>> {
  const out = await c.sql(
    `select json_object_agg(k, v) from (
       select format('%I.%I', n.nspname, c.relname) as k,
              (xpath('/row/x/text()', query_to_xml(format(
                'select count(*) || '':'' || md5(coalesce(string_agg(r::text, E''\\n'' order by r::text), '''')) as x from %I.%I r',
                n.nspname, c.relname), false, true, '')))[1]::text as v
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'app' and c.relkind in ('r', 'v')
       union all
       select 'function ' || p.proname, md5(p.prosrc) from pg_proc p where p.pronamespace = 'app'::regnamespace
       union all
       select 'comment ' || c.relname, md5(coalesce(obj_description(c.oid, 'pg_class'), ''))
         from pg_class c where c.relnamespace = 'app'::regnamespace and c.relkind = 'r') x;`,
    { db },
  );
  return JSON.parse(out);
}

function noMarks(): void {
  const left = [...Deno.readDirSync("/tmp")].filter((e) => e.name.startsWith(MARK.slice(5))).map((e) =>
    e.name
  );
  assertEquals(left, [], "a hostile name or setting ran a program");
}

async function intruders(c: Cluster): Promise<string> {
  return (await c.sql("select count(*) from pg_roles where rolname = 'intruder'")).trim();
}

for (const major of [15, 17] as const) {
  Deno.test({
    name: `hostile names, settings and backup files run nothing, on PostgreSQL ${major}`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async (t) => {
      const c = await sharedCluster(major);
      const db = await c.createDatabase();
      const fx = await loadFixture(c, db, { app: false });
      await c.sql(hostileSql(), { db });
      const want = await fingerprint(c, db);
      assertEquals(Object.keys(want).filter((k) => k.startsWith("app.")).length, NAMES.length + 1);
      const root = await Deno.makeTempDir({ prefix: `hostile-${major}-` });
      try {
        const b = await runCli(["backup", "--db-url", fx.url, "--out", root, "--yes"], TOOLS);
        assert(b.code === 0 || b.code === 3, `backup: exit ${b.code}\n${b.stderr}`);
        const dir = `${root}/latest`;
        const m = JSON.parse(await Deno.readTextFile(`${dir}/manifest.json`)) as Manifest;
        const app = m.schemas.find((s) => s.name === "app")!;
        for (const [i, n] of NAMES.entries()) {
          assertEquals(
            app.tables.find((x) => x.name === n)?.rows,
            10 + i,
            `rows of ${JSON.stringify(n)} in ${JSON.stringify(app.tables.map((x) => [x.name, x.rows]))}`,
          );
        }

        await t.step(
          "a restore as superuser with roles restores every name identically and runs nothing",
          async () => {
            await tallied("hostile inputs", async () => {
              const target = await c.createDatabase();
              const r = await runCli([
                "restore",
                "--out",
                root,
                "--target-url",
                c.url({ db: target }),
                "--roles",
              ], TOOLS);
              assertEquals(r.code, 0, r.stderr);
              assertEquals(await fingerprint(c, target), want);
              noMarks();
              assertEquals(await intruders(c), "0", "roles.sql created the role hidden in a setting");
            });
          },
        );

        await t.step("verify --drill as superuser matches every table and runs nothing", async () => {
          await tallied("hostile inputs", async () => {
            const scratch = await c.createDatabase();
            const r = await runCli([
              "verify",
              "--out",
              root,
              "--drill",
              "--target-url",
              c.url({ db: scratch }),
            ], TOOLS);
            assertEquals(r.code, 0, r.stderr);
            assert(/(\d+)\/\1 tables match/.test(r.stdout), r.stdout);
            noMarks();
            assertEquals(await intruders(c), "0");
          });
        });

        await t.step("restore --table of the forged-OWNER table restores it and runs nothing", async () => {
          await tallied("hostile inputs", async () => {
            const target = await c.createDatabase();
            const name = `app.${ident(NAMES[0])}`;
            const r = await runCli([
              "restore",
              "--out",
              root,
              "--target-url",
              c.url({ db: target }),
              "--table",
              name,
            ], TOOLS);
            assertEquals(r.code, 0, r.stderr);
            const got = await fingerprint(c, target);
            const key = Object.keys(want).find((k) => k.includes("OWNER TO n"))!;
            assertEquals(got[key], want[key]);
            noMarks();
          });
        });

        await t.step("a backup file changed to hold \\! is refused before anything runs", async () => {
          const table = app.tables.find((x) => x.name === "semi;colon")!;
          const copy = `${root}-tampered`;
          await Deno.mkdir(copy);
          await Deno.rename(`${root}/latest`, `${copy}/latest`);
          try {
            const tdir = `${copy}/latest`;
            const meta = (text: string) =>
              text.replace(/^\\(un)?restrict .*\n/gm, "") + `\n\\! touch ${MARK}t\n`;
            await rewriteBackupFile(tdir, table.dataFiles[0], meta);
            await rewriteBackupFile(tdir, table.schemaFile, (s) => `\\! touch ${MARK}s\n` + meta(s));
            await rewriteBackupFile(tdir, m.roles!, meta);
            const v = await runCli(["verify", "--out", copy], TOOLS);
            assertEquals(v.code, 0, `verify cannot tell a recomputed checksum: ${v.stderr}`);
            for (
              const args of [
                ["--table", `app.${ident("semi;colon")}`],
                ["--roles"],
              ]
            ) {
              await tallied("hostile inputs", async () => {
                const target = await c.createDatabase();
                const r = await runCli([
                  "restore",
                  "--out",
                  copy,
                  "--target-url",
                  c.url({ db: target }),
                  ...args,
                ], TOOLS);
                assertEquals(r.code, 1, `${args}: ${r.stderr}`);
                assert(/meta-command outside COPY data/.test(r.stderr), r.stderr);
                assert(/^hint: /m.test(r.stderr), r.stderr);
                noMarks();
                const tables = await c.sql(
                  "select count(*) from pg_class where relnamespace = 'app'::regnamespace and relkind = 'r'",
                  { db: target },
                ).catch(() => "0\n");
                assertEquals(tables.trim(), "0", `${args}: the refused restore left tables behind`);
              });
            }
          } finally {
            await Deno.rename(`${copy}/latest`, `${root}/latest`);
            await Deno.remove(copy, { recursive: true });
          }
        });

        await t.step(
          "manifest paths that leave the backup, symlinks and devices are refused (exit 2)",
          async () => {
            const copy = await Deno.makeTempDir({ prefix: "hostile-paths-" });
            try {
              const cp = await new Deno.Command("cp", { args: ["-a", `${root}/latest`, `${copy}/latest`] })
                .output();
              assert(cp.success);
              const tdir = `${copy}/latest`;
              const original = await Deno.readTextFile(`${tdir}/manifest.json`);
              const edit = async (f: (m: Manifest) => void) => {
                const mm = JSON.parse(original) as Manifest;
                f(mm);
                await Deno.writeTextFile(`${tdir}/manifest.json`, JSON.stringify(mm, null, 2));
              };
              const table = app.tables.find((x) => x.name === "semi;colon")!;
              const empty = await c.createDatabase();
              const cases: {
                what: string;
                manifest?: (m: Manifest) => void;
                files?: () => Promise<void>;
                args: string[];
              }[] = [
                {
                  what: "a files key with ..",
                  manifest: (mm) => {
                    mm.files["../../../../../../etc/hostname"] = { bytes: 1, sha256: "0".repeat(64) };
                  },
                  args: ["verify", "--out", copy],
                },
                {
                  what: "dataFiles pointing at /dev/zero",
                  manifest: (mm) => {
                    const tt = mm.schemas.find((s) => s.name === "app")!.tables.find((x) =>
                      x.name === "semi;colon"
                    )!;
                    tt.dataFiles = ["../../../../../../dev/zero"];
                  },
                  args: [
                    "restore",
                    "--out",
                    copy,
                    "--target-url",
                    c.url({ db: empty }),
                    "--table",
                    `app.${ident("semi;colon")}`,
                  ],
                },
                {
                  what: "a symlinked data file",
                  files: async () => {
                    await Deno.remove(`${tdir}/${table.dataFiles[0]}`);
                    await Deno.symlink("/etc/hostname", `${tdir}/${table.dataFiles[0]}`);
                  },
                  args: ["verify", "--out", copy],
                },
              ];
              for (const k of cases) {
                await tallied("hostile inputs", async () => {
                  await edit(k.manifest ?? (() => {}));
                  await k.files?.();
                  const r = await runCli(k.args, TOOLS);
                  assertEquals(r.code, 2, `${k.what}: ${r.stderr}`);
                  assert(/outside the backup/.test(r.stderr), `${k.what}: ${r.stderr}`);
                  assert(!/Stack| {4}at /.test(r.stderr), r.stderr);
                });
              }
            } finally {
              await Deno.remove(copy, { recursive: true });
            }
          },
        );
      } finally {
        await c.sql("alter role postgres reset search_path");
        await Deno.remove(root, { recursive: true });
      }
    },
  });
}
