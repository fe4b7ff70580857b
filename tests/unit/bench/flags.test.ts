/**
 * The flags of bench.ts, storage.ts, git.ts, store.ts and diff.ts (pure parsing through bench/args.ts): the
 * defaults, every invocation the docs quote, and a usage error for each kind of bad flag.
 */
import { deepStrictEqual as assertEquals, ok as assert, throws as assertThrows } from "node:assert/strict";
import { join } from "node:path";
import { BackupError, ExitCode } from "../../../lib/base/errors.ts";
import { choiceArg, intArg } from "../../../bench/args.ts";
import { approachIds, parseMainArgs } from "../../../bench/bench.ts";
import { parseGitArgs } from "../../../bench/git.ts";
import { parseStoreArgs } from "../../../bench/store.ts";
import { parseDiffArgs } from "../../../bench/diff.ts";
import { parseStorageArgs } from "../../../bench/storage.ts";
import { REPO } from "../../support/paths.ts";

/** Asserts that `fn` throws a usage BackupError with this message and the hint of `task`'s --help. */
function throwsUsage(task: string, fn: () => unknown, message: string) {
  assertThrows(fn, (e) => {
    assert(e instanceof BackupError, String(e));
    assertEquals([e.message, e.hint, e.exitCode], [
      message,
      `see 'deno task ${task} --help'`,
      ExitCode.usage,
    ]);
    return true;
  });
}

/** The invocation `line` (flags only, as quoted) split into arguments. */
const argv = (line: string) => line.split(" ").filter(Boolean);

Deno.test("intArg with a maximum, and choiceArg: the value, the default, or a usage error", () => {
  assertEquals(intArg("bench:x", "big-value", "500", 0, 1, 500), 500);
  throwsUsage(
    "bench:x",
    () => intArg("bench:x", "big-value", "501", 0, 1, 500),
    "--big-value must be an integer from 1 to 500, got '501'",
  );
  assertEquals(choiceArg("bench:x", "spread", undefined, ["all", "some"]), "all");
  assertEquals(choiceArg("bench:x", "spread", "some", ["all", "some"]), "some");
  for (const raw of ["", "ALL", "some "]) {
    throwsUsage(
      "bench:x",
      () => choiceArg("bench:x", "spread", raw, ["all", "some"]),
      `--spread must be all or some, got '${raw}'`,
    );
  }
});

Deno.test("bench: the defaults, --help, and every invocation docs/performance.md and tests/tasks.test.ts quote", () => {
  assertEquals(parseMainArgs(["--help"]), undefined);
  assertEquals(parseMainArgs(["-h"]), undefined);
  assertEquals(parseMainArgs([]), {
    tables: 200,
    mb: 50,
    schemas: 1,
    bigValueMb: 0,
    rttMs: 20,
    jobs: 4,
    repeat: 1,
    subset: 20,
    skipPerTable: false,
    skipRestore: false,
    settle: true,
    only: undefined,
    settings: [],
    v8Flags: undefined,
    tool: join(REPO, "backup.ts"),
    compare: undefined,
    json: undefined,
  });
  assertEquals(parseMainArgs(["--large", "--mb", "3"])?.mb, 1024);
  assertEquals(parseMainArgs(["--v8-flags="])?.v8Flags, "");
  assertEquals(parseMainArgs(["--no-settle"])?.settle, false);
  const quoted = [
    "--repeat 3",
    "--large",
    "--json result.json",
    "--schemas 200 --mb 2 --skip-per-table",
    "--tables 5000 --mb 20 --skip-per-table",
    "--tables 1 --mb 1 --big-value 100 --skip-per-table",
    "--tables 10 --mb 2 --schemas 3 --big-value 1 --skip-per-table --json /tmp/r.json",
    "--repeat 3 --only ours-restore-direct,compare-restore-direct,pg_restore-j4-direct,pg_restore-1-direct --compare /w/main/backup.ts",
    "--repeat 5 --skip-per-table --only ours-restore-direct,compare-restore-direct,pg_restore-j4-direct,pg_restore-1-direct --compare /w/start/backup.ts",
    "--skip-per-table --only ours-restore-direct,pg_restore-j4-direct,pg_restore-1-direct,compare-restore-direct --repeat 3 --compare /w/start/backup.ts",
    "--tables 5000 --mb 20 --skip-per-table --skip-restore --compare /w/start/backup.ts",
    "--tables 5000 --mb 20 --skip-per-table --skip-restore --only ours-direct,compare-direct,pg_dump-Fd-j4-direct --repeat 3 --compare /w/start/backup.ts",
    "--tables 5000 --mb 20 --skip-per-table --skip-restore --repeat 3",
    "--repeat 3 --skip-per-table",
    "--repeat 3 --skip-per-table --v8-flags=--max-semi-space-size=1",
    "--large --v8-flags=--max-semi-space-size=1",
    "--big-value 100",
    "--setting max_locks_per_transaction=256 --rtt-ms 0 --jobs 8 --subset 10 --tool /w/x/backup.ts",
  ];
  for (const line of quoted) assert(parseMainArgs(argv(line)), line);
  const a = parseMainArgs(argv(quoted[11]))!;
  assertEquals([a.tables, a.mb, a.skipPerTable, a.skipRestore, a.repeat, a.compare, a.only], [
    5000,
    20,
    true,
    true,
    3,
    "/w/start/backup.ts",
    ["ours-direct", "compare-direct", "pg_dump-Fd-j4-direct"],
  ]);
  const s = parseMainArgs(argv(quoted.at(-1)!))!;
  assertEquals([s.settings, s.rttMs, s.jobs, s.subset, s.tool], [
    ["max_locks_per_transaction=256"],
    0,
    8,
    10,
    "/w/x/backup.ts",
  ]);
});

Deno.test("bench: an unknown flag, a missing value, a bad or out-of-range number, a bad setting are usage errors", () => {
  const bad = (line: string, message: string) =>
    throwsUsage("bench", () => parseMainArgs(argv(line)), message);
  bad("--repeat 3 --bogus", "unknown flag '--bogus' for 'bench'");
  bad("--json", "flag '--json' needs a value");
  bad("--tables 0", "--tables must be an integer of at least 1, got '0'");
  bad("--mb 2.5", "--mb must be an integer of at least 1, got '2.5'");
  bad("--repeat x", "--repeat must be an integer of at least 1, got 'x'");
  bad("--rtt-ms=-1", "--rtt-ms must be an integer of at least 0, got '-1'");
  bad("--big-value 501", "--big-value must be an integer from 1 to 500, got '501'");
  bad("--schemas 3 --tables 2", "--schemas 3 needs at least as many --tables, got 2");
  bad("--setting work_mem", "--setting must be NAME=VALUE, got 'work_mem'");
});

Deno.test("bench:git: the defaults, the quoted invocations, and usage errors", () => {
  assertEquals(parseGitArgs(["--help"]), undefined);
  assertEquals(parseGitArgs([]), { tables: 200, mb: 50, days: 30, spread: "all", checkout: "none" });
  assertEquals(parseGitArgs(argv("--tables 100 --mb 10 --days 10 --checkout latest --spread some")), {
    tables: 100,
    mb: 10,
    days: 10,
    spread: "some",
    checkout: "latest",
  });
  assertEquals(parseGitArgs(argv("--tables 200 --mb 50 --days 3 --checkout none --spread all"))?.days, 3);
  const bad = (line: string, message: string) =>
    throwsUsage("bench:git", () => parseGitArgs(argv(line)), message);
  bad("--weeks 4", "unknown flag '--weeks' for 'bench:git'");
  bad("--days", "flag '--days' needs a value");
  bad("--days 1", "--days must be an integer of at least 2, got '1'");
  bad("--mb 1e400", "--mb must be an integer of at least 1, got '1e400'");
  bad("--checkout all", "--checkout must be none or latest, got 'all'");
  bad("--spread half", "--spread must be all or some, got 'half'");
  bad("--tables 10 stray", "unexpected argument 'stray'");
});

Deno.test("bench:store: the defaults, the quoted invocations, and usage errors", () => {
  assertEquals(parseStoreArgs(["-h"]), undefined);
  assertEquals(parseStoreArgs([]), { tables: 200, mb: 50, jobs: 4, kinds: ["s3", "azblob"] });
  assertEquals(parseStoreArgs(argv("--tables 20 --mb 5 --big 2300000 --compare /w/start")), {
    tables: 20,
    mb: 5,
    jobs: 4,
    kinds: ["s3", "azblob"],
    big: 2300000,
    compare: "/w/start",
  });
  assertEquals(parseStoreArgs(argv("--only azblob --jobs 2")), {
    tables: 200,
    mb: 50,
    jobs: 2,
    kinds: ["azblob"],
  });
  const bad = (line: string, message: string) =>
    throwsUsage("bench:store", () => parseStoreArgs(argv(line)), message);
  bad("--store s3", "unknown flag '--store' for 'bench:store'");
  bad("--compare", "flag '--compare' needs a value");
  bad("--only gcs", "--only must be s3 or azblob, got 'gcs'");
  bad("--big 0", "--big must be an integer of at least 1, got '0'");
  bad("--jobs many", "--jobs must be an integer of at least 1, got 'many'");
});

Deno.test("bench:diff: the defaults, the quoted invocations, and usage errors", () => {
  assertEquals(parseDiffArgs(["--help"]), undefined);
  assertEquals(parseDiffArgs([]), { mb: 1024, tables: 20 });
  assertEquals(parseDiffArgs(argv("--mb 1024 --tables 20")), { mb: 1024, tables: 20 });
  assertEquals(parseDiffArgs(argv("--tables 10 --mb 3 --keep /tmp/d")), {
    mb: 3,
    tables: 10,
    keep: "/tmp/d",
  });
  const bad = (line: string, message: string) =>
    throwsUsage("bench:diff", () => parseDiffArgs(argv(line)), message);
  bad("--rows 5", "unknown flag '--rows' for 'bench:diff'");
  bad("--keep", "flag '--keep' needs a value");
  bad("--mb 0", "--mb must be an integer of at least 1, got '0'");
  bad("--tables=-3", "--tables must be an integer of at least 1, got '-3'");
  bad("--tables -3", "Option '--tables' argument is ambiguous."); // parseArgs's own words
});

Deno.test("bench:storage: the defaults, the quoted invocations, and usage errors", () => {
  assertEquals(parseStorageArgs(["--help"]), undefined);
  assertEquals(parseStorageArgs([]), { files: 500, mb: 200, jobs: 4, rounds: 1 });
  assertEquals(parseStorageArgs(argv("--rounds 3 --compare /work/wt-base")), {
    files: 500,
    mb: 200,
    jobs: 4,
    rounds: 3,
    compare: "/work/wt-base",
  });
  assertEquals(parseStorageArgs(argv("--files 50 --mb 20 --jobs 1 --rounds 3")), {
    files: 50,
    mb: 20,
    jobs: 1,
    rounds: 3,
  });
  const bad = (line: string, message: string) =>
    throwsUsage("bench:storage", () => parseStorageArgs(argv(line)), message);
  bad("--round 3", "unknown flag '--round' for 'bench:storage'");
  bad("--rounds", "flag '--rounds' needs a value");
  bad("--rounds 0", "--rounds must be an integer of at least 1, got '0'");
  bad("--files x", "--files must be an integer of at least 1, got 'x'");
});

Deno.test("bench --only: the ids of the run's approaches, else a usage error that lists them", () => {
  const plain = { skipPerTable: false, skipRestore: false };
  assertEquals(approachIds(plain), [
    "ours-proxy",
    "pg_dump-Fd-j4-proxy",
    "pg_dump-Fp-proxy",
    "ours-direct",
    "pg_dump-Fd-j4-direct",
    "per-table-proxy",
    "ours-restore-direct",
    "pg_restore-j4-direct",
    "pg_restore-1-direct",
  ]);
  assertEquals(approachIds({ compare: "/w/b.ts", skipPerTable: true, skipRestore: true }), [
    "ours-proxy",
    "compare-proxy",
    "pg_dump-Fd-j4-proxy",
    "pg_dump-Fp-proxy",
    "ours-direct",
    "compare-direct",
    "pg_dump-Fd-j4-direct",
  ]);
  assertEquals(parseMainArgs(["--only", " ours-proxy, pg_dump-Fp-proxy"])?.only, [
    "ours-proxy",
    "pg_dump-Fp-proxy",
  ]);
  const rejects = (line: string, message: string, ids: string[]) =>
    assertThrows(() => parseMainArgs(argv(line)), (e) => {
      assert(e instanceof BackupError, String(e));
      assertEquals([e.message, e.hint, e.exitCode], [
        message,
        `choose from ${ids.join(", ")}`,
        ExitCode.usage,
      ]);
      return true;
    });
  rejects("--only ours-proxy,ours-prox", "--only: no approach 'ours-prox' in this run", approachIds(plain));
  rejects(
    "--skip-restore --only compare-direct,ours-restore-direct",
    "--only: no approach 'compare-direct', 'ours-restore-direct' in this run",
    approachIds({ ...plain, skipRestore: true }),
  );
  rejects("--only ,", "--only needs at least one approach", approachIds(plain));
});
