/** Hints for server errors of a restore (pure): a foreign key, a view over a left-out table. */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { foreignKeyHint, leftOutTableHint, viewUses } from "../../../lib/restore/explain.ts";

const TABLES = [
  { schema: "public", table: "parent" },
  { schema: "public", table: "child" },
  { schema: "Sales EU", table: "Par\nent" },
];
const fk = (child: string, detail: string) =>
  `psql:<stdin>:40: ERROR:  insert or update on table "${child}" violates foreign key constraint "c_fkey"\n` +
  `DETAIL:  ${detail}\n`;

Deno.test("foreignKeyHint names the referenced table to load first, quoted and qualified", () => {
  const err = fk("child", `Key (pid)=(7) is not present in table "parent".`);
  const inTarget = foreignKeyHint(err, TABLES, () => true)!;
  ok(inTarget.startsWith("rows of public.child point to rows that public.parent does not have"), inTarget);
  ok(inTarget.includes("(restore --data-only --table public.parent)"), inTarget);
  const notThere = foreignKeyHint(err, TABLES, () => false)!;
  ok(
    notThere.includes("restore public.parent in the same run (--table public.parent --table public.child)"),
    notThere,
  );
  // a name with a line break: read whole, shown as U&"…"
  const odd = foreignKeyHint(
    fk("child", `Key (pid)=(1) is not present in table "Par\nent".`),
    TABLES,
    () => true,
  )!;
  ok(odd.includes(`"Sales EU".U&"Par\\000aent"`) && !odd.includes("\n"), odd);
});

Deno.test("foreignKeyHint: a key value cannot choose the table; other errors and unknown tables get none", () => {
  const forged = fk(
    "child",
    `Key (note)=() is not present in table "child".) is not present in table "parent".`,
  );
  ok(foreignKeyHint(forged, TABLES, () => true)!.includes("that public.parent does not"));
  assertEquals(
    foreignKeyHint(fk("child", `Key (a)=(1) is not present in table "nope".`), TABLES, () => true),
    undefined,
  );
  assertEquals(
    foreignKeyHint("psql:<stdin>:3: ERROR:  permission denied for table t\n", TABLES, () => true),
    undefined,
  );
  assertEquals(foreignKeyHint("", TABLES, () => true), undefined);
});

Deno.test("viewUses reads a view's name and the qualified tables of its query", () => {
  assertEquals(
    viewUses(
      `CREATE VIEW public.v AS\n SELECT c.id, o.id AS oid\n   FROM (public.child c\n     CROSS JOIN "Sales EU"."o.t" o);`,
    ),
    {
      view: { schema: "public", table: "v" },
      uses: [
        { schema: "c", table: "id" },
        { schema: "o", table: "id" },
        { schema: "public", table: "child" },
        {
          schema: "Sales EU",
          table: "o.t",
        },
      ],
    },
  );
  assertEquals(
    viewUses(`CREATE MATERIALIZED VIEW s."m v" AS SELECT 1 FROM s.t WITH NO DATA;`)?.view.table,
    "m v",
  );
  assertEquals(viewUses(`CREATE TABLE public.v (id int);`), undefined);
});

Deno.test("leftOutTableHint names the view and the left-out table; other relations get none", () => {
  const err = `psql:<stdin>:9: ERROR:  relation "public.other" does not exist\nLINE 3: FROM public.other o`;
  const left = [{ schema: "public", table: "other" }];
  const views = [{ view: { schema: "public", table: "v\nx" }, uses: [{ schema: "public", table: "other" }] }];
  const hint = leftOutTableHint(err, left, views)!;
  ok(
    hint.startsWith(
      `view public.U&"v\\000ax" of the backup reads table public.other, which this restore leaves out`,
    ),
    hint,
  );
  ok(hint.includes("--table public.other"), hint);
  ok(leftOutTableHint(err, left, [])!.startsWith("a definition of the restore"));
  assertEquals(leftOutTableHint(err.replace("other", "else"), left, views), undefined);
  assertEquals(leftOutTableHint(err, [], views), undefined);
});
