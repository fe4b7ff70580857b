import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import type { ArchiveEntry } from "../../../lib/pg/archive.ts";
import { planGroups, routeEntries, schemaWeight } from "../../../lib/backup/group.ts";

Deno.test("planGroups: no more schemas than jobs, one group each; else balanced by weight, in order", () => {
  assertEquals(planGroups([{ name: "a", weight: 1 }, { name: "b", weight: 9 }], 4), [["a"], ["b"]]);
  const many = [
    { name: "big", weight: 100 },
    ...Array.from({ length: 9 }, (_, i) => ({ name: `s${i}`, weight: 10 })),
  ];
  const g = planGroups(many, 3);
  assertEquals(g.length, 3);
  assertEquals(g[0], ["big"]);
  assertEquals(g.flat().sort(), many.map((s) => s.name).sort());
  for (const x of g.slice(1)) assertEquals(x.length >= 4 && x.length <= 5, true);
  assertEquals(g[1], [...g[1]].sort((a, b) => Number(a.slice(1)) - Number(b.slice(1))));
  assertEquals(planGroups([], 4), []);
  assertEquals(planGroups([{ name: "a", weight: 1 }, { name: "b", weight: 1 }], 1), [["a", "b"]]);
});

Deno.test("schemaWeight counts bytes plus a cost per table and per schema", () => {
  assertEquals(schemaWeight([]), 1 << 20);
  assertEquals(schemaWeight([{ bytes: 1000 }, {}]), (1 << 20) + 1000 + 2 * (64 << 10));
});

let nextId = 1;
function entry(desc: string, namespace: string | null, tag: string, deps: number[] = []): ArchiveEntry {
  return {
    dumpId: nextId++,
    catalogOid: 0,
    objectOid: 0,
    tag,
    desc,
    section: 2,
    namespace,
    deps,
    head: new Uint8Array(),
    hasData: false,
    dataPos: 0,
  };
}

Deno.test("routeEntries places each entry in its schema and follows dependencies through the others", () => {
  nextId = 1;
  const enc = entry("ENCODING", null, "ENCODING");
  const dbe = entry("DATABASE", null, "d");
  const dbc = entry("COMMENT", null, "DATABASE d", [dbe.dumpId]);
  const sa = entry("SCHEMA", null, "a");
  const sb = entry("SCHEMA", null, "b");
  const ca = entry("COMMENT", null, 'SCHEMA "a"', [sa.dumpId]);
  const ext = entry("EXTENSION", null, "citext", [sb.dumpId]);
  const ta = entry("TABLE", "a", "t", [sa.dumpId]);
  const tb = entry("TABLE", "b", "u", [sb.dumpId, ta.dumpId]);
  const va = entry("VIEW", "a", "v", [tb.dumpId]);
  const r = routeEntries(
    [enc, dbe, dbc, sa, sb, ca, ext, ta, tb, va],
    ["a", "b"],
    new Map([["citext", "b"]]),
  );
  const ids = (s: string) => r.get(s)!.map((x) => [x.entry.dumpId, x.deps]);
  assertEquals(ids("a"), [
    [enc.dumpId, []],
    [dbe.dumpId, []],
    [dbc.dumpId, [dbe.dumpId]],
    [sa.dumpId, []],
    [ca.dumpId, [sa.dumpId]],
    [ta.dumpId, [sa.dumpId]],
    // b.u stands for its own dependencies: b's schema (not in a's archive) and a.t.
    [va.dumpId, [ta.dumpId]],
  ]);
  assertEquals(ids("b"), [
    [enc.dumpId, []],
    [dbe.dumpId, []],
    [dbc.dumpId, [dbe.dumpId]],
    [sb.dumpId, []],
    [ext.dumpId, [sb.dumpId]],
    [tb.dumpId, [sb.dumpId]],
  ]);
});

Deno.test("routeEntries refuses an entry it cannot place", () => {
  nextId = 1;
  const sa = entry("SCHEMA", null, "a");
  throws(() => routeEntries([sa, entry("TABLE", "c", "t")], ["a", "b"], new Map()), /belongs to no schema/);
  throws(
    () => routeEntries([entry("CAST", null, "CAST (int AS x)")], ["a"], new Map()),
    /belongs to no schema/,
  );
  throws(
    () => routeEntries([entry("EXTENSION", null, "x")], ["a"], new Map([["x", "z"]])),
    /belongs to no schema/,
  );
  const sb = entry("SCHEMA", null, "b");
  throws(
    () => routeEntries([sa, sb, entry("ACL", null, "x", [sa.dumpId, sb.dumpId])], ["a", "b"], new Map()),
    /depends on several schemas/,
  );
});
