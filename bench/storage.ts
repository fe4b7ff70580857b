/**
 * `deno task bench:storage`: times `backup --storage` against the real Supabase Storage server
 * (tests/support/storage.ts: a new project, its own server). It uploads `--files` files of
 * `--mb` MB in all to one bucket, then times:
 *
 * - `curl x4`: the same bytes fetched by 4 parallel curl processes (SigV4-signed GETs, each process
 *   fetching its quarter one after another): the plain-download baseline;
 * - with each, the CPU time (user + system) it used, which a shared machine's load disturbs far
 *   less than the wall time: the tool's own and its children's (pg_dump …), the curl processes' sum;
 * - `first`: the tool's first `backup --storage` (a new root: every file is downloaded), with its
 *   peak RSS (as `deno task backup` runs it);
 * - `second`: the next backup of the unchanged project (nothing should be downloaded).
 *
 * The database part is only the `public` schema, so the times are mostly Storage. Progress goes to
 * stderr; the report (a table, then JSON) to stdout. Not a test.
 *
 *   deno task bench:storage [--files 500] [--mb 200] [--jobs 4]
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { restCreateBucket, s3Put, startProject } from "../tests/support/storage.ts";
import { REPO } from "../tests/support/paths.ts";
import type { Manifest } from "../lib/store/manifest.ts";
import { encodeKey } from "../lib/store/s3.ts";
import { measure } from "./measure.ts";

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

async function main() {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      files: { type: "string", default: "500" },
      mb: { type: "string", default: "200" },
      jobs: { type: "string", default: "4" },
    },
  });
  const files = Number(values.files), mb = Number(values.mb), jobs = Number(values.jobs);
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
    log("timing 4 parallel curl processes");
    const curl = await timed(() =>
      Promise.all(parts.map(async (part, k) => {
        const cfg = join(work, `curl-${k}`);
        await Deno.writeTextFile(
          cfg,
          part.map((f) => `url = "${p.storage.endpoint}/bench/${encodeKey(f.name)}"\noutput = "/dev/null"\n`)
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
    const curlCpuMs = curl.value.reduce((a, b) => a + b, 0);
    /** CPU time of a measured run: the tool's own and its children's (pg_dump …). */
    const cpuOf = (m: { cpuMs: number; childCpuMsByName: Record<string, number> }) =>
      m.cpuMs + Object.values(m.childCpuMsByName).reduce((a, b) => a + b, 0);
    const out = join(work, "out");
    const backup = () =>
      measure(Deno.execPath(), [
        "run",
        "--allow-all",
        "--quiet",
        "--v8-flags=--max-semi-space-size=1",
        join(REPO, "backup.ts"),
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
        cwd: REPO,
        ignoreChildName: "deno",
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
    const storageOf = async () =>
      (JSON.parse(await Deno.readTextFile(join(out, "latest", "manifest.json"))) as Manifest).storage!;
    log("timing the first backup --storage");
    const first = await timed(backup);
    if (first.value.code !== 0) throw new Error(first.value.stderr);
    const s1 = await storageOf();
    log("timing the second backup --storage");
    const second = await timed(backup);
    if (second.value.code !== 0) throw new Error(second.value.stderr);
    const s2 = await storageOf();
    const report = {
      files,
      bytes: list.reduce((a, b) => a + b, 0),
      jobs,
      curlX4Ms: curl.ms,
      curlX4CpuMs: curlCpuMs,
      firstMs: first.ms,
      firstCpuMs: cpuOf(first.value),
      firstDownloadedBytes: s1.downloaded.bytes,
      ratioFirstToCurl: Math.round((first.ms / curl.ms) * 100) / 100,
      firstPeakRssMiB: Math.round(first.value.peakRssKiB / 1024),
      secondMs: second.ms,
      secondCpuMs: cpuOf(second.value),
      secondDownloadedBytes: s2.downloaded.bytes,
      load: Deno.loadavg(),
    };
    console.log(
      [
        `Storage: ${files} files, ${(report.bytes / 1e6).toFixed(0)} MB, --jobs ${jobs}`,
        `  curl x4 (plain GETs)        ${(curl.ms / 1000).toFixed(1)} s, CPU ${
          (curlCpuMs / 1000).toFixed(2)
        } s`,
        `  first backup --storage      ${
          (first.ms / 1000).toFixed(1)
        } s (${report.ratioFirstToCurl}x curl), downloaded ${
          (s1.downloaded.bytes / 1e6).toFixed(1)
        } MB, peak RSS ${report.firstPeakRssMiB} MiB, CPU ${(report.firstCpuMs / 1000).toFixed(2)} s`,
        `  second backup (unchanged)   ${
          (second.ms / 1000).toFixed(1)
        } s, downloaded ${s2.downloaded.bytes} bytes, CPU ${(report.secondCpuMs / 1000).toFixed(2)} s`,
      ].join("\n"),
    );
    console.log(JSON.stringify(report, null, 2));
  } finally {
    await p.stop();
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await main();
