/** The benchmark's dataset plan: schemas, table spread, the large value's SQL (bench/dataset.ts). */
import { deepStrictEqual as assertEquals, ok, throws } from "node:assert/strict";
import { bigValueSql, datasetSchemas, planDataset, schemaName, tableSql } from "../../../bench/dataset.ts";

Deno.test("planDataset: one schema keeps every table in public", () => {
  const t = planDataset({ tables: 20, mb: 1 });
  assertEquals(new Set(t.map((x) => x.schema)), new Set(["public"]));
  assertEquals(datasetSchemas({ tables: 20, mb: 1 }), ["public"]);
});

Deno.test("planDataset: --schemas spreads the tables in contiguous runs, every schema used", () => {
  const spec = { tables: 25, mb: 1, schemas: 5 };
  const t = planDataset(spec);
  assertEquals(datasetSchemas(spec), ["s001", "s002", "s003", "s004", "s005"]);
  assertEquals(t.map((x) => x.schema), datasetSchemas(spec).flatMap((s) => Array(5).fill(s)));
  // one table per schema (schema-per-tenant)
  const one = planDataset({ tables: 300, mb: 1, schemas: 300 });
  assertEquals(new Set(one.map((x) => x.schema)).size, 300);
  assertEquals(one[299].schema, "s300");
});

Deno.test("planDataset: the total rows do not depend on the schema count", () => {
  const rows = (schemas: number) =>
    planDataset({ tables: 200, mb: 10, schemas }).reduce((n, t) => n + t.rows, 0);
  assertEquals(rows(1), rows(7));
  assertEquals(rows(1), rows(200));
});

Deno.test("planDataset: bad schema counts are refused", () => {
  throws(() => planDataset({ tables: 5, mb: 1, schemas: 6 }), /--schemas 6 needs at least as many --tables/);
  throws(() => planDataset({ tables: 5, mb: 1, schemas: 0 }), /--schemas/);
});

Deno.test("schemaName pads to the width of the count", () => {
  assertEquals(schemaName(1, 1), "public");
  assertEquals(schemaName(7, 12), "s007");
  assertEquals(schemaName(42, 5000), "s0042");
});

Deno.test("tableSql: a ledger's foreign key points at its parent's schema", () => {
  const t = planDataset({ tables: 20, mb: 1, schemas: 20 });
  const ledger = t.find((x) => x.shape === "ledger")!;
  const parent = t.find((x) => x.name === ledger.parent)!;
  ok(parent.schema !== ledger.schema);
  const sql = tableSql(ledger, t);
  ok(sql.includes(`CREATE TABLE ${ledger.schema}.${ledger.name} (`), sql);
  ok(sql.includes(`REFERENCES ${parent.schema}.${parent.name} (id)`), sql);
});

Deno.test("bigValueSql: exactly MB MiB from enough digests; sizes out of range are refused", () => {
  const sql = bigValueSql(100);
  ok(sql.includes(`FROM 1 FOR ${100 * 1024 * 1024})`), sql);
  ok(sql.includes(`generate_series(1, ${100 * 1024 * 1024 / 16})`), sql);
  throws(() => bigValueSql(0), /1-500/);
  throws(() => bigValueSql(501), /1-500/);
  throws(() => bigValueSql(1.5), /1-500/);
});
