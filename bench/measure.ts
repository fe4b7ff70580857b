/**
 * Runs one program as a child process and measures it: wall time, the peak resident memory of the
 * process itself (VmHWM from /proc/<pid>/status) and of its descendants (pg_dump, pg_restore …),
 * sampled every 20 ms. Linux only.
 * @module
 */

/** What one measured run gave. */
export interface Measurement {
  wallMs: number;
  /** Peak RSS of the process itself, in KiB (its VmHWM at the last sample). */
  peakRssKiB: number;
  /** The largest peak RSS of any one descendant, in KiB (0 when it started none). */
  childPeakKiB: number;
  /** The largest sum of RSS of all descendants at one sample, in KiB. */
  childrenSumPeakKiB: number;
  /** Descendant processes seen. */
  children: number;
  /** The largest peak RSS per descendant program name (`pg_dump`, `pg_restore` …), in KiB. */
  childPeakByName: Record<string, number>;
  /** CPU time (user + system) of the process itself, in ms, at its last sample. */
  cpuMs: number;
  /** CPU time per descendant program name, in ms: each descendant's last sample, summed per name. */
  childCpuMsByName: Record<string, number>;
  /** CPU time the server's processes used during the run, in ms (with {@link MeasureOptions.serverPid}). */
  serverCpuMs?: number;
  code: number;
  stdout: string;
  stderr: string;
  /** Each stderr line with the time it arrived (ms from start). */
  stderrLines: { ms: number; text: string }[];
}

/** How to run it. */
export interface MeasureOptions {
  env: Record<string, string>;
  cwd?: string;
  /** Sampling period in ms (default 20). */
  intervalMs?: number;
  /**
   * Descendants with this program name are left out of the children figures. For `deno`: a child
   * that still carries the name is a fork that has not exec'd pg_dump yet, and its RSS is the
   * parent's (shared pages), not a program of its own.
   */
  ignoreChildName?: string;
  /** The server's postmaster: its CPU time (and its children's) is taken before and after the run. */
  serverPid?: number;
}

/** Reads `VmHWM` and `VmRSS` (KiB) from a /proc status text; undefined when the fields are gone. */
export function parseStatus(text: string): { hwm: number; rss: number } | undefined {
  const hwm = text.match(/^VmHWM:\s+(\d+) kB/m);
  const rss = text.match(/^VmRSS:\s+(\d+) kB/m);
  if (!hwm || !rss) return undefined;
  return { hwm: Number(hwm[1]), rss: Number(rss[1]) };
}

/** The parent pid from a /proc/<pid>/stat text (the command name may hold spaces and parens). */
export function parseStatPpid(text: string): number | undefined {
  const close = text.lastIndexOf(")");
  if (close < 0) return undefined;
  const fields = text.slice(close + 2).split(" ");
  const ppid = Number(fields[1]);
  return Number.isFinite(ppid) ? ppid : undefined;
}

/** Linux's clock tick (USER_HZ) on every architecture the benchmark runs on. */
const TICKS_PER_SECOND = 100;

/**
 * User + system CPU time in ms from a /proc/<pid>/stat text (fields 14 and 15); with `reaped`, also
 * that of the children it has waited for (fields 16 and 17).
 */
export function parseStatCpuMs(text: string, reaped = false): number | undefined {
  const close = text.lastIndexOf(")");
  if (close < 0) return undefined;
  const f = text.slice(close + 2).split(" ").map(Number);
  const ticks = f[11] + f[12] + (reaped ? f[13] + f[14] : 0);
  return Number.isFinite(ticks) ? (ticks * 1000) / TICKS_PER_SECOND : undefined;
}

/** CPU time in ms of `root` and every process under it, the exited ones that were waited for included. */
export function treeCpuMs(root: number): number {
  let ms = 0;
  for (const pid of [root, ...descendants(root)]) {
    const stat = readOr(`/proc/${pid}/stat`);
    ms += (stat && parseStatCpuMs(stat, true)) || 0;
  }
  return ms;
}

function readOr(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

/** Every live descendant of `root`, found by scanning /proc for parent links. */
function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const stat = readOr(`/proc/${e.name}/stat`);
    const ppid = stat ? parseStatPpid(stat) : undefined;
    if (ppid !== undefined) parent.set(Number(e.name), ppid);
  }
  const out: number[] = [];
  for (const pid of parent.keys()) {
    let p = parent.get(pid);
    for (let hops = 0; p !== undefined && p > 1 && hops < 64; hops++) {
      if (p === root) {
        out.push(pid);
        break;
      }
      p = parent.get(p);
    }
  }
  return out;
}

function nameOf(status: string): string {
  return status.match(/^Name:\s+(.+)$/m)?.[1] ?? "?";
}

/**
 * Runs `cmd args` to completion and measures it. Never throws for a failing program: the caller
 * checks `code`. Throws only when the program cannot be started.
 */
export async function measure(cmd: string, args: string[], opts: MeasureOptions): Promise<Measurement> {
  const serverBefore = opts.serverPid ? treeCpuMs(opts.serverPid) : 0;
  const started = performance.now();
  const child = new Deno.Command(cmd, {
    args,
    env: opts.env,
    clearEnv: true,
    cwd: opts.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const pid = child.pid;
  let peak = 0;
  let childPeak = 0;
  let childrenSumPeak = 0;
  const seen = new Set<number>();
  const byName: Record<string, number> = {};
  let cpuMs = 0;
  const childCpu = new Map<number, { name: string; ms: number }>();
  const sample = () => {
    const own = readOr(`/proc/${pid}/status`);
    const s = own ? parseStatus(own) : undefined;
    if (s) peak = Math.max(peak, s.hwm);
    const ownStat = readOr(`/proc/${pid}/stat`);
    cpuMs = Math.max(cpuMs, (ownStat && parseStatCpuMs(ownStat)) || 0);
    let sum = 0;
    for (const d of descendants(pid)) {
      const st = readOr(`/proc/${d}/status`);
      const ds = st ? parseStatus(st) : undefined;
      if (!ds) continue;
      const name = nameOf(st!);
      if (name === opts.ignoreChildName) continue;
      seen.add(d);
      childPeak = Math.max(childPeak, ds.hwm);
      byName[name] = Math.max(byName[name] ?? 0, ds.hwm);
      sum += ds.rss;
      const stat = readOr(`/proc/${d}/stat`);
      const ms = stat ? parseStatCpuMs(stat) : undefined;
      if (ms !== undefined) childCpu.set(d, { name, ms: Math.max(ms, childCpu.get(d)?.ms ?? 0) });
    }
    childrenSumPeak = Math.max(childrenSumPeak, sum);
  };
  const timer = setInterval(sample, opts.intervalMs ?? 20);
  const stderrLines: { ms: number; text: string }[] = [];
  const drain = async (s: ReadableStream<Uint8Array>, lines?: typeof stderrLines) => {
    const chunks: string[] = [];
    const dec = new TextDecoder();
    let partial = "";
    for await (const c of s) {
      const text = dec.decode(c, { stream: true });
      chunks.push(text);
      if (!lines) continue;
      const ms = performance.now() - started;
      const parts = (partial + text).split("\n");
      partial = parts.pop()!;
      for (const l of parts) lines.push({ ms, text: l });
    }
    if (lines && partial) lines.push({ ms: performance.now() - started, text: partial });
    return chunks.join("");
  };
  sample();
  const [stdout, stderr, status] = await Promise.all([
    drain(child.stdout),
    drain(child.stderr, stderrLines),
    child.status,
  ]);
  clearInterval(timer);
  const wallMs = performance.now() - started;
  const serverCpuMs = opts.serverPid ? treeCpuMs(opts.serverPid) - serverBefore : undefined;
  return {
    wallMs,
    peakRssKiB: peak,
    childPeakKiB: childPeak,
    childrenSumPeakKiB: childrenSumPeak,
    children: seen.size,
    childPeakByName: byName,
    cpuMs,
    childCpuMsByName: [...childCpu.values()].reduce<Record<string, number>>((r, c) => {
      r[c.name] = (r[c.name] ?? 0) + c.ms;
      return r;
    }, {}),
    ...(serverCpuMs !== undefined ? { serverCpuMs } : {}),
    code: status.code,
    stdout,
    stderr,
    stderrLines,
  };
}

/**
 * The V8 flags `deno task backup` runs the tool with (the deno.json of the checkout at `repo`), so that
 * a benchmark measures the tool as it is run; undefined when the task has none.
 */
export function taskV8Flags(repo: string): string | undefined {
  const tasks = JSON.parse(Deno.readTextFileSync(`${repo}/deno.json`)).tasks ?? {};
  return String(tasks.backup ?? "").match(/--v8-flags=(\S+)/)?.[1];
}
