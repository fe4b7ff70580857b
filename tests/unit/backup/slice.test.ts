import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import type { Archive, ArchiveEntry } from "../../../lib/pg/archive.ts";
import {
  bestRoundTrip,
  mergeSlices,
  planSlices,
  RTT_MORE_SAMPLES,
  RTT_SAMPLES,
  sliceCount,
  slicePatterns,
} from "../../../lib/backup/slice.ts";
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

Deno.test("sliceCount: a round trip of 1 ms or more slices many small tables, as its square-root rule says; under it they stay one way", () => {
  const small = 20 * (1 << 20); // 5,000 tables of 4 KB
  assertEquals(sliceCount(100, 100, 4, 5000, small, 20), 4); // sqrt(100 s / 1 s) = 10, at most the jobs
  assertEquals(sliceCount(100, 100, 8, 5000, small, 5), 5); // sqrt(25 s / 1 s)
  assertEquals(sliceCount(100, 100, 4, 5000, small, 0.99), 1);
  assertEquals(sliceCount(100, 100, 4, 5000, small), 1);
  assertEquals(sliceCount(100, 100, 4, 200, 200 * 4096, 20), 2); // sqrt(4 s / 1 s)
  assertEquals(sliceCount(100, 100, 4, 40, 40 * 4096, 20), 1); // 0.8 s of round trips: not worth a slice
  assertEquals(sliceCount(100, 100, 4, 25, small, 200), 2); // one slice per 10 tables at most
  assertEquals(sliceCount(30, 100, 4, 5000, small, 20), 1); // its share of the work is about one job
  assertEquals(sliceCount(100, 100, 4, 200, 200 * (1 << 20), 0.2), 2); // large tables, no latency
  assertEquals(sliceCount(100, 100, 4, 200, 200 * (1 << 20), 2), 2); // large tables, little latency
});

Deno.test("planSlices by name: runs of about equal cost in name order, each in the given order", () => {
  const t = Array.from(
    { length: 100 },
    (_, i) => ({ name: `t${String(99 - i).padStart(2, "0")}`, bytes: 4096 }),
  );
  const s = planSlices(t, 4, true);
  assertEquals(s.length, 3);
  assertEquals(s.map((x) => x.length), [25, 25, 25]);
  assertEquals(s[0].toSorted(), Array.from({ length: 25 }, (_, i) => `t${25 + i}`));
  assertEquals(s[0][0], "t49"); // the given order (here descending)
  // One large table: the run that holds it holds little else.
  const big = [
    { name: "a", bytes: 1 << 30 },
    ...Array.from({ length: 30 }, (_, i) => ({ name: `b${i}`, bytes: 0 })),
  ];
  const b = planSlices(big, 2, true);
  assertEquals(b.length, 1);
  assertEquals(b[0].length, 30);
});

Deno.test("slicePatterns: prefixes that match the slice's tables and no other table of the schema", () => {
  const names = Array.from({ length: 5000 }, (_, i) => `t${String(i).padStart(4, "0")}`);
  const mine = names.slice(2000, 3000);
  const others = names.filter((n) => !mine.includes(n));
  assertEquals(slicePatterns("public", mine, others), ['"public"."t2"*']);
  assertEquals(
    slicePatterns("public", names.slice(2000, 3500), [...names.slice(0, 2000), ...names.slice(3500)]),
    [
      '"public"."t2"*',
      '"public"."t30"*',
      '"public"."t31"*',
      '"public"."t32"*',
      '"public"."t33"*',
      '"public"."t34"*',
    ],
  );
  // An extension's table (or one the plan leaves out) inside the run splits it; a name that is a
  // prefix of another table's is given whole.
  assertEquals(slicePatterns("s", ["ab1", "ab2", "ab3a", "ab3b", "t1"], ["ab2x_config", "t10"]), [
    '"s"."ab3"*',
    '"s".("ab1"|"ab2"|"t1")',
  ]);
  // Quotes, and a prefix never ends inside a character that takes two UTF-16 units.
  assertEquals(slicePatterns('S"q', ["x\u{1F600}a", "x\u{1F600}b"], ["x\u{1F601}"]), [
    '"S""q"."x\u{1F600}"*',
  ]);
  assertEquals(slicePatterns("s", ["a"], []), ['"s".("a")']);
  assertEquals(slicePatterns("s", [], ["a"]), []);
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
  assertEquals(pgDumpSliceArgs(tablePatterns(s.name, ["a"]), "/x/s.dump", 17, "snap"), [
    "--format=custom",
    "--compress=zstd:3",
    "--file=/x/s.dump",
    "--data-only",
    '--table="public".("a")',
    "--snapshot=snap",
    "--no-password",
  ]);
  assertEquals(pgDumpSliceArgs(['"public"."a"*'], "/x/s.dump", 17, "snap", "0")[1], "--compress=0");
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
    { ...e(8, "SEQUENCE", 400, 2), tag: "t300_id_seq" },
    { ...e(10, "SEQUENCE", 500, 2), tag: "other_seq" },
    e(9, "TABLE DATA", 100, 3, [5]),
    { ...e(11, "SEQUENCE SET", 0, 3, [10]), tag: "other_seq" },
    e(12, "INDEX", 7, 4, [6]),
  ]);
  // A prefix of the slice matched the sequence t300_id_seq: its value is in the slice, not in main.
  const slice = archive([
    e(1, "ENCODING", 0, 1),
    e(3, "TABLE DATA", 300, 3, [2]),
    { ...e(4, "SEQUENCE SET", 0, 3, [2]), tag: "t300_id_seq" },
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
      [8, "SEQUENCE", [], null],
      [10, "SEQUENCE", [], null],
      [9, "TABLE DATA", [5], null],
      [11, "SEQUENCE SET", [10], null],
      [13, "TABLE DATA", [7], "/a"],
      [14, "SEQUENCE SET", [8], "/a"],
      [15, "TABLE DATA", [6], "/b"],
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
  // A sequence main does not define is refused; one whose value main already has is kept once.
  throws(
    () =>
      mergeSlices(main, [{
        path: "/a",
        archive: archive([{ ...e(3, "SEQUENCE SET", 0, 3), tag: "nowhere_seq" }]),
      }]),
    /does not fit/,
  );
  assertEquals(
    mergeSlices(main, [{
      path: "/a",
      archive: archive([{ ...e(3, "SEQUENCE SET", 0, 3), tag: "other_seq" }]),
    }])
      .length,
    main.entries.length,
  );
  throws(() => mergeSlices(main, [{ path: "/a", archive: { ...slice2, intSize: 8 } }]), /differs in format/);
});

/** bestRoundTrip over a scripted list of round trips; returns the best and how many were taken. */
async function scripted(samples: number[]): Promise<{ best: number; taken: number; pauses: number }> {
  let taken = 0;
  let pauses = 0;
  const best = await bestRoundTrip(() => Promise.resolve(samples[taken++] ?? 99), () => {
    pauses++;
    return Promise.resolve();
  });
  return { best, taken, pauses };
}

Deno.test("bestRoundTrip: the best of 10 in a row; under 1 ms or from 5 ms on, no more", async () => {
  assertEquals(await scripted([0.3, 0.2, 2, 0.4, 0.3, 0.2, 0.2, 0.3, 0.5, 0.2]), {
    best: 0.2,
    taken: RTT_SAMPLES,
    pauses: 0,
  });
  // a 20 ms network: every one over 20 ms
  assertEquals(await scripted(Array.from({ length: 30 }, (_, i) => 20.1 + (i % 3))), {
    best: 20.1,
    taken: RTT_SAMPLES,
    pauses: 0,
  });
});

Deno.test("bestRoundTrip: a best of 1-5 ms (a loaded machine, or a near network) takes up to 20 more, spaced out", async () => {
  // a local server at load 7: every one of the burst waited for a core, a later one did not
  const loaded = [...Array(10).fill(1.4), 3, 1.2, 0.3, 0.2];
  assertEquals(await scripted(loaded), { best: 0.3, taken: 13, pauses: 3 });
  // a network of 2 ms: all of them, and it stays 2 ms (sliced)
  const near = Array(RTT_SAMPLES + RTT_MORE_SAMPLES).fill(2);
  near[17] = 1.9;
  assertEquals(await scripted(near), { best: 1.9, taken: 30, pauses: 20 });
  assertEquals(sliceCount(100, 100, 4, 5000, 20 * (1 << 20), 1.9) > 1, true);
});
