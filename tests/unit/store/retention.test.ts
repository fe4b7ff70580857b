/**
 * Retention policy (pure): golden files for a synthetic set of 60 archives over 90 days, and the
 * safety rails.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { BackupError } from "../../../lib/base/errors.ts";
import {
  applyPolicy,
  dayKey,
  describePolicy,
  durationStart,
  isoWeekKey,
  monthKey,
  parseDuration,
  policyFromConfig,
  type RetentionDecision,
  type RetentionInput,
  type RetentionPolicy,
} from "../../../lib/store/retention.ts";
import { archiveName } from "../../../lib/store/rotation.ts";
import { assertGolden } from "../../support/golden.ts";

const NOW = new Date("2025-04-01T06:00:00Z");

/** 60 archives over the 90 days before NOW: irregular gaps, some days with several backups. */
function synthetic(): RetentionInput[] {
  let seed = 20250401;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  // 60 irregular gaps (some under an hour, some of several days), scaled to span 89 days
  const gaps = Array.from({ length: 60 }, () => rand() < 0.2 ? rand() * 0.05 : 0.2 + rand() * 3);
  const scale = 89 / gaps.reduce((a, b) => a + b, 0);
  const out: RetentionInput[] = [];
  let t = NOW.getTime() - 90 * 86_400_000;
  for (let i = 0; i < 60; i++) {
    t += Math.round(gaps[i] * scale * 86_400_000 / 60_000) * 60_000;
    const createdAt = new Date(t);
    const repo = ["acme/shop", "acme/api", "local"][i % 3];
    const event = ["push", "schedule", "workflow_dispatch"][Math.floor(rand() * 3)];
    const sha = (i * 2654435761 % 2 ** 32).toString(16).padStart(8, "0");
    out.push({
      name: archiveName({ createdAt: createdAt.toISOString(), source: { repo, event, sha } }),
      createdAt,
    });
  }
  // shuffle, so the order of the input does not matter
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

function render(policy: RetentionPolicy, decisions: RetentionDecision[]): string {
  const kept = decisions.filter((d) => d.keep).length;
  const lines = [
    `policy: ${describePolicy(policy)}`,
    `now: ${NOW.toISOString()}`,
    `keep ${kept}, remove ${decisions.length - kept}`,
    "",
  ];
  for (const d of decisions) {
    lines.push(
      `${d.keep ? "keep  " : "remove"}  ${d.name}${d.reasons.length ? `  ${d.reasons.join(", ")}` : ""}`,
    );
  }
  return lines.join("\n") + "\n";
}

const POLICIES: [string, RetentionPolicy][] = [
  ["last-5", { keepLast: 5 }],
  ["daily-7", { keepDaily: 7 }],
  ["weekly-4", { keepWeekly: 4 }],
  ["monthly-6", { keepMonthly: 6 }],
  ["within-14d", { keepWithin: parseDuration("14d") }],
  ["combined", { keepLast: 3, keepDaily: 7, keepWeekly: 4, keepMonthly: 12 }],
  ["within-2w-monthly-2", { keepWithin: parseDuration("2w"), keepMonthly: 2 }],
];

for (const [name, policy] of POLICIES) {
  Deno.test(`applyPolicy golden: ${name}`, async () => {
    const archives = synthetic();
    assertEquals(archives.length, 60);
    const decisions = applyPolicy(archives, policy, NOW);
    assertEquals(decisions.length, 60);
    assertEquals(new Set(decisions.map((d) => d.name)).size, 60);
    // newest first
    for (let i = 1; i < decisions.length; i++) {
      assert(decisions[i - 1].createdAt.getTime() >= decisions[i].createdAt.getTime());
    }
    // every kept archive says why; every removed one says nothing
    for (const d of decisions) assertEquals(d.keep, d.reasons.length > 0);
    assert(decisions[0].keep, "the newest archive is kept");
    await assertGolden(`retention/${name}.txt`, render(policy, decisions));
  });
}

Deno.test("applyPolicy: counts hold on the synthetic set", () => {
  const archives = synthetic();
  const kept = (p: RetentionPolicy) => applyPolicy(archives, p, NOW).filter((d) => d.keep);
  assertEquals(kept({ keepLast: 5 }).length, 5);
  const daily = kept({ keepDaily: 7 });
  assertEquals(daily.length, 7);
  assertEquals(new Set(daily.map((d) => dayKey(d.createdAt))).size, 7);
  assertEquals(new Set(kept({ keepWeekly: 4 }).map((d) => isoWeekKey(d.createdAt))).size, 4);
  const monthly = kept({ keepMonthly: 6 });
  // 90 days span 4 calendar months here, so monthly 6 keeps one per month that has archives
  assertEquals(monthly.map((d) => monthKey(d.createdAt)), ["2025-03", "2025-02", "2025-01"]);
  const start = NOW.getTime() - 14 * 86_400_000;
  assertEquals(
    kept({ keepWithin: parseDuration("14d") }).length,
    archives.filter((a) => a.createdAt.getTime() >= start).length,
  );
  assertEquals(kept({ keepLast: 100 }).length, 60);
});

Deno.test("applyPolicy: the newest archive is always kept, unknown times are kept", () => {
  const archives: RetentionInput[] = [
    { name: "old", createdAt: new Date("2024-01-01T00:00:00Z") },
    { name: "older", createdAt: new Date("2023-01-01T00:00:00Z") },
    { name: "damaged", createdAt: new Date("nope") },
  ];
  const d = applyPolicy(archives, { keepWithin: parseDuration("1h") }, NOW);
  assertEquals(d.map((x) => [x.name, x.keep, x.reasons]), [
    ["old", true, ["newest archive (always kept)"]],
    ["older", false, []],
    ["damaged", true, ["unknown time (kept to be safe)"]],
  ]);
  assertEquals(applyPolicy([], { keepLast: 1 }, NOW), []);
});

Deno.test("applyPolicy: an empty policy is refused with a hint listing the flags", () => {
  for (const p of [undefined, {}, { keepLast: 0 }]) {
    let err: unknown;
    try {
      applyPolicy([{ name: "a", createdAt: NOW }], p, NOW);
    } catch (e) {
      err = e;
    }
    assert(err instanceof BackupError, "throws");
    assertEquals(err.message, "prune needs a policy");
    assertEquals(err.exitCode, 2);
    assert(err.hint!.includes("--keep-last") && err.hint!.includes("--keep-within"));
  }
  let err: unknown;
  try {
    applyPolicy([], { keepDaily: -2 }, NOW);
  } catch (e) {
    err = e;
  }
  assert(err instanceof BackupError && err.exitCode === 2);
});

Deno.test("applyPolicy: same-day archives keep only the newest of the day", () => {
  const archives: RetentionInput[] = [
    { name: "a-morning", createdAt: new Date("2025-03-30T08:00:00Z") },
    { name: "a-evening", createdAt: new Date("2025-03-30T20:00:00Z") },
    { name: "b", createdAt: new Date("2025-03-29T23:59:59Z") },
    { name: "c", createdAt: new Date("2025-03-27T00:00:00Z") },
  ];
  const d = applyPolicy(archives, { keepDaily: 2 }, NOW);
  assertEquals(d.map((x) => [x.name, x.keep]), [
    ["a-evening", true],
    ["a-morning", false],
    ["b", true],
    ["c", false],
  ]);
  assertEquals(d[0].reasons, ["daily 2025-03-30"]);
});

Deno.test("isoWeekKey: ISO 8601 weeks at year boundaries", () => {
  assertEquals(isoWeekKey(new Date("2020-12-31T12:00:00Z")), "2020-W53");
  assertEquals(isoWeekKey(new Date("2021-01-03T23:59:59Z")), "2020-W53");
  assertEquals(isoWeekKey(new Date("2021-01-04T00:00:00Z")), "2021-W01");
  assertEquals(isoWeekKey(new Date("2024-12-30T00:00:00Z")), "2025-W01");
  assertEquals(isoWeekKey(new Date("2025-04-01T06:00:00Z")), "2025-W14");
  assertEquals(isoWeekKey(new Date("2026-12-31T00:00:00Z")), "2026-W53");
});

Deno.test("parseDuration: units, sums, and usage errors", () => {
  assertEquals(parseDuration("36h"), { text: "36h", hours: 36, days: 0, months: 0, years: 0 });
  assertEquals(parseDuration("2w").days, 14);
  assertEquals(parseDuration("1y6m"), { text: "1y6m", hours: 0, days: 0, months: 6, years: 1 });
  assertEquals(durationStart(parseDuration("14d"), NOW).toISOString(), "2025-03-18T06:00:00.000Z");
  assertEquals(durationStart(parseDuration("6m"), NOW).toISOString(), "2024-10-01T06:00:00.000Z");
  assertEquals(durationStart(parseDuration("1y"), NOW).toISOString(), "2024-04-01T06:00:00.000Z");
  assertEquals(durationStart(parseDuration("36h"), NOW).toISOString(), "2025-03-30T18:00:00.000Z");
  for (const bad of ["", "14", "d", "14x", "-3d", "0d", "1.5d", "two weeks"]) {
    let err: unknown;
    try {
      parseDuration(bad);
    } catch (e) {
      err = e;
    }
    assert(err instanceof BackupError && err.exitCode === 2 && err.message.includes("--keep-within"), bad);
  }
});

Deno.test("policyFromConfig: counts as given, keepWithin parsed, an empty entry keeps nothing", () => {
  assertEquals(policyFromConfig({ keepLast: 3, keepWithin: "14d" }), {
    keepLast: 3,
    keepWithin: parseDuration("14d"),
  });
  assertEquals(policyFromConfig({ keepDaily: 7, keepWeekly: 4, keepMonthly: 6 }), {
    keepDaily: 7,
    keepWeekly: 4,
    keepMonthly: 6,
  });
  assertEquals(policyFromConfig({}), undefined);
});
