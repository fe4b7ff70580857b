/**
 * The `--dry-run` view of a plan names what it skips and cannot capture as the restore writes SQL
 * names (sqlIdent), from a database whose names hold a dot, a quote, a newline, an ANSI escape and
 * a Unicode bidi override; the JSON keeps them as they are.
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import type { Detected } from "../../../lib/pg/detect.ts";
import { planBackup } from "../../../lib/backup/plan.ts";
import { formatPlan, notCapturedName, skippedName } from "../../../lib/backup/view.ts";

const NOW = new Date("2026-12-03T10:00:00Z");

function hostile(): Detected {
  const schemas = ["x", "x.a", 'q"s', "nl\nx", "esc\u001b[2J", "rtl\u202eevil"];
  const table = (oid: number, schema: string, name: string) => ({
    oid,
    schema,
    name,
    kind: "r" as const,
    readable: false,
    extension: false,
  });
  return {
    serverVersionNum: 170004,
    serverVersion: "17.4",
    database: "postgres",
    encoding: "UTF8",
    sizeBytes: 1000,
    currentUser: "reader",
    databaseComment: null,
    settings: [],
    userMappings: [{ server: "remote.eu", user: "Bob\nx", options: null }],
    globals: [],
    subscriptions: ["sub\u001b[31mred"],
    largeObjects: 2,
    schemas: schemas.map((name, i) => ({
      oid: 100 + i,
      name,
      owner: "postgres",
      usable: name !== "rtl\u202eevil",
    })),
    tables: [
      table(1, "x", "a.b"),
      table(2, "x.a", "b"),
      table(3, 'q"s', 'T"1'),
      table(4, "nl\nx", "t\nu"),
      table(5, "esc\u001b[2J", "t"),
    ],
    roles: ["postgres"],
    extensions: [],
    owners: new Map(),
    namedOwners: new Map(),
  };
}

const CTX = { root: "backups", connection: "reader@db:5432/postgres" };

Deno.test("dry-run text: skipped tables and schemas and what is not captured, as SQL names", () => {
  const plan = planBackup(hostile(), { scope: "full", schemas: [], excludeTables: [] }, NOW);
  const text = formatPlan(plan, { ...CTX, json: false });
  const lines = text.split("\n");
  const reason = "permission denied: reader cannot read it (definition and data not backed up)";
  for (
    const want of [
      `skip x."a.b": ${reason}`,
      `skip "x.a".b: ${reason}`,
      `skip "q""s"."T""1": ${reason}`,
      `skip U&"nl\\000ax".U&"t\\000au": ${reason}`,
      `skip U&"esc\\001b[2J".t: ${reason}`,
      `skip schema U&"rtl\\202eevil": no USAGE privilege for reader`,
      `not captured: USER MAPPING FOR U&"Bob\\000ax" SERVER "remote.eu": reader may not see its options`,
      `not captured: SUBSCRIPTION U&"sub\\001b[31mred": subscriptions are not backed up`,
      `not captured: LARGE OBJECT 2 large object(s): large objects are not backed up`,
    ]
  ) ok(lines.some((l) => l.startsWith(want)), `no line '${want}' in:\n${text}`);
  // deno-lint-ignore no-control-regex
  ok(!/[\x00-\x09\x0b-\x1f\x7f\u202e]/.test(text), `a control or bidi character in:\n${text}`);
});

Deno.test("dry-run JSON keeps the names as they are", () => {
  const plan = planBackup(hostile(), { scope: "full", schemas: [], excludeTables: [] }, NOW);
  const json = JSON.parse(formatPlan(plan, { ...CTX, json: true }));
  assertEquals(json.skipped.map((k: { schema: string; table: string }) => [k.schema, k.table]), [
    ["x", "a.b"],
    ["x.a", "b"],
    ['q"s', 'T"1'],
    ["nl\nx", "t\nu"],
    ["esc\u001b[2J", "t"],
  ]);
  assertEquals(json.skippedSchemas.map((k: { schema: string }) => k.schema), ["rtl\u202eevil"]);
  assertEquals(json.notCaptured[1].name, "sub\u001b[31mred");
});

Deno.test("skippedName and notCapturedName", () => {
  assertEquals(skippedName({ schema: "public", table: "t" }), "public.t");
  assertEquals(skippedName({ schema: "My S", table: "*" }), '"My S".*');
  assertEquals(skippedName({ schema: "s", table: "*x" }), 's."*x"');
  assertEquals(notCapturedName({ kind: "PUBLICATION", name: "all" }), 'PUBLICATION "all"');
  assertEquals(notCapturedName({ kind: "EVENT TRIGGER", name: "audit" }), "EVENT TRIGGER audit");
  // a manifest written before the user mapping's parts were quoted: shown as recorded, escaped
  assertEquals(
    notCapturedName({ kind: "USER MAPPING", name: "FOR a\nb SERVER s" }),
    "USER MAPPING FOR a\\nb SERVER s",
  );
  assertEquals(notCapturedName({ kind: "KIND\n", name: "n" }), "KIND\\n n");
});
