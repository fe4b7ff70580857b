import { deepStrictEqual as assertEquals, ok, throws as assertThrows } from "node:assert/strict";
import { BackupError } from "../../../lib/base/errors.ts";
import { lexScript } from "../../../lib/pg/lexer.ts";
import {
  checkIntoRequest,
  fitName,
  intoDataRewriter,
  intoNameError,
  intoNames,
  intoNote,
  intoScript,
  intoState,
} from "../../../lib/restore/into.ts";
import { tableKey, type TargetState } from "../../../lib/restore/plan.ts";
import { REPO } from "../../support/paths.ts";

/** A real table's schema.sql and data.sql (pg_dump 17): serial, identity, unique, check, indexes, FK, trigger, RLS, policy, grants. */
const SCHEMA = await Deno.readTextFile(`${REPO}/tests/fixtures/into_orders_schema.sql`);
const DATA = await Deno.readTextFile(`${REPO}/tests/fixtures/into_orders_data.sql`);
const NAMES = { from: { schema: "shop", table: "orders" }, to: { schema: "shop", table: "orders_old" } };

function statements(text: string): string[] {
  return lexScript(text).filter((p) => p.kind === "statement").map((p) => p.text.trim());
}

function refused(fn: () => unknown, pattern: RegExp): void {
  assertThrows(fn, (e) => e instanceof BackupError && pattern.test(e.message) && e.hint !== undefined);
}

Deno.test("intoScript: a real schema.sql creates the new table with every name changed", () => {
  const r = intoScript(SCHEMA, NAMES, new Set(["orders", "orders_pkey", "orders_id_seq"]));
  const out = statements(r.text);
  const at = (head: string) => out.filter((s) => s.startsWith(head));
  ok(at('CREATE TABLE "shop"."orders_old" (')[0].includes('CONSTRAINT "orders_old_amount_check" CHECK'));
  assertEquals(at("CREATE SEQUENCE").map((s) => s.split("\n")[0]), [
    'CREATE SEQUENCE "shop"."orders_old_id_seq"',
  ]);
  ok(
    at("ALTER SEQUENCE").includes(
      'ALTER SEQUENCE "shop"."orders_old_id_seq" OWNED BY "shop"."orders_old"."id";',
    ),
  );
  ok(out.some((s) => s.includes('SEQUENCE NAME "shop"."orders_old_ident_seq"')));
  ok(out.includes(
    `ALTER TABLE ONLY "shop"."orders_old" ALTER COLUMN id SET DEFAULT nextval('"shop"."orders_old_id_seq"'::regclass);`,
  ));
  ok(
    out.includes(
      'ALTER TABLE ONLY "shop"."orders_old"\n    ADD CONSTRAINT "orders_old_pkey" PRIMARY KEY (id);',
    ),
  );
  ok(
    out.includes('ALTER TABLE ONLY "shop"."orders_old" REPLICA IDENTITY USING INDEX "orders_old_code_key";'),
  );
  ok(
    out.some((s) => s.startsWith('CREATE INDEX "orders_old_other_name" ON "shop"."orders_old" USING btree')),
  );
  ok(out.includes('ALTER TABLE "shop"."orders_old" CLUSTER ON "orders_old_other_name";'));
  ok(out.includes('ALTER TABLE "shop"."orders_old" ENABLE ROW LEVEL SECURITY;'));
  ok(out.some((s) => s.startsWith('CREATE POLICY p1 ON "shop"."orders_old" FOR SELECT')));
  ok(out.includes('GRANT SELECT ON TABLE "shop"."orders_old" TO app;'));
  ok(out.includes('GRANT USAGE ON SEQUENCE "shop"."orders_old_id_seq" TO app;'));
  ok(out.includes(`COMMENT ON COLUMN "shop"."orders_old"."note" IS 'a note';`));
  // Nothing names the old table, its sequences or its indexes any more; no trigger, no foreign key.
  ok(!/shop\.orders\b|"orders"|orders_pkey\b|TRIGGER|FOREIGN KEY|\\restrict/.test(r.text), r.text);
  assertEquals(r.leftOut, ["trigger t1", "foreign key orders_customer_fkey (to shop.customers)"]);
  assertEquals(r.renamed[0], { kind: "table", from: "shop.orders", to: "shop.orders_old" });
  assertEquals([...r.sequences.values()].map((q) => q.table), ["orders_old_id_seq", "orders_old_ident_seq"]);
  ok(intoNote(NAMES, r).startsWith("shop.orders is restored as shop.orders_old, beside it; renamed "));
});

Deno.test("intoScript: a new name the target already uses gets a suffix", () => {
  const r = intoScript(SCHEMA, NAMES, new Set(["orders_old_pkey", "orders_old_pkey_2"]));
  ok(
    r.renamed.some((x) => x.from === "orders_pkey" && x.to === "orders_old_pkey_3"),
    JSON.stringify(r.renamed),
  );
});

Deno.test("intoScript: into another schema under the same name, names stay", () => {
  const r = intoScript(SCHEMA, { ...NAMES, to: { schema: "recovered", table: "orders" } }, new Set());
  ok(r.text.includes('CREATE TABLE "recovered"."orders" ('));
  ok(r.text.includes('ADD CONSTRAINT "orders_pkey" PRIMARY KEY'));
  ok(r.text.includes('CREATE SEQUENCE "recovered"."orders_id_seq"'));
});

Deno.test("intoDataRewriter: COPY into the new table, setval of its own sequences", () => {
  const r = intoScript(SCHEMA, NAMES, new Set());
  const rewrite = intoDataRewriter(NAMES, r);
  const out = statements(DATA).map(rewrite);
  ok(
    out.includes('COPY "shop"."orders_old" (id, ident, customer, code, amount, note) FROM stdin;'),
    out.join("\n"),
  );
  ok(out.includes(`SELECT pg_catalog.setval('"shop"."orders_old_id_seq"', 2, true);`));
  ok(out.includes(`SELECT pg_catalog.setval('"shop"."orders_old_ident_seq"', 2, true);`));
  refused(() => rewrite("SELECT pg_catalog.setval('public.other_seq', 5, true);"), /setval of a sequence/);
  // As pg_dump writes a sequence's owner for servers before 16.
  const old = intoScript(SCHEMA + "\nALTER TABLE shop.orders_id_seq OWNER TO app;\n", NAMES, new Set());
  ok(old.text.includes('ALTER TABLE "shop"."orders_old_id_seq" OWNER TO app;'));
  refused(() => rewrite("COPY shop.customers (id) FROM stdin;\n"), /another table/);
  refused(() => rewrite("DELETE FROM shop.orders;"), /a statement a data file does not hold/);
  refused(() => rewrite("SET standard_conforming_strings = off;"), /standard_conforming_strings off/);
});

/** A schema.sql of one hostile table: its name holds a quote, a semicolon, a newline and SQL. */
const HOSTILE_TABLE = 'o"; DROP TABLE shop.customers; --\nCREATE TABLE shop.evil()';
const HOSTILE = `
CREATE TABLE shop."o""; DROP TABLE shop.customers; --
CREATE TABLE shop.evil()" (
    "id;" integer NOT NULL,
    "CONSTRAINT x" text
);
ALTER TABLE ONLY shop."o""; DROP TABLE shop.customers; --
CREATE TABLE shop.evil()"
    ADD CONSTRAINT "o""; DROP TABLE shop.customers; --
CREATE TABLE shop.evil()_pkey" PRIMARY KEY ("id;");
CREATE INDEX "shop.orders ON shop.orders" ON shop."o""; DROP TABLE shop.customers; --
CREATE TABLE shop.evil()" USING btree ("CONSTRAINT x");
`;

Deno.test("intoScript: hostile names are renamed by structure, never by text", () => {
  const names = {
    from: { schema: "shop", table: HOSTILE_TABLE },
    to: { schema: "shop", table: 'copy "of" it' },
  };
  const r = intoScript(HOSTILE, names, new Set());
  const out = statements(r.text);
  assertEquals(out.length, 3, r.text);
  ok(
    out[0].startsWith(
      'CREATE TABLE "shop"."copy ""of"" it" (\n    "id;" integer NOT NULL,\n    "CONSTRAINT x" text',
    ),
  );
  assertEquals(
    out[1],
    'ALTER TABLE ONLY "shop"."copy ""of"" it"\n    ADD CONSTRAINT "copy ""of"" it_pkey" PRIMARY KEY ("id;");',
  );
  assertEquals(
    out[2],
    'CREATE INDEX "copy ""of"" it_shop.orders ON shop.orders" ON "shop"."copy ""of"" it" USING btree ("CONSTRAINT x");',
  );
  ok(!r.text.includes("DROP TABLE shop.customers"));
});

Deno.test("intoScript: statements it does not know, or about other tables, refuse the restore", () => {
  const base = "CREATE TABLE shop.orders (id int);\n";
  refused(
    () => intoScript(base + "DROP TABLE shop.customers;", NAMES, new Set()),
    /a statement it does not know/,
  );
  refused(
    () => intoScript(base + "ALTER TABLE shop.customers OWNER TO x;", NAMES, new Set()),
    /another table/,
  );
  refused(
    () => intoScript(base + "GRANT ALL ON TABLE shop.customers TO x;", NAMES, new Set()),
    /another table/,
  );
  refused(() => intoScript("ALTER TABLE shop.orders OWNER TO x;", NAMES, new Set()), /no CREATE TABLE/);
  refused(() => intoScript(base + base, NAMES, new Set()), /a second CREATE TABLE/);
  refused(
    () => intoScript("CREATE TABLE shop.orders (id int) INHERITS (shop.base);", NAMES, new Set()),
    /inherits/,
  );
  refused(
    () => intoScript("CREATE TABLE shop.orders (id int REFERENCES shop.c (id));", NAMES, new Set()),
    /a foreign key inside CREATE TABLE/,
  );
  refused(
    () => intoScript(base + "ALTER TABLE shop.orders ADD COLUMN x int, DROP COLUMN id;", NAMES, new Set()),
    /several actions/,
  );
  refused(() => intoScript(base + "\\! touch /tmp/x\n", NAMES, new Set()), /meta-command/);
  refused(
    () => intoScript(base + "COPY shop.orders (id) FROM stdin;\n1\n\\.\n", NAMES, new Set()),
    /COPY data/,
  );
  // A partition comes back as a table of its own.
  const part = intoScript(
    base + "ALTER TABLE ONLY shop.parent ATTACH PARTITION shop.orders FOR VALUES IN (1);",
    NAMES,
    new Set(),
  );
  assertEquals(part.leftOut, ["its attachment as a partition of shop.parent"]);
  ok(!part.text.includes("ATTACH"));
});

Deno.test("fitName: names longer than 63 bytes are cut with a hash, and stay distinct", () => {
  const a = fitName("x".repeat(70) + "_a");
  const b = fitName("x".repeat(70) + "_b");
  ok(new TextEncoder().encode(a).length <= 63);
  ok(a !== b);
  assertEquals(fitName("short"), "short");
  ok(new TextEncoder().encode(fitName("é".repeat(40))).length <= 63);
});

Deno.test("checkIntoRequest, intoNames, intoNameError, intoState", () => {
  const to = { schema: "shop", table: "orders_old" };
  const t = { schema: "shop", table: "orders" };
  checkIntoRequest(to, { tables: [t], clean: false, dataOnly: false });
  const usage = (fn: () => unknown, p: RegExp) =>
    assertThrows(fn, (e) => e instanceof BackupError && e.exitCode === 2 && p.test(e.message));
  usage(() => checkIntoRequest(to, { tables: [], clean: false, dataOnly: false }), /--into needs --table/);
  usage(() => checkIntoRequest(to, { tables: [t, t], clean: false, dataOnly: false }), /given 2 times/);
  usage(() => checkIntoRequest(to, { tables: [t], clean: true, dataOnly: false }), /--clean does not go/);
  usage(
    () =>
      checkIntoRequest({ schema: "shop", table: "n".repeat(64) }, {
        tables: [t],
        clean: false,
        dataOnly: false,
      }),
    /longer than 63 bytes/,
  );
  usage(
    () =>
      intoNames({ into: to, tables: [t] }, [{
        schema: { name: "shop" },
        table: { name: "orders", kind: "p" },
      }]),
    /is partitioned/,
  );
  assertEquals(intoNames({ tables: [t] }, []), undefined);
  assertEquals(intoNameError(to, new Set(["orders"])), undefined);
  ok(/already exists in the target/.test(intoNameError(to, new Set(["orders_old"]))!.message));
  const state = {
    tables: new Map([[tableKey("shop", "orders"), { kind: "r", empty: false }]]),
  } as unknown as TargetState;
  assertEquals(intoState(state, { from: t, to }).tables.has(tableKey("shop", "orders")), false);
});
