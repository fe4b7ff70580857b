import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import type { Archive, ArchiveEntry } from "../../../lib/pg/archive.ts";
import { mergeSlices, planSlices, sliceCount } from "../../../lib/backup/slice.ts";
import { pgDumpSliceArgs, tablePatterns } from "../../../lib/backup/plan.ts";
import { TABLE_COST } from "../../../lib/backup/group.ts";

Deno.test("sliceCount: the schema's share of jobs, at most two ways, at most one slice per 10 tables", () => {
  const mb = 1 << 20;
  assertEquals(sliceCount(100, 100, 4, 200, 200 * mb), 2);
  assertEquals(sliceCount(100, 100, 8, 200, 200 * mb), 2);
  assertEquals(sliceCount(100, 100, 4, 15, 200 * mb), 1);
  assertEquals(sliceCount(100, 100, 2, 200, 200 * mb), 2);
  assertEquals(sliceCount(60, 100, 2, 200, 200 * mb), 1);
  assertEquals(sliceCount(10, 100, 4, 200, 200 * mb), 1);
  assertEquals(sliceCount(100, 100, 1, 200, 200 * mb), 1);
  assertEquals(sliceCount(0, 0, 4, 200, 200 * mb), 1);
});

Deno.test("sliceCount: one way when the data is less than the tables' fixed cost (many small tables)", () => {
  // 5,000 tables of 4 KB: 20 MB of data, 5,000 × 64 KiB of fixed cost
  assertEquals(sliceCount(100, 100, 4, 5000, 20 * (1 << 20)), 1);
  assertEquals(sliceCount(100, 100, 4, 200, 200 * TABLE_COST - 1), 1);
  assertEquals(sliceCount(100, 100, 4, 200, 200 * TABLE_COST), 2);
});

Deno.test("planSlices: slices of about equal bytes, the first kept by the schema's dump", () => {
  assertEquals(planSlices([{ name: "a", bytes: 1 }], 1), []);
  const t = [
    { name: "big", bytes: 100_000 },
    ...Array.from({ length: 6 }, (_, i) => ({ name: `s${i}`, bytes: 20_000 })),
    { name: "empty", bytes: 0 },
  ];
  const s = planSlices(t, 3);
  assertEquals(s.length, 2);
  const kept = t.map((x) => x.name).filter((n) => !s.flat().includes(n));
  assertEquals(kept, ["big"]);
  for (const x of s) {
    assertEquals(
      x,
      [...x].sort((a, b) => t.findIndex((y) => y.name === a) - t.findIndex((y) => y.name === b)),
    );
  }
});

Deno.test("tablePatterns and the slice's pg_dump arguments", () => {
  assertEquals(tablePatterns('S"x', ["a", "b.c"]), ['"S""x".("a"|"b.c")']);
  assertEquals(tablePatterns("s", Array.from({ length: 150 }, (_, i) => `t${i}`)).length, 2);
  const s = {
    name: "public",
    seg: "public",
    dump: "",
    managed: false,
    excludeTables: [],
    extensions: [],
    tables: [],
  };
  assertEquals(pgDumpSliceArgs(s, ["a"], "/x/s.dump", 17, "snap"), [
    "--format=custom",
    "--compress=zstd:3",
    "--file=/x/s.dump",
    "--data-only",
    '--table="public".("a")',
    "--snapshot=snap",
    "--no-password",
  ]);
  assertEquals(pgDumpSliceArgs(s, ["a"], "/x/s.dump", 17, "snap", "0")[1], "--compress=0");
});

function e(
  dumpId: number,
  desc: string,
  objectOid: number,
  section: number,
  deps: number[] = [],
): ArchiveEntry {
  return {
    dumpId,
    catalogOid: desc === "TABLE" ? 1259 : 0,
    objectOid,
    tag: `t${objectOid}`,
    desc,
    section,
    namespace: desc === "ENCODING" ? null : "public",
    deps,
    head: new Uint8Array(),
    hasData: desc === "TABLE DATA",
    dataPos: 0,
  };
}
const archive = (entries: ArchiveEntry[]): Archive => ({
  version: 1,
  intSize: 4,
  offSize: 8,
  header: new Uint8Array(),
  entries,
  tocEnd: 0,
});

Deno.test("mergeSlices puts the slices' data after the schema's own, renumbered, on their tables", () => {
  const main = archive([
    e(1, "ENCODING", 0, 1),
    e(5, "TABLE", 100, 2),
    e(6, "TABLE", 200, 2),
    e(7, "TABLE", 300, 2),
    e(9, "TABLE DATA", 100, 3, [5]),
    e(12, "INDEX", 7, 4, [6]),
  ]);
  const slice = archive([
    e(1, "ENCODING", 0, 1),
    e(3, "TABLE DATA", 300, 3, [2]),
    e(4, "SEQUENCE SET", 0, 3),
  ]);
  const slice2 = archive([e(2, "TABLE DATA", 200, 3, [1])]);
  const out = mergeSlices(main, [{ path: "/a", archive: slice }, { path: "/b", archive: slice2 }]);
  assertEquals(
    out.map((x) => [x.from?.dumpId ?? x.entry.dumpId, x.entry.desc, x.deps, x.from?.path ?? null]),
    [
      [1, "ENCODING", [], null],
      [5, "TABLE", [], null],
      [6, "TABLE", [], null],
      [7, "TABLE", [], null],
      [9, "TABLE DATA", [5], null],
      [13, "TABLE DATA", [7], "/a"],
      [14, "TABLE DATA", [6], "/b"],
      [12, "INDEX", [6], null],
    ],
  );
  throws(
    () => mergeSlices(main, [{ path: "/a", archive: archive([e(3, "TABLE DATA", 100, 3)]) }]),
    /does not fit/,
  );
  throws(
    () => mergeSlices(main, [{ path: "/a", archive: archive([e(3, "TABLE DATA", 999, 3)]) }]),
    /does not fit/,
  );
  throws(
    () => mergeSlices(main, [{ path: "/a", archive: archive([e(3, "TABLE", 300, 2)]) }]),
    /does not fit/,
  );
  throws(() => mergeSlices(main, [{ path: "/a", archive: { ...slice2, intSize: 8 } }]), /differs in format/);
});
