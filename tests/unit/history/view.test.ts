/** Showing a comparison (pure): SQL literals and statements, JSON rows, text, history lines, FROM/TO. */
import { deepStrictEqual as assertEquals, ok, throws } from "node:assert/strict";
import { BackupError } from "../../../lib/base/errors.ts";
import { parseCli } from "../../../lib/cli/flags.ts";
import type { Manifest } from "../../../lib/store/manifest.ts";
import { chooseSides } from "../../../cmd/diff.ts";
import { distinctBackups, tableTimeline } from "../../../lib/history/timeline.ts";
import {
  formatDiff,
  formatTimeline,
  qualifiedName,
  rowJson,
  rowSql,
  sqlLiteral,
  timelineJson,
} from "../../../lib/history/view.ts";
import { sqlIdent } from "../../../lib/pg/ident.ts";

const usage = (re: RegExp) => (e: unknown) =>
  e instanceof BackupError && e.exitCode === 2 && re.test(e.message);

Deno.test("sqlLiteral and sqlIdent never leave a quote or a line break open", () => {
  assertEquals(sqlLiteral(null), "NULL");
  assertEquals(sqlLiteral("it's"), "'it''s'");
  assertEquals(sqlLiteral("a\\b\n'c'\t\x01"), "E'a\\\\b\\n''c''\\t\\x01'");
  assertEquals(sqlIdent("orders"), "orders");
  assertEquals(sqlIdent('Order "x"'), '"Order ""x"""');
  assertEquals(sqlIdent("a\nb\\"), 'U&"a\\000ab\\\\"');
});

Deno.test("rowSql turns FROM's row into TO's; rowJson gives key and rows", () => {
  const ctx = {
    schema: "shop",
    table: "Orders",
    fromColumns: ["id", "v"],
    toColumns: ["id", "v", "n"],
    key: ["id"],
  };
  assertEquals(
    rowSql(ctx, { kind: "added", to: ["1", "a\\tb", "\\N"] }),
    `INSERT INTO shop."Orders" (id, v, n) VALUES ('1', E'a\\tb', NULL);`,
  );
  assertEquals(
    rowSql(ctx, { kind: "removed", from: ["2", "x"] }),
    `DELETE FROM shop."Orders" WHERE id = '2';`,
  );
  assertEquals(
    rowSql(ctx, { kind: "changed", from: ["3", "x"], to: ["3", "y", "z"] }),
    `UPDATE shop."Orders" SET v = 'y' WHERE id = '3';`,
  );
  const whole = { ...ctx, key: [] };
  assertEquals(
    rowSql(whole, { kind: "removed", from: ["2", "\\N"] }),
    `DELETE FROM shop."Orders" WHERE ctid = (SELECT ctid FROM shop."Orders" WHERE id::text IS NOT DISTINCT FROM '2' AND v::text IS NOT DISTINCT FROM NULL LIMIT 1);`,
  );
  assertEquals(rowJson(ctx, { kind: "changed", from: ["3", "x"], to: ["3", "y", "\\N"] }), {
    table: "shop.Orders",
    schema: "shop",
    name: "Orders",
    change: "changed",
    key: { id: "3" },
    from: { id: "3", v: "x" },
    to: { id: "3", v: "y", n: null },
  });
});

Deno.test("formatDiff lists what is not unchanged and a total line", () => {
  const text = formatDiff({
    from: { label: "archive/a", createdAt: "2026-12-01T00:00:00Z" },
    to: { label: "latest", createdAt: "2026-12-02T00:00:00Z" },
    equal: false,
    tables: [
      { schema: "shop", table: "same", status: "unchanged", fromRows: 1, toRows: 1, schemaChanges: [] },
      {
        schema: "shop",
        table: "orders",
        status: "changed",
        fromRows: 2,
        toRows: 3,
        schemaChanges: [{ kind: "column", name: "coupon", change: "added", to: "text" }],
        rows: {
          compared: ["id"],
          key: ["id"],
          fromRows: 2,
          toRows: 3,
          added: 1,
          removed: 0,
          changed: 0,
          sequencesChanged: false,
        },
      },
      { schema: "shop", table: "new", status: "added", fromRows: null, toRows: 1, schemaChanges: [] },
    ],
  });
  assertEquals(text.split("\n"), [
    "from archive/a (2026-12-01T00:00:00Z)",
    "to   latest (2026-12-02T00:00:00Z)",
    "changed    shop.orders",
    "             column coupon added: text",
    "             rows: 1 added, 0 removed, 0 changed (by id; 2 -> 3)",
    "added      shop.new (1 row)",
    "3 tables: 1 unchanged, 1 changed, 1 added, 0 removed",
  ]);
});

Deno.test("formatDiff and formatTimeline keep a hostile table name quoted and on its one line", () => {
  // The names of the end-to-end run: a schema with quotes, a space, unicode and a semicolon, a table
  // with a line break, a quote and a comment; before, the text split the name over two lines.
  const schema = 'Sales "EU" é;x';
  const table = 'Order\nItems; drop table x;--"';
  // as --table takes it: U&"…" for the line break
  const shown = String.raw`"Sales ""EU"" é;x".U&"Order\000aItems; drop table x;--"""`;
  assertEquals(qualifiedName(schema, table), shown);
  const text = formatDiff({
    from: { label: "archive/a", createdAt: "2026-12-01T00:00:00Z" },
    to: { label: "latest", createdAt: "2026-12-02T00:00:00Z" },
    equal: false,
    tables: [{
      schema,
      table,
      status: "changed",
      fromRows: 1,
      toRows: 1,
      schemaChanges: [
        { kind: "column", name: "a\u001b[31mb", change: "added", to: "text" },
        { kind: "other", name: 'GRANT SELECT ON TABLE x TO "a\nb";', change: "added" },
      ],
    }, { schema, table: "new\r\n", status: "added", fromRows: null, toRows: 1, schemaChanges: [] }],
  });
  assertEquals(text.split("\n"), [
    "from archive/a (2026-12-01T00:00:00Z)",
    "to   latest (2026-12-02T00:00:00Z)",
    `changed    ${shown}`,
    String.raw`             column U&"a\001b[31mb" added: text`,
    String.raw`             + GRANT SELECT ON TABLE x TO "a\nb";`,
    String.raw`added      "Sales ""EU"" é;x".U&"new\000d\000a" (1 row)`,
    "2 tables: 0 unchanged, 1 changed, 1 added, 0 removed",
  ]);
  const timeline = formatTimeline(qualifiedName(schema, table), { entries: [], backups: 2, present: 2 });
  assertEquals(timeline.split("\n")[0], `${shown}: 0 changes in 2 backups (the table is in 2)`);
});

Deno.test("chooseSides: defaults, live, and combinations that cannot work", () => {
  assertEquals(chooseSides([], false), { to: "latest" });
  assertEquals(chooseSides(["a"], false), { from: "a", to: "latest" });
  assertEquals(chooseSides([], true), { from: "latest", to: "live" });
  assertEquals(chooseSides(["a"], true), { from: "a", to: "live" });
  assertEquals(chooseSides(["live", "a"], true), { from: "live", to: "a" });
  throws(() => chooseSides(["a", "b"], true), usage(/two backups were named/));
  throws(() => chooseSides(["live", "live"], false), usage(/both the live database/));
  assertEquals(parseCli(["diff", "a", "b", "--rows"], {}).positionals, ["a", "b"]);
  throws(() => parseCli(["diff", "a", "b", "c"], {}), usage(/unexpected argument 'c'/));
  throws(() => parseCli(["history", "x"], {}), usage(/unexpected argument 'x'/));
});

function manifest(createdAt: string, tables: Record<string, [string, string]>): Manifest {
  const files: Manifest["files"] = {};
  const list = Object.entries(tables).map(([name, [s, d]]) => {
    files[`${name}/schema.sql`] = { bytes: 1, sha256: s };
    files[`${name}/data.sql`] = { bytes: 1, sha256: d };
    return { name, rows: 1, schemaFile: `${name}/schema.sql`, dataFiles: [`${name}/data.sql`], bytes: 2 };
  });
  return {
    createdAt,
    schemas: [{ name: "shop", dump: "", dumpBytes: 0, tables: list }],
    files,
  } as unknown as Manifest;
}

Deno.test("tableTimeline: created, schema, data, dropped, back; a table in no backup is bad input", () => {
  const b = [
    manifest("2026-12-01T00:00:00Z", { t: ["s1", "d1"] }),
    manifest("2026-12-02T00:00:00Z", { t: ["s1", "d1"] }),
    manifest("2026-12-03T00:00:00Z", { t: ["s1", "d2"] }),
    manifest("2026-12-04T00:00:00Z", { t: ["s2", "d3"] }),
    manifest("2026-12-05T00:00:00Z", {}),
    manifest("2026-12-06T00:00:00Z", { t: ["s2", "d3"] }),
  ].map((m, i) => ({ label: `b${i + 1}`, manifest: m }));
  const t = tableTimeline(b, "shop", "t", "root");
  assertEquals(t.entries.map((e) => `${e.label} ${e.change}`), [
    "b1 created",
    "b3 data",
    "b4 schema+data",
    "b5 dropped",
    "b6 created",
  ]);
  assertEquals([t.backups, t.present], [6, 5]);
  throws(
    () => tableTimeline(b, "shop", "x", "root"),
    usage(/table shop\.x is in none of the 6 backups in root/),
  );
});

Deno.test("distinctBackups: two backups of the same second are two; one backup seen twice is one", () => {
  // as knownBackups finds them: latest, archives newest first, then git history newest commit first
  const a = manifest("2026-12-01T09:30:10.100Z", { t: ["s1", "d1"] });
  const b = manifest("2026-12-01T09:30:10.700Z", { t: ["s1", "d2"] }); // same second, a change
  const c = manifest("2026-12-01T09:30:10.900Z", { t: ["s1", "d2"] }); // same second, no change
  const found = [
    { label: "latest", manifest: c },
    { label: "archive/x--b", manifest: b },
    { label: "cccccc1:latest", manifest: structuredClone(c) }, // the commit that added latest
    { label: "bbbbbb1:latest", manifest: structuredClone(b) },
    { label: "aaaaaa1:latest", manifest: a }, // pruned from archive/: only git has it
    { label: "bad", manifest: manifest("not a time", {}) },
  ];
  const got = distinctBackups(found);
  assertEquals(got.map((x) => x.label), ["aaaaaa1:latest", "archive/x--b", "latest"]);
  const t = tableTimeline(got, "shop", "t", "root");
  assertEquals(t.entries.map((e) => `${e.label} ${e.change}`), [
    "aaaaaa1:latest created",
    "archive/x--b data",
  ]);
  assertEquals([t.backups, t.present], [3, 3]);
  // the text gives those times to the millisecond, so that diff or --as-of can choose each
  const text = formatTimeline("shop.t", t);
  ok(text.includes("2026-12-01T09:30:10.100Z  created"), text);
  ok(text.includes("2026-12-01T09:30:10.700Z  data"), text);
  // backups of the same time (older manifests, to the second): git's order, the older commit first
  const s1 = manifest("2026-12-02T00:00:00Z", { t: ["s1", "d1"] });
  const s2 = manifest("2026-12-02T00:00:00Z", { t: ["s1", "d2"] });
  const same = distinctBackups([{ label: "new:latest", manifest: s2 }, {
    label: "old:latest",
    manifest: s1,
  }]);
  assertEquals(same.map((x) => x.label), ["old:latest", "new:latest"]);
  const one = formatTimeline("shop.t", tableTimeline([same[0]], "shop", "t", "root"));
  ok(one.includes("2026-12-02T00:00:00Z  created"), one);
});

Deno.test("timelineJson: schema and name apart (a dot in a name stays unambiguous), table kept", () => {
  const t = tableTimeline(
    [{ label: "b1", manifest: manifest("2026-12-01T00:00:00Z", { t: ["s1", "d1"] }) }],
    "shop",
    "t",
    "root",
  );
  const doc = timelineJson({ schema: "a.b", table: "c" }, "backups", t);
  assertEquals([doc.table, doc.schema, doc.name, doc.root, doc.backups, doc.present], [
    "a.b.c",
    "a.b",
    "c",
    "backups",
    1,
    1,
  ]);
  assertEquals(timelineJson({ schema: "a", table: "b.c" }, "backups", t).table, doc.table);
});
