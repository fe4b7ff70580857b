/**
 * `deno task bench:store`: a full backup of the bench database (bench/dataset.ts) into each object
 * store (`--store s3://…`, the real Supabase Storage server's S3 protocol, tests/support/storage.ts;
 * `--store azblob://…`, Azurite, tests/support/azurite.ts) against the same backup written to a
 * local directory (`--out`), then a second backup of the unchanged database into each store: what
 * it uploaded (target: the manifest only).
 *
 * Reports wall times, the peak RSS of the tool's process (VmHWM, read every 20 ms while it runs),
 * the ratio store/local, the bytes and objects each store run wrote (read back from the store's
 * listing: objects modified since the run started), as a table and then JSON on stdout; progress on
 * stderr. Not a test. `--big ROWS` adds one table of ROWS rows (about 150 bytes each: 2,300,000 make
 * a 340 MB table) to the dataset. `--compare DIR` also runs each first store backup with the
 * backup.ts of another checkout DIR (old code against new, in one run: the figures to compare), into
 * its own prefix, before this checkout's.
 *
 *   deno task bench:store [--tables 200] [--mb 50] [--jobs 4] [--only s3|azblob] [--big ROWS] [--compare DIR]
 *
 * `--help` lists the flags; a bad flag or value stops it with one `error:` and one `hint:` line, exit 2.
 * @module
 */
import { planDataset, tableSql } from "./dataset.ts";
import { startCluster } from "../tests/support/cluster.ts";
import { startProject } from "../tests/support/storage.ts";
import { startAzurite } from "../tests/support/azurite.ts";
import { AzblobStore, parseConnectionString } from "../lib/store/azblob.ts";
import { REPO } from "../tests/support/paths.ts";
import { clientBinDir } from "../dev/pgenv.ts";
import { S3_SIDES, S3Client } from "../lib/store/s3.ts";
import { openStore, parseStoreUrl } from "../lib/store/remote.ts";
import type { ObjectStore } from "../lib/store/object.ts";
import { checkoutArg, choiceArg, intArg, parseBenchArgs, runBench } from "./args.ts";

const log = (l: string) => console.error(`bench: ${l}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The process's peak RSS so far (VmHWM) in KiB, or 0 when it is gone. */
async function peakKib(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => "");
  return Number(status.match(/VmHWM:\s+(\d+) kB/)?.[1] ?? 0);
}

/**
 * Runs backup.ts of `repo` (this checkout by default) with the V8 flags of `deno task backup`;
 * returns the wall time, stdout and the peak RSS of its process in MiB.
 */
async function run(
  args: string[],
  env: Record<string, string>,
  repo = REPO,
): Promise<{ ms: number; stdout: string; peakMib: number }> {
  const t = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--quiet",
      "--v8-flags=--max-semi-space-size=1,--heap-growing-percent=25",
      `${repo}/backup.ts`,
      ...args,
    ],
    cwd: repo,
    env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let peak = 0;
  let running = true;
  const watch = (async () => {
    while (running) {
      peak = Math.max(peak, await peakKib(child.pid));
      await sleep(20);
    }
  })();
  const out = await child.output();
  running = false;
  await watch;
  const ms = Math.round(performance.now() - t);
  const dec = new TextDecoder();
  if (out.code !== 0 && out.code !== 3) {
    throw new Error(`backup.ts ${args[0]} failed:\n${dec.decode(out.stderr)}`);
  }
  return { ms, stdout: dec.decode(out.stdout), peakMib: Math.round(peak / 1024) };
}

/** Objects of `store` modified at or after `since`: count and bytes, and their keys' folders. */
async function writtenSince(store: ObjectStore, since: Date) {
  const out = { objects: 0, bytes: 0, keys: [] as string[] };
  for await (const o of store.list("")) {
    if (o.lastModified && o.lastModified >= since) {
      out.objects++;
      out.bytes += o.size;
      out.keys.push(o.key);
    }
  }
  return out;
}

async function dirBytes(dir: string): Promise<number> {
  let n = 0;
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    n += e.isDirectory ? await dirBytes(p) : (await Deno.stat(p)).size;
  }
  return n;
}

const TASK = "bench:store";

/** What `--help` prints. */
export const USAGE = `usage: deno task ${TASK} [options]
  --tables N         tables of the bench database (default 200)
  --mb N             their data, in MB (default 50)
  --jobs N           --jobs of each backup (default 4)
  --only s3|azblob   measure one store only (default: both)
  --big ROWS         add one table of ROWS rows, about 150 bytes each (default: none)
  --compare DIR      also run each first store backup with the backup.ts of the checkout DIR
  --help             this text`;

/** The flags of `bench:store`. */
export interface StoreBenchArgs {
  tables: number;
  mb: number;
  jobs: number;
  kinds: ("s3" | "azblob")[];
  big?: number;
  compare?: string;
}

/** The flags of `bench:store`, as parseArgs takes them. */
export const FLAGS = {
  tables: { type: "string" },
  mb: { type: "string" },
  jobs: { type: "string" },
  only: { type: "string" },
  big: { type: "string" },
  compare: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** The bench's flags (pure): undefined for `--help`. Throws a usage BackupError for a bad flag or value. */
export function parseStoreArgs(argv: string[]): StoreBenchArgs | undefined {
  const values = parseBenchArgs(TASK, argv, FLAGS);
  if (values.help) return undefined;
  return {
    tables: intArg(TASK, "tables", values.tables, 200, 1),
    mb: intArg(TASK, "mb", values.mb, 50, 1),
    jobs: intArg(TASK, "jobs", values.jobs, 4, 1),
    kinds: values.only === undefined
      ? ["s3", "azblob"]
      : [choiceArg(TASK, "only", values.only, ["s3", "azblob"])],
    ...(values.big === undefined ? {} : { big: intArg(TASK, "big", values.big, 0, 1) }),
    ...(values.compare === undefined ? {} : { compare: values.compare }),
  };
}

async function main() {
  const parsed = parseStoreArgs(Deno.args);
  if (!parsed) return console.log(USAGE);
  const args = {
    ...parsed,
    ...(parsed.compare === undefined ? {} : { compare: await checkoutArg(parsed.compare) }),
  };
  const spec = { tables: args.tables, mb: args.mb };
  const kinds = args.kinds;
  log(`starting PostgreSQL 17, ${kinds.join(" and ")}`);
  const cluster = await startCluster(17);
  const project = kinds.includes("s3") ? await startProject() : undefined;
  const azurite = kinds.includes("azblob") ? await startAzurite() : undefined;
  const work = await Deno.makeTempDir({ prefix: "bench-store-" });
  try {
    const db = await cluster.createDatabase("bench");
    const tables = planDataset(spec);
    for (let i = 0; i < tables.length; i += 20) {
      await cluster.sql(tables.slice(i, i + 20).map((t) => tableSql(t, tables)).join("\n"), { db });
    }
    if (args.big) {
      await cluster.sql(
        `create table public.big as select g as id, md5(g::text) as a, repeat(md5((g * 7)::text), 3) as b,
           timestamptz '2026-01-01' + g * interval '1 second' as t from generate_series(1, ${args.big}) g`,
        { db },
      );
    }
    log(
      `loaded ${tables.length} tables (${spec.mb} MB)${args.big ? ` and public.big (${args.big} rows)` : ""}`,
    );
    const stores: { kind: string; url: string; env: Record<string, string> }[] = [];
    if (project) {
      const s = project.storage;
      await new S3Client({ ...s, ...S3_SIDES.source }, { retries: 2 }).createBucket("bench", false);
      stores.push({
        kind: "s3",
        url: "s3://bench/run",
        env: {
          AWS_ACCESS_KEY_ID: s.accessKeyId,
          AWS_SECRET_ACCESS_KEY: s.secretAccessKey,
          AWS_REGION: s.region,
          AWS_ENDPOINT_URL_S3: s.endpoint,
        },
      });
    }
    if (azurite) {
      await new AzblobStore(parseConnectionString(azurite.connectionString), {
        container: "bench",
        prefix: "",
      })
        .createContainer();
      stores.push({
        kind: "azblob",
        url: "azblob://bench/run",
        env: { AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString },
      });
    }
    const env = {
      PATH: "/usr/local/bin:/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/root",
      PG_BIN: clientBinDir(),
      SUPABASE_DB_URL: cluster.url({ db }),
      NO_COLOR: "1",
    };
    const common = ["--yes", "--jobs", String(args.jobs)];
    log("backup --out (local directory)");
    const local = await run(["backup", "--out", `${work}/out`, ...common], env);
    const localBytes = await dirBytes(`${work}/out/latest`);
    const lines = [
      `run                        wall    peak RSS  objects written  bytes written`,
      `backup --out               ${(local.ms / 1000).toFixed(1).padStart(6)} s  ${
        `${local.peakMib} MiB`.padStart(8)
      }  ${"-".padStart(15)}  ${localBytes}`,
    ];
    const report: Record<string, unknown> = {
      tables: tables.length,
      mb: spec.mb,
      ...(args.big ? { bigRows: args.big } : {}),
      local: { ms: local.ms, bytes: localBytes, peakMib: local.peakMib },
    };
    for (const st of stores) {
      const store = await openStore(parseStoreUrl(st.url, "bench"), { env: st.env, retries: 2 });
      const label = (n: number | string) => `backup --store ${st.kind} #${n}`.padEnd(25);
      if (args.compare) {
        log(`backup --store ${st.url}-compare with ${args.compare}`);
        const other = await run(
          ["backup", "--store", `${st.url}-compare`, ...common],
          { ...env, ...st.env },
          args.compare,
        );
        report[`${st.kind}Compare`] = { ms: other.ms, peakMib: other.peakMib };
        lines.push(
          `${label("1 (--compare)")}  ${(other.ms / 1000).toFixed(1).padStart(6)} s  ${
            `${other.peakMib} MiB`.padStart(8)
          }`,
        );
      }
      const t1 = new Date();
      log(`backup --store ${st.url} (first)`);
      const first = await run(["backup", "--store", st.url, ...common], { ...env, ...st.env });
      const up1 = await writtenSince(store, t1);
      await sleep(1100); // one-second LastModified resolution on some services
      const t2 = new Date();
      log(`backup --store ${st.url} (second, unchanged)`);
      const second = await run(["backup", "--store", st.url, ...common], { ...env, ...st.env });
      const up2 = await writtenSince(store, t2);
      const ratio = Number((first.ms / local.ms).toFixed(2));
      report[st.kind] = {
        first: { ms: first.ms, objects: up1.objects, bytes: up1.bytes, peakMib: first.peakMib },
        second: {
          ms: second.ms,
          objects: up2.objects,
          bytes: up2.bytes,
          keys: up2.keys,
          peakMib: second.peakMib,
        },
        ratio,
      };
      const mib = (n: number) => `${n} MiB`.padStart(8);
      lines.push(
        `${label(1)}  ${(first.ms / 1000).toFixed(1).padStart(6)} s  ${mib(first.peakMib)}  ${
          String(up1.objects).padStart(15)
        }  ${up1.bytes}`,
        `${label(2)}  ${(second.ms / 1000).toFixed(1).padStart(6)} s  ${mib(second.peakMib)}  ${
          String(up2.objects).padStart(15)
        }  ${up2.bytes}  (${up2.keys.join(", ")})`,
        `${st.kind} store/local ratio (first run): ${ratio}`,
      );
    }
    console.log(lines.join("\n"));
    console.log(JSON.stringify(report, null, 2));
  } finally {
    await project?.stop();
    await azurite?.stop();
    await cluster.stop();
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await runBench(main);
