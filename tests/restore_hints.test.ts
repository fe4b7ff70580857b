/**
 * Hints for restores that fail on the server, with the real CLI on PostgreSQL 17 and names that
 * need quoting or hold a line break:
 * - `--table` of a child whose parent table the target has without the rows it points to: the
 *   foreign key fails, and the hint names the parent (schema-qualified, quoted) to load first;
 * - a whole restore with `--exclude-table` of a table a view reads: the view fails, and the hint names
 *   the view and the table, and what to do.
 * Each leaves the target as it was (one transaction), and a name cannot forge an output line.
 * @module
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { sqlIdent, sqlQualified } from "../lib/pg/ident.ts";
import { runCli } from "./support/cli.ts";
import { fingerprint, TOOLS, withBackup } from "./support/restored.ts";

function errorAndHint(stderr: string): { error: string; hint: string; lines: string[] } {
  const lines = stderr.trim().split("\n");
  return {
    error: lines.find((l) => l.startsWith("error: ")) ?? "",
    hint: lines.find((l) => l.startsWith("hint: ")) ?? "",
    lines,
  };
}

const SCHEMA = 'Sales "EU"';
const PARENT = "Par\nent";
const CHILD = "child";
const VIEW = "v\nerror: forged";
const q = (t: string) => sqlQualified(SCHEMA, t);

Deno.test({
  name: "restore hints: a foreign key into a table without the rows, a view over a left-out table",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: (t) =>
    withBackup(
      `create schema ${sqlIdent(SCHEMA)};
       create table ${q(PARENT)} (id int primary key);
       insert into ${q(PARENT)} values (1), (2);
       create table ${q(CHILD)} (id int primary key, pid int references ${q(PARENT)} (id));
       insert into ${q(CHILD)} values (1, 1), (2, 2);
       create table ${q("other")} (id int);
       create view ${q(VIEW)} as select c.id, o.id as oid from ${q(CHILD)} c, ${q("other")} o;`,
      async (c, root) => {
        const restore = (db: string, ...args: string[]) =>
          runCli(["restore", "--out", root, "--target-url", c.url({ db }), "--yes", ...args], TOOLS);
        await t.step(
          "--table of the child, the parent in the target without rows: load the parent first",
          async () => {
            const db = await c.createDatabase();
            await c.sql(
              `create schema ${sqlIdent(SCHEMA)}; create table ${q(PARENT)} (id int primary key);`,
              {
                db,
              },
            );
            const before = await fingerprint(c, db);
            const r = await restore(db, "--table", q(CHILD));
            assertEquals(r.code, 1, r.stderr);
            const { error, hint, lines } = errorAndHint(r.stderr);
            ok(
              error.includes("violates foreign key constraint") && error.includes("nothing was changed"),
              r.stderr,
            );
            assertEquals(
              hint,
              `hint: rows of ${q(CHILD)} point to rows that ${
                q(PARENT)
              } does not have in the target (a foreign key): ` +
                `load ${q(PARENT)}'s rows first (restore --data-only --table ${
                  q(PARENT)
                }), then run the restore again`,
            );
            ok(hint.includes('"Sales ""EU""".U&"Par\\000aent"'), hint);
            ok(!lines.some((l) => l.startsWith("ent")), r.stderr);
            assertEquals(await fingerprint(c, db), before);
            // The hint's way works: the parent's rows, then the child.
            const p = await restore(db, "--data-only", "--table", q(PARENT));
            assertEquals(p.code, 0, p.stderr);
            const again = await restore(db, "--table", q(CHILD));
            assertEquals(again.code, 0, again.stderr);
            assertEquals((await c.sql(`select count(*) from ${q(CHILD)}`, { db })).trim(), "2");
          },
        );

        await t.step(
          "--exclude-table of a table a view reads: the view and the table are named",
          async () => {
            const db = await c.createDatabase();
            const before = await fingerprint(c, db);
            const r = await restore(db, "--exclude-table", q("other"));
            assertEquals(r.code, 1, r.stderr);
            const { error, hint, lines } = errorAndHint(r.stderr);
            ok(error.includes("does not exist") && error.includes("nothing was changed"), r.stderr);
            assertEquals(
              hint,
              `hint: view ${q(VIEW)} of the backup reads table ${
                q("other")
              }, which this restore leaves out and the ` +
                `target does not have: restore ${
                  q("other")
                } too (leave out its --exclude-table, or add --table ${
                  q("other")
                }), or create it in the target first, then run the restore again`,
            );
            ok(hint.includes('U&"v\\000aerror: forged"'), hint);
            ok(!lines.some((l) => l.startsWith("error: forged")), r.stderr);
            assertEquals(await fingerprint(c, db), before);
          },
        );
      },
    ),
});
