/** Point-in-time choice (pure): parsing times and choosing the newest backup at or before one. */
import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { BackupError } from "../../../lib/base/errors.ts";
import { chooseAsOf, looksLikeTime, parseAsOf } from "../../../lib/store/asof.ts";

const NOW = new Date("2026-12-10T12:00:00Z");
const usage = (re: RegExp) => (e: unknown) =>
  e instanceof BackupError && e.exitCode === 2 && re.test(e.message);

Deno.test("parseAsOf: dates and times mean the end of what they name, times default to UTC, durations count back", () => {
  assertEquals(parseAsOf("2026-12-01", NOW).toISOString(), "2026-12-01T23:59:59.999Z");
  assertEquals(parseAsOf("2026-12-01T09:30", NOW).toISOString(), "2026-12-01T09:30:59.999Z");
  assertEquals(parseAsOf("2026-12-01 09:30:15Z", NOW).toISOString(), "2026-12-01T09:30:15.999Z");
  assertEquals(parseAsOf("2026-12-01T09:30:15.250Z", NOW).toISOString(), "2026-12-01T09:30:15.250Z");
  assertEquals(parseAsOf("2026-12-01T09:30:00+02:00", NOW).toISOString(), "2026-12-01T07:30:00.999Z");
  assertEquals(parseAsOf("36h", NOW).toISOString(), "2026-12-09T00:00:00.000Z");
  assertEquals(parseAsOf("1w", NOW).toISOString(), "2026-12-03T12:00:00.000Z");
  throws(() => parseAsOf("yesterday", NOW), usage(/--as-of 'yesterday' is not a time/));
  throws(() => parseAsOf("2026-13-45", NOW), usage(/is not a valid time/));
  assertEquals([looksLikeTime("2026-12-01"), looksLikeTime("2d"), looksLikeTime("HEAD~1:")], [
    true,
    true,
    false,
  ]);
});

Deno.test("chooseAsOf: the newest at or before the time; before the first or nothing at all is bad input", () => {
  const b = [
    { label: "latest", createdAt: new Date("2026-12-03T06:00:00Z") },
    { label: "archive/b", createdAt: new Date("2026-12-02T06:00:00Z") },
    { label: "archive/a", createdAt: new Date("2026-12-01T06:00:00Z") },
    { label: "archive/damaged", createdAt: new Date(NaN) },
  ];
  assertEquals(chooseAsOf(b, new Date("2026-12-02T06:00:00Z"), "r").label, "archive/b");
  assertEquals(chooseAsOf(b, new Date("2026-12-02T05:59:59Z"), "r").label, "archive/a");
  assertEquals(chooseAsOf(b, new Date("2030-01-01T00:00:00Z"), "r").label, "latest");
  throws(
    () => chooseAsOf(b, new Date("2026-11-30T00:00:00Z"), "r"),
    (e: unknown) =>
      usage(/no backup in r was taken at or before 2026-11-30T00:00:00Z/)(e) &&
      /archive\/a\) is from 2026-12-01T06:00:00Z/.test((e as BackupError).hint ?? ""),
  );
  throws(() => chooseAsOf([], NOW, "r"), usage(/no backups in r to choose from/));
  // Two backups with one time (a store's names of one second): the later in the list, the newer.
  const second = new Date("2026-12-03T06:00:05Z");
  const same = [{ label: "older", createdAt: second }, { label: "newer", createdAt: second }];
  assertEquals(chooseAsOf(same, new Date("2026-12-03T06:00:05.999Z"), "r").label, "newer");
  // The time `list` prints (whole seconds) chooses that backup, although it was taken 0.6 s into the second.
  const listed = [{ label: "archive/x", createdAt: new Date("2026-12-02T19:19:10.600Z") }];
  assertEquals(chooseAsOf(listed, parseAsOf("2026-12-02T19:19:10Z", NOW), "r").label, "archive/x");
});
