/**
 * The repository's growth record and its projection (pure): parsing, adding a backup, the rate,
 * the 90-day projection and the warnings at GitHub's 1 GB and 5 GB.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  addGrowth,
  deltaKey,
  formatGrowth,
  type GrowthRecord,
  growthWarning,
  hashName,
  packNameHash,
  packsOf,
  parseGrowth,
  planMeasurePack,
  projectGrowth,
} from "../../../lib/store/growth.ts";
import { applyPolicy } from "../../../lib/store/retention.ts";
import { DEFAULT_GIT_RETENTION, runPolicy } from "../../../lib/store/retention.ts";

const MB = 1_000_000;
const day = (n: number) => new Date(Date.UTC(2026, 0, 1 + n, 3, 17)).toISOString();

/** A record of `n` daily backups of `added` bytes each, from a repository of `base` bytes. */
function daily(n: number, added: number, base: number, partial = false): GrowthRecord {
  let r: GrowthRecord | undefined;
  for (let i = 0; i < n; i++) {
    r = addGrowth(r, { baseBytes: base, partial }, { at: day(i), addedBytes: added });
  }
  return r!;
}

Deno.test("growth: the first backup starts from the measured size; later ones add to the record", () => {
  const r1 = addGrowth(undefined, { baseBytes: 10 * MB, partial: false }, { at: day(0), addedBytes: 2 * MB });
  assertEquals(r1, {
    format: 2,
    sizeBytes: 12 * MB,
    measuredBy: "packed",
    backups: [{ at: day(0), addedBytes: 2 * MB }],
  });
  // the first measure is used only once: a record goes on from itself
  const r2 = addGrowth(r1, { baseBytes: 999 * MB, partial: true }, { at: day(1), addedBytes: MB });
  assertEquals(r2.sizeBytes, 13 * MB);
  assertEquals(r2.measuredBy, "packed");
  // at most 100 backups are kept
  assertEquals(daily(150, 1, 0).backups.length, 100);
  assertEquals(daily(150, 1, 0).sizeBytes, 150);
});

Deno.test("growth: a complete clone's packs replace the record's size when larger (a repository kept with git gc)", () => {
  const r = daily(3, MB, 10 * MB); // 13 MB recorded
  // its packs hold 40 MB (git gc paired badly): the record goes on from them, this backup's bytes added
  const gc = addGrowth(r, { baseBytes: 0, partial: false, packsBytes: 40 * MB }, {
    at: day(3),
    addedBytes: MB,
  });
  assertEquals(gc.sizeBytes, 41 * MB);
  assertEquals(gc.backups.length, 4);
  // packs smaller than the record (loose objects not yet packed): the record stands
  const small = addGrowth(r, { baseBytes: 0, partial: false, packsBytes: 2 * MB }, {
    at: day(3),
    addedBytes: MB,
  });
  assertEquals(small.sizeBytes, 14 * MB);
  // a record begun in a partial clone ("at least") is exact once a complete clone's packs measure more
  const partial = daily(2, MB, 5 * MB, true);
  assertEquals(partial.measuredBy, "packed (partial clone: at least)");
  const full = addGrowth(partial, { baseBytes: 0, partial: false, packsBytes: 30 * MB }, {
    at: day(2),
    addedBytes: MB,
  });
  assertEquals([full.sizeBytes, full.measuredBy], [31 * MB, "packed"]);
  assertEquals(
    addGrowth(partial, { baseBytes: 0, partial: false, packsBytes: MB }, { at: day(2), addedBytes: 0 })
      .measuredBy,
    "packed (partial clone: at least)",
  );
  // git count-objects -v reports KiB
  assertEquals(
    packsOf("count: 3\nsize: 12\nin-pack: 900\npacks: 2\nsize-pack: 4096\nprune-packable: 0\n"),
    4096 * 1024,
  );
  assertEquals(packsOf("count: 0\nsize: 0\n"), 0);
});

Deno.test("growth: parseGrowth takes back what was written and drops anything else", () => {
  const r = daily(3, MB, 5 * MB);
  assertEquals(parseGrowth(JSON.stringify(r)), r);
  for (
    const bad of [
      undefined,
      "",
      "not json",
      "[]",
      JSON.stringify({ ...r, format: 3 }),
      // format 1 counted loose objects, about 25 times too many: started again
      JSON.stringify({ ...r, format: 1 }),
      JSON.stringify({ ...r, sizeBytes: -1 }),
      JSON.stringify({ ...r, sizeBytes: 1.5 }),
      JSON.stringify({ ...r, backups: [{ at: "yesterday", addedBytes: 1 }] }),
      JSON.stringify({ ...r, backups: [{ at: day(0), addedBytes: "1" }] }),
    ]
  ) assertEquals(parseGrowth(bad), undefined, String(bad));
});

Deno.test("growth: the rate is bytes a day after the first backup of the last 30 days", () => {
  // 30 daily backups of 2 MB: from day 0 to day 30 (now), 29 backups after the first, over 30 days
  const r = daily(30, 2 * MB, 100 * MB);
  const p = projectGrowth(r, new Date(day(30)));
  assertEquals(p.sizeBytes, 160 * MB);
  assertEquals(p.lastAddedBytes, 2 * MB);
  assertEquals(p.perBackupBytes, 2 * MB);
  assertEquals(p.perDayBytes, Math.round((29 * 2 * MB) / 30));
  assertEquals(p.projectedBytes, 160 * MB + Math.round(p.perDayBytes! * 90));
  assertEquals(p.limit, undefined);
  assertEquals(growthWarning(p), undefined);
  assert(p.exact);
  assertEquals(
    formatGrowth(p),
    "160.0 MB packed (git gc may keep more), this backup added 2.0 MB, 2.0 MB per backup on average, about 1.9 MB a day (334.0 MB in 90 days)",
  );
  // one backup: no rate, no projection
  const one = projectGrowth(daily(1, MB, 0), new Date(day(0)));
  assertEquals([one.perDayBytes, one.projectedBytes, one.limit], [undefined, undefined, undefined]);
  // older than 30 days: the newest ten count
  const old = projectGrowth(daily(20, MB, 0), new Date(day(100)));
  assertEquals(old.perBackupBytes, MB);
  assertEquals(old.perDayBytes, Math.round((9 * MB) / (100 - 10)));
});

Deno.test("growth: a warning when 90 days at this rate pass 1 GB or 5 GB, or the repository is over one", () => {
  // 900 MB + 10 MB a day: 1 GB in about 10 days
  const near = projectGrowth(daily(11, 10 * MB, 790 * MB), new Date(day(10)));
  assertEquals(near.sizeBytes, 900 * MB);
  assertEquals(near.perDayBytes, 10 * MB);
  assertEquals(near.limit, { bytes: 1e9, days: 10 });
  assertEquals(
    growthWarning(near),
    "the backup repository (900.0 MB packed) grows about 10.0 MB a day and will pass 1 GB, the size GitHub recommends keeping it under, in about 10 days (sooner if git gc keeps more)",
  );
  // 2 GB + 40 MB a day: over 1 GB now, 5 GB in 75 days: the next limit is the one named
  const far = projectGrowth(daily(11, 40 * MB, 1600 * MB), new Date(day(10)));
  assertEquals(far.limit, { bytes: 5e9, days: Math.ceil((5e9 - 2040 * MB) / (40 * MB)) });
  assert(
    growthWarning(far)!.includes("will pass 5 GB, the size GitHub strongly recommends"),
    growthWarning(far),
  );
  // 2 GB growing slowly: over 1 GB
  const over = projectGrowth(daily(11, 1000, 2000 * MB), new Date(day(10)));
  assertEquals(over.limit, { bytes: 1e9, days: 0 });
  assertEquals(
    growthWarning(over),
    "the backup repository holds 2.0 GB packed, more than the 1 GB GitHub recommends keeping it under",
  );
  // 6 GB: over 5 GB
  assertEquals(projectGrowth(daily(1, 0, 6e9), new Date(day(0))).limit, { bytes: 5e9, days: 0 });
  // below the line at 90 days: nothing
  assertEquals(projectGrowth(daily(11, MB, 100 * MB), new Date(day(10))).limit, undefined);
  // a first measure from a partial clone is a lower bound
  const partial = projectGrowth(daily(2, MB, 5 * MB, true), new Date(day(1)));
  assert(!partial.exact);
  assert(formatGrowth(partial).startsWith("at least 7.0 MB"), formatGrowth(partial));
});

Deno.test("retention: backup --commit keeps the 7 newest, 14 daily, 8 weekly, 12 monthly unless told otherwise", () => {
  assertEquals(DEFAULT_GIT_RETENTION, { keepLast: 7, keepDaily: 14, keepWeekly: 8, keepMonthly: 12 });
  assertEquals(runPolicy({ commit: true, keepAll: false }), { ...DEFAULT_GIT_RETENTION });
  assertEquals(runPolicy({ commit: false, keepAll: false }), undefined); // a folder keeps everything
  assertEquals(runPolicy({ commit: true, keepAll: true }), undefined);
  assertEquals(
    runPolicy({ flags: { keepLast: 2 }, config: { keepDaily: 3 }, commit: true, keepAll: false }),
    {
      keepLast: 2,
    },
  );
  assertEquals(runPolicy({ config: { keepDaily: 3 }, commit: true, keepAll: false }), { keepDaily: 3 });
  // a year of daily backups, plus ten on the last day: 7 newest + 14 daily + 8 weekly + 12 monthly overlap
  const archives = [
    ...Array.from({ length: 365 }, (_, i) => ({ name: `d${i}`, createdAt: new Date(day(i)) })),
    ...Array.from(
      { length: 10 },
      (_, i) => ({ name: `p${i}`, createdAt: new Date(Date.parse(day(365)) + i * 60_000) }),
    ),
  ];
  const kept = applyPolicy(archives, { ...DEFAULT_GIT_RETENTION }, new Date(day(366))).filter((d) => d.keep);
  assert(kept.length <= 41, `${kept.length} kept`);
  // every one of the last day's backups within the 7 newest stays, not only that day's last
  assertEquals(kept.slice(0, 7).map((d) => d.name), ["p9", "p8", "p7", "p6", "p5", "p4", "p3"]);
  const oldest = kept.at(-1)!.createdAt;
  assert(
    Date.parse(day(366)) - oldest.getTime() > 300 * 86_400_000,
    `about a year back: ${oldest.toISOString()}`,
  );
});

Deno.test("growth: a first measure from a shallow clone is a lower bound", () => {
  // a shallow clone (fetch-depth: 1) lacks history: at least
  const shallow = addGrowth(undefined, { baseBytes: MB, partial: false, shallow: true }, {
    at: day(0),
    addedBytes: 1,
  });
  assertEquals(shallow.measuredBy, "packed (shallow clone: at least)");
  assert(!projectGrowth(shallow, new Date(day(0))).exact);
  assert(formatGrowth(projectGrowth(shallow, new Date(day(0)))).startsWith("at least"));
});

Deno.test("growth: git's name hash, and names whose hashes all differ", () => {
  // pack_name_hash: the last character weighs most; whitespace is skipped
  assertEquals(packNameHash(""), 0);
  assertEquals(packNameHash("a"), 0x61 << 24 >>> 0);
  assertEquals(packNameHash("ab"), ((0x61 << 22) + (0x62 << 24)) >>> 0);
  assertEquals(packNameHash("a b"), packNameHash("ab"));
  // many backup paths share one hash: why git's window misses a data.sql's own previous version
  assertEquals(
    packNameHash("latest/public/tables/t11/data.sql"),
    packNameHash("latest/public/tables/t50/data.sql"),
  );
  const seen = new Set<number>();
  for (let n = 0; n < 50_000; n++) seen.add(packNameHash(hashName(n)));
  assertEquals(seen.size, 50_000);
  assertEquals(hashName(0), "@@@@@@@@@@@@");
  assertEquals(hashName(6), "@@@@@@@@@@AB");
});

Deno.test("growth: each new object is paired with the previous commit's object at its place", () => {
  assertEquals(
    deltaKey("latest/public/public_schema_20260101_031700.dump"),
    "latest/public/public_schema_#_#.dump",
  );
  assertEquals(
    deltaKey("archive/2026-01-01T03-17-00Z/public/tables/t1/data.sql"),
    "latest/public/tables/t1/data.sql",
  );
  assertEquals(deltaKey("archive"), "archive");
  const prev = (oid: string, path: string, type = "blob") => ({
    oid,
    path,
    mode: type === "tree" ? "040000" : "100644",
    type,
  });
  const previous = [
    prev("r0", "", "tree"),
    prev("a1", "archive/2025-12-31T03-17-00Z/public/tables/t1/data.sql"),
    prev("d1", "latest/public/tables/t1/data.sql"),
    prev("d2", "latest/public/tables/t2/data.sql"),
    prev("p0", "latest/public/public_schema_20251231_031700.dump"),
    prev("m0", "latest/manifest.json"),
    prev("g0", "repository.json"),
    prev("t1", "latest/public/tables/t1", "tree"),
    { oid: "x0", path: "latest/roles.sql" }, // no mode: not usable as a base
  ];
  const added = [
    { oid: "r1", path: "" },
    { oid: "t1n", path: "latest/public/tables/t1" },
    { oid: "d1n", path: "latest/public/tables/t1/data.sql" },
    { oid: "p1", path: "latest/public/public_schema_20260101_031700.dump" },
    // a race's backup straight to an archive: paired with latest/'s file
    { oid: "d2n", path: "archive/2026-01-01T03-17-00Z/public/tables/t2/data.sql" },
    { oid: "n1", path: "latest/public/tables/t3/data.sql" }, // a new table: no base
    { oid: "rl", path: "latest/roles.sql" },
    { oid: "g1", path: "repository.json" },
  ];
  const plan = planMeasurePack(added, previous);
  const named = new Map(plan.objects.map((l) => [l.split(" ")[0], l.slice(l.indexOf(" ") + 1)]));
  const baseOf = new Map(plan.baseEntries.map((e) => [e.split("\t")[1], e.split("\t")[0].split(" ")[2]]));
  const base = (oid: string) => baseOf.get(named.get(oid)!);
  assertEquals(
    ["r1", "t1n", "d1n", "p1", "d2n", "g1"].map(base),
    ["r0", "t1", "d1", "p0", "d2", "g0"],
  );
  // without a base: last, under their own paths
  assertEquals(plan.objects.slice(-2), ["n1 latest/public/tables/t3/data.sql", "rl latest/roles.sql"]);
  // the base tree's entries: one per base, modes kept, names with distinct hashes
  assertEquals(plan.baseEntries.length, 6);
  assert(plan.baseEntries.some((e) => e.startsWith("040000 tree r0\t")));
  assertEquals(new Set(plan.baseEntries.map((e) => packNameHash(e.split("\t")[1]))).size, 6);
  // a first backup: nothing to pair
  assertEquals(planMeasurePack(added.slice(0, 2), []), {
    baseEntries: [],
    objects: ["r1", "t1n latest/public/tables/t1"],
  });
});
