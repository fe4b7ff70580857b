/**
 * `deno task bench:storage`: times `backup --storage` against the real Supabase Storage server
 * (tests/support/storage.ts: a new project, its own server). It uploads `--files` files of
 * `--mb` MB in all to one bucket, then times, in each of `--rounds` rounds:
 *
 * - `curl x4`: the same bytes fetched by 4 parallel curl processes (SigV4-signed GETs, each process
 *   fetching its quarter one after another): the plain-download baseline;
 * - with each, the CPU time (user + system) it used, which a shared machine's load disturbs far
 *   less than the wall time: the tool's own and its children's (pg_dump …), the curl processes' sum,
 *   and the Storage server's (and of it, its main thread's: the rest is mostly V8's background
 *   threads, garbage collection and compiling, which vary a lot from run to run);
 * - `first`: the tool's first `backup --storage` (a new root: every file is downloaded), with its
 *   peak RSS (as `deno task backup` runs it);
 * - `second`: the next backup of the unchanged project (nothing should be downloaded).
 *
 * `--compare DIR` also times the `backup.ts` of another checkout (say a worktree of main: the old
 * code) in every round, the two tools' runs in alternating order, so that both meet the same load;
 * the report then gives each round's ratio of this code's first backup to the other's.
 *
 * Each backup's output is kept until the bench ends, so that no first backup runs right after the
 * bench removed hundreds of files (which costs the next new files kernel CPU on ext4 without a
 * journal: about 200 MB of disk per tool and round).
 *
 * The database part is only the `public` schema, so the times are mostly Storage. Progress goes to
 * stderr; the report (a table, then JSON) to stdout. Not a test.
 *
 *   deno task bench:storage [--files 500] [--mb 200] [--jobs 4] [--rounds 1] [--compare DIR]
 * @module
 */
import { join } from "node:path";
import { restCreateBucket, s3Put, startProject } from "../tests/support/storage.ts";
import { REPO } from "../tests/support/paths.ts";
import type { Manifest } from "../lib/store/manifest.ts";
import { encodeKey } from "../lib/store/s3.ts";
import { measure, parseStatCpuMs, taskV8Flags, treeCpuMs } from "./measure.ts";
import { checkoutArg, intArg, parseBenchArgs, runBench } from "./args.ts";

const TASK = "bench:storage";

/** What `--help` prints. */
export const USAGE = `usage: deno task ${TASK} [options]
  --files N      files to upload to the bench's bucket (default 500)
  --mb N         their size in all, in MB (default 200)
  --jobs N       --jobs of each backup (default 4; curl always runs 4 processes)
  --rounds N     rounds of curl x4, then each tool's first and second backup (default 1)
  --compare DIR  also time the backup.ts of the checkout DIR in every round, the two tools in
                 alternating order, and report this code's first backup against it
  --help         this text`;

const log = (l: string) => console.error(`bench: ${l}`);

/** File sizes summing to `total` bytes over `n` files: a spread from small to large, fixed by the seed. */
function sizes(n: number, total: number): number[] {
  const weights = Array.from({ length: n }, (_, i) => 1 + ((i * 7919) % 97) ** 2 / 100);
  const sum = weights.reduce((a, b) => a + b, 0);
  const out = weights.map((w) => Math.floor((w / sum) * total));
  out[0] += total - out.reduce((a, b) => a + b, 0);
  return out;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t = performance.now();
  const value = await fn();
  return { ms: Math.round(performance.now() - t), value };
}

/** One tool's first and second backup in one round. */
interface ToolRun {
  firstMs: number;
  firstCpuMs: number;
  firstServerCpuMs: number;
  /** Of it, the server's main thread. */
  firstServerMainCpuMs: number;
  firstDownloadedBytes: number;
  ratioFirstToCurl: number;
  firstPeakRssMiB: number;
  secondMs: number;
  secondCpuMs: number;
  secondDownloadedBytes: number;
}

/** The median of some numbers (the lower middle one of an even count). Pure. */
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
}

const seconds = (ms: number) => (ms / 1000).toFixed(1);

/**
 * CPU time (user + system, ms) of the main thread of process `pid` (the Node Storage server): the
 * thread that parses requests and writes the responses. The rest of its CPU is mostly V8's
 * background threads (garbage collection, compiling) and libuv's file reads. 0 once it is gone.
 */
function mainThreadCpuMs(pid: number): number {
  try {
    return parseStatCpuMs(Deno.readTextFileSync(`/proc/${pid}/task/${pid}/stat`)) ?? 0;
  } catch {
    return 0;
  }
}

/** The flags of `bench:storage`, as parseArgs takes them. */
export const FLAGS = {
  files: { type: "string" },
  mb: { type: "string" },
  jobs: { type: "string" },
  rounds: { type: "string" },
  compare: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** The flags of `bench:storage`, parsed. */
export interface StorageBenchArgs {
  files: number;
  mb: number;
  jobs: number;
  rounds: number;
  compare?: string;
}

/** The bench's flags (pure): undefined for `--help`. Throws a usage BackupError for a bad flag or value. */
export function parseStorageArgs(argv: string[]): StorageBenchArgs | undefined {
  const values = parseBenchArgs(TASK, argv, FLAGS);
  if (values.help) return undefined;
  return {
    files: intArg(TASK, "files", values.files, 500, 1),
    mb: intArg(TASK, "mb", values.mb, 200, 1),
    jobs: intArg(TASK, "jobs", values.jobs, 4, 1),
    rounds: intArg(TASK, "rounds", values.rounds, 1, 1),
    ...(values.compare === undefined ? {} : { compare: values.compare }),
  };
}

async function main() {
  const args = parseStorageArgs(Deno.args);
  if (!args) return console.log(USAGE);
  const { files, mb, jobs, rounds } = args;
  const tools: { name: string; repo: string }[] = [{ name: "this", repo: REPO }];
  if (args.compare !== undefined) {
    const other = await checkoutArg(args.compare);
    tools.push({ name: "compare", repo: other });
  }
  log(`starting a new project with its Storage server`);
  const p = await startProject();
  const work = await Deno.makeTempDir({ prefix: "bench-storage-" });
  try {
    await restCreateBucket(p.storage, { id: "bench" });
    const list = sizes(files, mb * 1_000_000);
    log(`uploading ${files} files, ${mb} MB`);
    const queue = list.map((size, i) => ({ name: `set/${i % 10}/file-${i}.bin`, size }));
    const all = [...queue];
    await Promise.all(Array.from({ length: 8 }, async () => {
      for (let f = queue.shift(); f; f = queue.shift()) {
        const bytes = new Uint8Array(f.size);
        crypto.getRandomValues(bytes.subarray(0, Math.min(f.size, 65536)));
        for (let o = 65536; o < f.size; o += 65536) bytes.copyWithin(o, 0, Math.min(65536, f.size - o));
        await s3Put(p.storage, "bench", f.name, bytes);
      }
    }));

    // baseline: 4 curl processes, each fetching a quarter of the files one after another
    const keys = join(work, "curl-keys");
    await Deno.writeTextFile(keys, `user = "${p.storage.accessKeyId}:${p.storage.secretAccessKey}"\n`, {
      mode: 0o600,
    });
    const parts = Array.from({ length: 4 }, (_, k) => all.filter((_, i) => i % 4 === k));
    const curlRun = async () => {
      const server0 = treeCpuMs(p.storage.pid());
      const main0 = mainThreadCpuMs(p.storage.pid());
      const r = await timed(() =>
        Promise.all(parts.map(async (part, k) => {
          const cfg = join(work, `curl-${k}`);
          await Deno.writeTextFile(
            cfg,
            part.map((f) =>
              `url = "${p.storage.endpoint}/bench/${encodeKey(f.name)}"\noutput = "/dev/null"\n`
            )
              .join(""),
          );
          const r = await measure("curl", [
            "-sS",
            "--fail",
            "--aws-sigv4",
            `aws:amz:${p.storage.region}:s3`,
            // curl 7.88 signs no payload hash for s3, which S3 requires: give one
            "-H",
            "x-amz-content-sha256: UNSIGNED-PAYLOAD",
            "-K",
            keys,
            "-K",
            cfg,
          ], { env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" } });
          if (r.code !== 0) throw new Error(`curl failed: ${r.stderr.slice(0, 300)}`);
          return r.cpuMs;
        }))
      );
      return {
        ms: r.ms,
        cpuMs: r.value.reduce((a, b) => a + b, 0),
        serverCpuMs: treeCpuMs(p.storage.pid()) - server0,
        serverMainCpuMs: mainThreadCpuMs(p.storage.pid()) - main0,
      };
    };
    /** CPU time of a measured run: the tool's own and its children's (pg_dump …). */
    const cpuOf = (m: { cpuMs: number; childCpuMsByName: Record<string, number> }) =>
      m.cpuMs + Object.values(m.childCpuMsByName).reduce((a, b) => a + b, 0);
    const backup = (repo: string, out: string) =>
      measure(Deno.execPath(), [
        "run",
        "--allow-all",
        "--quiet",
        ...(taskV8Flags(repo) ? [`--v8-flags=${taskV8Flags(repo)}`] : []),
        join(repo, "backup.ts"),
        "backup",
        "--db-url",
        p.dbUrl,
        "--out",
        out,
        "--storage",
        "--schema",
        "public",
        "--jobs",
        String(jobs),
      ], {
        cwd: repo,
        ignoreChildName: "deno",
        serverPid: p.storage.pid(),
        env: {
          PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
          HOME: Deno.env.get("HOME") ?? "/root",
          DENO_DIR: Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME") ?? "/root"}/.cache/deno`,
          SUPABASE_S3_ENDPOINT: p.storage.endpoint,
          SUPABASE_S3_REGION: p.storage.region,
          SUPABASE_S3_ACCESS_KEY_ID: p.storage.accessKeyId,
          SUPABASE_S3_SECRET_ACCESS_KEY: p.storage.secretAccessKey,
        },
      });
    const storageOf = async (out: string) =>
      (JSON.parse(await Deno.readTextFile(join(out, "latest", "manifest.json"))) as Manifest).storage!;
    const toolRun = async (
      tool: { name: string; repo: string },
      round: number,
      curlMs: number,
    ): Promise<ToolRun> => {
      const out = join(work, `out-${tool.name}-${round}`);
      log(`round ${round + 1}: the first backup --storage of ${tool.name} (${tool.repo})`);
      const main0 = mainThreadCpuMs(p.storage.pid());
      const first = await timed(() => backup(tool.repo, out));
      const serverMain = mainThreadCpuMs(p.storage.pid()) - main0;
      if (first.value.code !== 0) throw new Error(first.value.stderr);
      const s1 = await storageOf(out);
      log(`round ${round + 1}: the second backup --storage of ${tool.name}`);
      const second = await timed(() => backup(tool.repo, out));
      if (second.value.code !== 0) throw new Error(second.value.stderr);
      const s2 = await storageOf(out);
      // kept until the bench ends (its work folder goes then): removing 500 files right before the
      // next first backup makes each file that backup creates cost ext4 about 1 ms of kernel CPU on
      // a file system without a journal (recently deleted inodes are skipped one by one), which
      // curl, writing to /dev/null, never pays
      return {
        firstMs: first.ms,
        firstCpuMs: cpuOf(first.value),
        firstServerCpuMs: first.value.serverCpuMs ?? 0,
        firstServerMainCpuMs: serverMain,
        firstDownloadedBytes: s1.downloaded.bytes,
        ratioFirstToCurl: Math.round((first.ms / curlMs) * 100) / 100,
        firstPeakRssMiB: Math.round(first.value.peakRssKiB / 1024),
        secondMs: second.ms,
        secondCpuMs: cpuOf(second.value),
        secondDownloadedBytes: s2.downloaded.bytes,
      };
    };
    const results: {
      curlX4Ms: number;
      curlX4CpuMs: number;
      curlServerCpuMs: number;
      curlServerMainCpuMs: number;
      tools: Record<string, ToolRun>;
      load: number[];
    }[] = [];
    const lines = [
      `Storage: ${files} files, ${(list.reduce((a, b) => a + b, 0) / 1e6).toFixed(0)} MB, --jobs ${jobs}`,
    ];
    for (let round = 0; round < rounds; round++) {
      log(`round ${round + 1}: timing 4 parallel curl processes`);
      const curl = await curlRun();
      const runs: Record<string, ToolRun> = {};
      // alternate the order, so that neither tool always runs right after curl
      for (const tool of round % 2 ? [...tools].reverse() : tools) {
        runs[tool.name] = await toolRun(tool, round, curl.ms);
      }
      results.push({
        curlX4Ms: curl.ms,
        curlX4CpuMs: curl.cpuMs,
        curlServerCpuMs: curl.serverCpuMs,
        curlServerMainCpuMs: curl.serverMainCpuMs,
        tools: runs,
        load: Deno.loadavg(),
      });
      lines.push(
        `round ${round + 1} (load ${Deno.loadavg()[0].toFixed(1)})`,
        `  curl x4 (plain GETs)          ${seconds(curl.ms)} s, CPU ${
          (curl.cpuMs / 1000).toFixed(2)
        } s, server CPU ${(curl.serverCpuMs / 1000).toFixed(2)} s (main thread ${
          (curl.serverMainCpuMs / 1000).toFixed(2)
        } s)`,
        ...tools.flatMap((t) => {
          const r = runs[t.name];
          return [
            `  ${t.name.padEnd(7)} first backup --storage ${
              seconds(r.firstMs)
            } s (${r.ratioFirstToCurl}x curl), downloaded ${
              (r.firstDownloadedBytes / 1e6).toFixed(1)
            } MB, peak RSS ${r.firstPeakRssMiB} MiB, CPU ${(r.firstCpuMs / 1000).toFixed(2)} s, server CPU ${
              (r.firstServerCpuMs / 1000).toFixed(2)
            } s (main thread ${(r.firstServerMainCpuMs / 1000).toFixed(2)} s)`,
            `  ${t.name.padEnd(7)} second (unchanged)     ${
              seconds(r.secondMs)
            } s, downloaded ${r.secondDownloadedBytes} bytes, CPU ${(r.secondCpuMs / 1000).toFixed(2)} s`,
          ];
        }),
        ...(args.compare
          ? [`  this / compare (first backup) ${(runs.this.firstMs / runs.compare.firstMs).toFixed(2)}`]
          : []),
      );
    }
    const ratios = results.map((r) => r.tools.this.ratioFirstToCurl);
    lines.push(`median of ${rounds} round(s): this code's first backup ${median(ratios)}x curl`);
    if (args.compare) {
      const rel = results.map((r) => r.tools.this.firstMs / r.tools.compare.firstMs);
      lines.push(
        `  the other code's ${
          median(results.map((r) => r.tools.compare.ratioFirstToCurl))
        }x curl; this / other ${median(rel).toFixed(2)} (rounds: ${rel.map((x) => x.toFixed(2)).join(", ")})`,
      );
    }
    console.log(lines.join("\n"));
    console.log(JSON.stringify(
      {
        files,
        bytes: list.reduce((a, b) => a + b, 0),
        jobs,
        tools: Object.fromEntries(tools.map((t) => [t.name, t.repo])),
        rounds: results,
      },
      null,
      2,
    ));
  } finally {
    await p.stop();
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await runBench(main);
