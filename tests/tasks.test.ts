/**
 * The showcase tasks work end to end: `deno task demo` (dev/demo.ts) and a small `deno task bench`
 * (bench/bench.ts), each as a real process. The benchmark is not timed here; only that it runs every
 * approach against one database and reports ratios.
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { REPO } from "./support/paths.ts";

async function run(args: string[]): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", ...args],
    cwd: REPO,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

Deno.test("deno task demo: backup with only pg_dump 15 on PATH, then a drill that matches every table", async () => {
  const r = await run(["dev/demo.ts"]);
  assertEquals(r.code, 0, r.out);
  ok(/pg_dump \(PostgreSQL\) 15\./.test(r.out), "the demo's PATH has Debian's pg_dump 15");
  ok(
    /pg_dump 17\.\d+ from .*\.cache\/pg\/client-17\/bin/.test(r.out),
    "the tool picked the cached pg_dump 17",
  );
  ok(r.out.includes("Backup summary"), "the summary is printed");
  const drill = r.out.match(/drill: (\d+)\/(\d+) tables match/);
  ok(drill && drill[1] === drill[2] && Number(drill[1]) >= 10, r.out.slice(-2000));
  ok(!r.out.includes("p@ss:w/rd"), "no password in the demo's output");
});

Deno.test("deno task bench (10 tables in 3 schemas, 2 MB, a 1 MB value): every approach runs and the report has its ratios", async () => {
  const json = await Deno.makeTempFile({ prefix: "bench-", suffix: ".json" });
  const r = await run([
    "bench/bench.ts",
    ...[
      "--tables",
      "10",
      "--mb",
      "2",
      "--schemas",
      "3",
      "--big-value",
      "1",
      "--skip-per-table",
      "--json",
      json,
    ],
  ]);
  assertEquals(r.code, 0, r.out);
  const report = JSON.parse(await Deno.readTextFile(json));
  assertEquals(
    report.results.map((x: { id: string }) => x.id).sort(),
    [
      "ours-direct",
      "ours-proxy",
      "ours-restore-direct",
      "pg_dump-Fd-j4-direct",
      "pg_dump-Fd-j4-proxy",
      "pg_dump-Fp-proxy",
      "pg_restore-1-direct",
      "pg_restore-j4-direct",
    ],
  );
  // Both restores were checked against the dataset (tables and rows counted) before they counted.
  assertEquals(report.params.schemas, 3);
  ok(report.ratios.oursRestoreOverPgRestoreJ4 > 0, JSON.stringify(report.ratios));
  assertEquals(report.failures, []);
  for (const x of report.results) {
    ok(x.wallMs > 0 && x.peakRssKiB > 0 && x.outputBytes > 0, JSON.stringify(x));
  }
  ok(report.ratios.oursOverPgDumpDirJ4 > 0, JSON.stringify(report.ratios));
  ok(r.out.includes("ours / pg_dump -Fd -j4 (proxy)"), "the table is printed");
  await Deno.remove(json);
});

Deno.test("deno task bench:diff (10 tables, 3 MB): diff finds exactly the 1% of rows changed, both approaches measured", async () => {
  const r = await run(["bench/diff.ts", "--tables", "10", "--mb", "3"]);
  assertEquals(r.code, 0, r.out);
  const report = JSON.parse(r.out.slice(r.out.indexOf("\n{") + 1, r.out.lastIndexOf("}") + 1));
  ok(report.changes.changed > 0 && report.changes.removed > 0 && report.changes.added > 0, r.out);
  // (diff(1) of 2 MB may end before the first RSS sample: only its output is checked here.)
  ok(report.ours.peakRssMiB > 0 && report.ours.wallS > 0 && report.diff1.lines > 0, r.out);
});
