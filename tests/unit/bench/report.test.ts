/** The benchmark's ratios and targets per dataset (bench/report.ts). */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import {
  type ApproachResult,
  backupTarget,
  describeSlicing,
  evaluate,
  slicingOf,
} from "../../../bench/report.ts";

const result = (id: string, wallMs: number, peakRssKiB = 100 * 1024): ApproachResult => ({
  id,
  label: id,
  via: id.endsWith("proxy") ? "proxy" : "direct",
  wallMs,
  runsMs: [wallMs],
  peakRssKiB,
  childPeakKiB: 0,
  childrenSumPeakKiB: 0,
  childPeakByName: {},
  outputBytes: 1,
});

const base = { tables: 200, schemas: 1, bigValueMb: 0, mb: 50, rttMs: 20 };

Deno.test("backupTarget: each dataset of issue 17 gets its own ratio and memory bound", () => {
  assertEquals(backupTarget(base), { dataset: "200 tables in public", maxRatio: 1.4 });
  assertEquals(backupTarget({ ...base, schemas: 10 }), {
    dataset: "200 tables in 10 schemas",
    maxRatio: 1.2,
  });
  assertEquals(backupTarget({ ...base, schemas: 200 }), { dataset: "200 schemas", maxRatio: 3 });
  assertEquals(backupTarget({ ...base, tables: 5000 }), {
    dataset: "5000 tables",
    maxRatio: 2,
    maxRssMb: 150,
  });
  assertEquals(
    backupTarget({ ...base, tables: 1, bigValueMb: 100 }),
    { dataset: "one 100 MB value", maxRatio: 2, maxRssMb: 250 },
  );
});

Deno.test("evaluate: the restore ratio and its 1.25× target, next to the backup's", () => {
  const { ratios, targets } = evaluate([
    result("ours-proxy", 1400),
    result("pg_dump-Fd-j4-proxy", 1000),
    result("ours-restore-direct", 1300),
    result("pg_restore-j4-direct", 1000),
  ], base);
  assertEquals(ratios.oursRestoreOverPgRestoreJ4, 1.3);
  assertEquals(
    targets.map((t) => [t.target, t.actual, t.met]),
    [["≤ 1.4×", "1.40×", true], ["≤ 1.25×", "1.30×", false], ["≤ 150 MB", "100.0 MiB", true]],
  );
});

Deno.test("evaluate: a large value's memory bound is 150 MB plus the value", () => {
  const { targets } = evaluate([
    result("ours-proxy", 1000, 240 * 1024),
    result("pg_dump-Fd-j4-proxy", 1000),
  ], { ...base, tables: 1, mb: 1, bigValueMb: 100 });
  const rss = targets.find((t) => t.name.startsWith("peak RSS"))!;
  assertEquals([rss.name, rss.target, rss.met], [
    "peak RSS of the tool process (one 100 MB value)",
    "≤ 250 MB",
    true,
  ]);
  assertEquals(evaluate([], base).ratios.oursRestoreOverPgRestoreJ4, null);
});

Deno.test("evaluate: a --compare checkout gets its own ratios to the same pg_dump runs", () => {
  const { ratios, targets } = evaluate([
    result("ours-proxy", 1500),
    result("compare-proxy", 1200),
    result("pg_dump-Fd-j4-proxy", 1000),
    result("compare-direct", 900),
    result("pg_dump-Fd-j4-direct", 600),
    result("ours-restore-direct", 3600),
    result("compare-restore-direct", 4000),
    result("pg_restore-j4-direct", 3200),
  ], base);
  assertEquals([ratios.oursOverPgDumpDirJ4, ratios.compareOverPgDumpDirJ4], [1.5, 1.2]);
  assertEquals(ratios.compareOverPgDumpDirJ4Direct, 1.5);
  assertEquals([ratios.oursRestoreOverPgRestoreJ4, ratios.compareRestoreOverPgRestoreJ4], [1.125, 1.25]);
  // the targets stay ours
  assertEquals(targets[0].actual, "1.50×");
  assertEquals(targets.find((t) => t.name.startsWith("restore"))!.actual, "1.13×");
});

Deno.test("slicingOf: the schemas a backup's log says it read over several connections", () => {
  const lines = [
    "server 17.10, pg_dump 17.12 from /x",
    "reading schema public over 2 connections (round trip 1.3 ms)",
    "[prod] reading schema s 2 over 10 connections (round trip 20.4 ms)",
    "dumped schema public",
  ];
  assertEquals(slicingOf(lines), [
    { schema: "public", ways: 2, rttMs: 1.3 },
    { schema: "s 2", ways: 10, rttMs: 20.4 },
  ]);
  assertEquals(slicingOf(["dumped schema public"]), []);
  assertEquals(describeSlicing([]), "not sliced");
  assertEquals(describeSlicing(slicingOf(lines.slice(1, 2))), "sliced: public 2 ways (round trip 1.3 ms)");
});
