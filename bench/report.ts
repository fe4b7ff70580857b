/**
 * The benchmark report: results of each approach, the ratios the issue asks for and the targets,
 * as a text table and as JSON. Pure: no I/O.
 * @module
 */

/** One approach as measured (the median run when repeated). */
export interface ApproachResult {
  id: string;
  label: string;
  /** "proxy" (with the added round-trip time) or "direct". */
  via: "proxy" | "direct";
  wallMs: number;
  /** All measured wall times, in run order. */
  runsMs: number[];
  /** Peak RSS of the measured process (KiB), the largest over the runs. */
  peakRssKiB: number;
  /** Largest single descendant's peak RSS (KiB). */
  childPeakKiB: number;
  /** Largest sum of descendants' RSS at one instant (KiB). */
  childrenSumPeakKiB: number;
  /** Largest peak RSS per descendant program (KiB). */
  childPeakByName: Record<string, number>;
  /** CPU time of the measured process (ms; the median run), and of its descendants per program. */
  cpuMs?: number;
  childCpuMsByName?: Record<string, number>;
  /** CPU time of the server's processes during the (median) run, in ms. */
  serverCpuMs?: number;
  outputBytes: number;
  /** For the per-table approach: what was timed and the factor applied to the wall time. */
  extrapolated?: { tablesTimed: number; factor: number; measuredMs: number; dataShare: number };
  /** Notable moments (ms from start), e.g. when our tool's pg_dump finished. */
  marks?: Record<string, number>;
  /**
   * For our backups: the schemas each run read over several connections (lib/backup/slice.ts), one
   * list per run in run order (empty: that run sliced nothing). Slicing changes time and memory, and
   * on a loaded machine a local server may be sliced in one run and not in the next.
   */
  slicing?: Slicing[][];
}

/** One schema a backup read over several connections, from its log line. */
export interface Slicing {
  schema: string;
  ways: number;
  /** The round trip the tool measured, which decided it. */
  rttMs: number;
}

const SLICING_LINE = /^(?:\[\w+\] )?reading schema (.+) over (\d+) connections \(round trip ([\d.]+) ms\)$/;

/** The schemas a backup's stderr says it read over several connections. */
export function slicingOf(stderrLines: string[]): Slicing[] {
  return stderrLines.flatMap((l) => {
    const m = l.match(SLICING_LINE);
    return m ? [{ schema: m[1], ways: Number(m[2]), rttMs: Number(m[3]) }] : [];
  });
}

/** One run's slicing in words: "not sliced", or "sliced: public 2 ways (round trip 1.3 ms)". */
export function describeSlicing(s: Slicing[]): string {
  if (s.length === 0) return "not sliced";
  return `sliced: ${s.map((x) => `${x.schema} ${x.ways} ways (round trip ${x.rttMs} ms)`).join(", ")}`;
}

/** One target from the issue, checked. */
export interface TargetCheck {
  name: string;
  target: string;
  actual: string;
  met: boolean;
}

/** The whole report. */
export interface BenchReport {
  date: string;
  machine: {
    cpus: number;
    cpuModel: string;
    memoryGiB: number;
    kernel: string;
    /** Load averages (1, 5, 15 min) when the run started and when it ended: how busy the machine was. */
    loadAvg: { start: number[]; end: number[] };
  };
  /** `tool`: the commit of the checkout that was timed ("+changes": uncommitted lib/ or cmd/ edits). */
  versions: { deno: string; pgDump: string; server: string; tool: string };
  params: {
    tables: number;
    mb: number;
    /** Schemas the tables are spread over (1: all in `public`). */
    schemas: number;
    /** Size of the one large bytea value, in MiB (0: none). */
    bigValueMb: number;
    rttMs: number;
    jobs: number;
    repeat: number;
    perTableSubset: number;
    /** Server settings given with --setting. */
    settings?: string[];
    v8Flags?: string;
    tool?: string;
    /** Another checkout's backup.ts timed beside ours (`--compare`), and its commit. */
    compare?: string;
    compareVersion?: string;
  };
  dataset: { databaseBytes: number; tableBytes: number; rows: number; loadMs: number };
  results: ApproachResult[];
  /** Approaches whose program failed (left out of results and ratios). */
  failures: { id: string; error: string }[];
  ratios: Record<string, number | null>;
  targets: TargetCheck[];
}

/** KiB as MiB with one decimal. */
export function mib(kib: number): string {
  return (kib / 1024).toFixed(1);
}

/** Milliseconds as seconds with two decimals. */
export function secs(ms: number): string {
  return (ms / 1000).toFixed(2);
}

/** Bytes as MB (10^6) with one decimal. */
function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

/** The median of a non-empty list. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** What the dataset asks of a backup (from issues 12 and 17): a ratio to pg_dump -Fd -j4 and a memory bound. */
export interface BackupTarget {
  /** The dataset, as the target names it. */
  dataset: string;
  maxRatio: number;
  /** Peak RSS bound in MB, when the dataset has one (the 150 MB budget is checked at 1 GB otherwise). */
  maxRssMb?: number;
}

/**
 * The backup target for a dataset: a large value ≤ 2× and 150 MB + the value; hundreds of schemas
 * ≤ 3×; thousands of tables ≤ 2× and 150 MB; otherwise ≤ 1.2× spread over schemas and ≤ 1.4× all in
 * `public`. Pure.
 */
export function backupTarget(
  p: Pick<BenchReport["params"], "tables" | "schemas" | "bigValueMb">,
): BackupTarget {
  if (p.bigValueMb > 0) {
    return { dataset: `one ${p.bigValueMb} MB value`, maxRatio: 2, maxRssMb: 150 + p.bigValueMb };
  }
  if (p.schemas >= 100) return { dataset: `${p.schemas} schemas`, maxRatio: 3 };
  if (p.tables >= 1000) return { dataset: `${p.tables} tables`, maxRatio: 2, maxRssMb: 150 };
  if (p.schemas > 1) return { dataset: `${p.tables} tables in ${p.schemas} schemas`, maxRatio: 1.2 };
  return { dataset: `${p.tables} tables in public`, maxRatio: 1.4 };
}

/** Our restore against pg_restore -j4 of pg_dump -Fd (issue 12). */
export const RESTORE_MAX_RATIO = 1.25;

/**
 * Ratios and target checks from the results: ours/pg_dump -Fd -j4 (both through the proxy, and
 * directly), per-table/ours, our restore/pg_restore -j4, and the tool's peak RSS (against the
 * dataset's bound, or 150 MB for a run of ≥ 1 GB).
 */
export function evaluate(
  results: ApproachResult[],
  opts: Pick<BenchReport["params"], "mb" | "rttMs" | "tables" | "schemas" | "bigValueMb">,
): { ratios: BenchReport["ratios"]; targets: TargetCheck[] } {
  const get = (id: string) => results.find((r) => r.id === id);
  const ratio = (
    a?: ApproachResult,
    b?: ApproachResult,
  ) => (a && b && b.wallMs > 0 ? a.wallMs / b.wallMs : null);
  const ours = get("ours-proxy");
  const dir = get("pg_dump-Fd-j4-proxy");
  const perTable = get("per-table-proxy");
  const ratios = {
    oursOverPgDumpDirJ4: ratio(ours, dir),
    oursOverPgDumpDirJ4Direct: ratio(get("ours-direct"), get("pg_dump-Fd-j4-direct")),
    oursOverPgDumpPlain: ratio(ours, get("pg_dump-Fp-proxy")),
    perTableOverOurs: ratio(perTable, ours),
    oursRestoreOverPgRestoreJ4: ratio(get("ours-restore-direct"), get("pg_restore-j4-direct")),
    oursRestoreOverPgRestoreAtomic: ratio(get("ours-restore-direct"), get("pg_restore-1-direct")),
    compareOverPgDumpDirJ4: ratio(get("compare-proxy"), dir),
    compareOverPgDumpDirJ4Direct: ratio(get("compare-direct"), get("pg_dump-Fd-j4-direct")),
    compareRestoreOverPgRestoreJ4: ratio(get("compare-restore-direct"), get("pg_restore-j4-direct")),
  };
  const targets: TargetCheck[] = [];
  const round = (x: number) => x.toFixed(2);
  const goal = backupTarget(opts);
  if (ratios.oursOverPgDumpDirJ4 !== null) {
    targets.push({
      name: `full backup vs pg_dump -Fd -j4 at ${opts.rttMs} ms RTT (${goal.dataset})`,
      target: `≤ ${goal.maxRatio}×`,
      actual: `${round(ratios.oursOverPgDumpDirJ4)}×`,
      met: ratios.oursOverPgDumpDirJ4 <= goal.maxRatio,
    });
  }
  if (ratios.oursRestoreOverPgRestoreJ4 !== null) {
    targets.push({
      name: "restore into an empty database vs pg_restore -j4 of pg_dump -Fd",
      target: `≤ ${RESTORE_MAX_RATIO}×`,
      actual: `${round(ratios.oursRestoreOverPgRestoreJ4)}×`,
      met: ratios.oursRestoreOverPgRestoreJ4 <= RESTORE_MAX_RATIO,
    });
  }
  if (ratios.perTableOverOurs !== null) {
    targets.push({
      name: "per-table pg_dump (extrapolated) vs full backup",
      target: "≥ 20× faster",
      actual: `${round(ratios.perTableOverOurs)}× faster`,
      met: ratios.perTableOverOurs >= 20,
    });
  }
  if (ours) {
    const big = opts.mb >= 1000;
    const bound = goal.maxRssMb ?? 150;
    targets.push({
      name: `peak RSS of the tool process (${
        goal.maxRssMb !== undefined
          ? goal.dataset
          : big
          ? "1 GB run"
          : `${opts.mb} MB run; the target is for 1 GB`
      })`,
      target: `≤ ${bound} MB`,
      actual: `${mib(ours.peakRssKiB)} MiB`,
      met: ours.peakRssKiB <= bound * 1024,
    });
  }
  return { ratios, targets };
}

function pad(cells: string[][]): string {
  const widths = cells[0].map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  return cells.map((r) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ").trimEnd()
  ).join("\n");
}

/** The report as text: parameters, one row per approach, ratios and targets. */
export function formatReport(r: BenchReport): string {
  const lines: string[] = [];
  lines.push(
    `supabase-backup benchmark, ${r.date}`,
    `machine: ${r.machine.cpus} CPU (${r.machine.cpuModel}), ${r.machine.memoryGiB} GiB, Linux ${r.machine.kernel}; ` +
      `load average ${r.machine.loadAvg.start.join(" ")} at the start, ${
        r.machine.loadAvg.end.join(" ")
      } at the end`,
    `versions: supabase-backup ${r.versions.tool}; ${r.versions.pgDump}; server ${r.versions.server}; ` +
      `deno ${r.versions.deno}`,
    `dataset: ${r.params.tables} tables` + (r.params.schemas > 1 ? ` in ${r.params.schemas} schemas` : "") +
      (r.params.bigValueMb > 0 ? ` + one ${r.params.bigValueMb} MB bytea value` : "") +
      `, ${r.dataset.rows.toLocaleString("en-US")} rows, ` +
      `${mb(r.dataset.tableBytes)} MB of tables, database ${mb(r.dataset.databaseBytes)} MB ` +
      `(loaded in ${secs(r.dataset.loadMs)} s)`,
    `network: proxy adds ${r.params.rttMs / 2} ms each way (${r.params.rttMs} ms RTT); ` +
      `--jobs ${r.params.jobs}; ${r.params.repeat} run(s) each, median wall time` +
      (r.params.v8Flags ? `; our tool with --v8-flags=${r.params.v8Flags}` : "") +
      (r.params.settings ? `; server ${r.params.settings.join(", ")}` : "") +
      (r.params.tool ? `; our tool from ${r.params.tool}` : "") +
      (r.params.compare ? `; compare: ${r.params.compare} (${r.params.compareVersion})` : ""),
    "",
  );
  const rows = [[
    "approach",
    "via",
    "wall s",
    "peak RSS MiB",
    "children peak MiB",
    "children sum MiB",
    "output MB",
    "CPU s",
    "children CPU s",
    "server CPU s",
  ]];
  for (const a of r.results) {
    rows.push([
      a.label + (a.extrapolated ? ` (${a.extrapolated.tablesTimed} timed ×${a.extrapolated.factor})` : ""),
      a.via,
      secs(a.wallMs),
      mib(a.peakRssKiB),
      a.childPeakKiB ? mib(a.childPeakKiB) : "-",
      a.childrenSumPeakKiB ? mib(a.childrenSumPeakKiB) : "-",
      mb(a.outputBytes),
      a.cpuMs !== undefined ? secs(a.cpuMs) : "-",
      a.childCpuMsByName ? secs(Object.values(a.childCpuMsByName).reduce((x, y) => x + y, 0)) : "-",
      a.serverCpuMs !== undefined ? secs(a.serverCpuMs) : "-",
    ]);
  }
  lines.push(pad(rows), "");
  for (const a of r.results) {
    if (!a.slicing) continue;
    const runs = a.slicing.map((x, i) => `run ${i + 1} ${describeSlicing(x)}`).join("; ");
    lines.push(`slicing, ${a.label} (${a.via}): ${runs}`);
  }
  if (r.results.some((a) => a.slicing)) lines.push("");
  for (const f of r.failures) lines.push(`FAILED ${f.id}: ${f.error.split("\n")[0]}`);
  const ratioNames: Record<string, string> = {
    oursOverPgDumpDirJ4: "ours / pg_dump -Fd -j4 (proxy)",
    oursOverPgDumpDirJ4Direct: "ours / pg_dump -Fd -j4 (direct)",
    oursOverPgDumpPlain: "ours / pg_dump -Fp (proxy)",
    perTableOverOurs: "per-table / ours (proxy)",
    oursRestoreOverPgRestoreJ4: "restore: ours / pg_restore -j4",
    oursRestoreOverPgRestoreAtomic: "restore: ours / pg_restore -1",
    compareOverPgDumpDirJ4: "compare / pg_dump -Fd -j4 (proxy)",
    compareOverPgDumpDirJ4Direct: "compare / pg_dump -Fd -j4 (direct)",
    compareRestoreOverPgRestoreJ4: "restore: compare / pg_restore -j4",
  };
  for (const [k, v] of Object.entries(r.ratios)) {
    if (v !== null) lines.push(`${(ratioNames[k] ?? k).padEnd(34)} ${v.toFixed(2)}×`);
  }
  lines.push("");
  for (const t of r.targets) {
    lines.push(`${t.met ? "met    " : "MISSED "} ${t.name}: ${t.actual} (target ${t.target})`);
  }
  return lines.join("\n");
}
