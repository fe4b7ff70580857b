/**
 * Faults during a backup, on a real PostgreSQL 17 and real pg_dump: a dropped connection, a
 * terminated backend, a stopped server, a full disk, a crashing pg_dump, SIGINT and SIGTERM. Each
 * must fail with a message naming the cause, leave the previous latest/ byte-identical, and leave
 * no staging or temp directory (nor any pg_dump process) behind. A server that refuses connections
 * for a few seconds is retried, and the retries are logged. During a restore, a psql or pg_restore
 * killed by SIGKILL (as the OOM killer does) fails the restore, naming the program and the signal.
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { createHash } from "node:crypto";
import { type Cluster, startCluster } from "./support/cluster.ts";
import { listFiles, PLAIN_PATH, runCli } from "./support/cli.ts";
import { REPO } from "./support/paths.ts";
import { startProxy } from "./support/proxy.ts";
import { waitForDump } from "./support/psql.ts";
import { tallied, tallyOf } from "./support/tally.ts";
import { findPgTools } from "../lib/pg/tools.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One cluster for the file: a small database and one big enough for a dump to take seconds. */
let cluster: Cluster | undefined;
let smallDb = "";
let bigDb = "";

async function setup(): Promise<Cluster> {
  if (cluster) return cluster;
  cluster = await startCluster(17);
  smallDb = await cluster.createDatabase();
  await cluster.sql(
    `create table public.notes(id int primary key, body text);
     insert into public.notes select g, 'note ' || g from generate_series(1, 100) g;`,
    { db: smallDb },
  );
  bigDb = await cluster.createDatabase();
  // ~1.5M rows over 3 tables (~150 MB of COPY text): pg_dump needs a few seconds.
  await cluster.sql(
    `create table public.events(id bigint primary key, kind text, payload text, at timestamptz);
     insert into public.events
       select g, 'kind' || (g % 17), md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text), now()
       from generate_series(1, 1000000) g;
     create table public.logs as select g as id, repeat(md5(g::text), 3) as line from generate_series(1, 500000) g;
     create table public.small(id int);`,
    { db: bigDb },
  );
  return cluster;
}

async function treeHash(dir: string): Promise<string> {
  const h = createHash("sha256");
  for (const f of await listFiles(dir)) {
    const st = await Deno.stat(`${dir}/${f}`);
    h.update(`${f}\0${st.mode! & 0o777}\0`);
    h.update(await Deno.readFile(`${dir}/${f}`));
  }
  return h.digest("hex");
}

/** A backup root and a private TMPDIR for one case. */
async function workspace(): Promise<{ root: string; tmp: string; base: string }> {
  const base = await Deno.makeTempDir({ prefix: "faults-" });
  await Deno.mkdir(`${base}/tmp`);
  return { root: `${base}/backups`, tmp: `${base}/tmp`, base };
}

/** Runs a good backup of the small database into `root` and returns the hash of latest/. */
async function baseline(root: string, tmp: string): Promise<string> {
  const c = await setup();
  const r = await runCli(["backup", "--db-url", c.url({ db: smallDb }), "--out", root], { TMPDIR: tmp });
  assertEquals(r.code, 0, `baseline backup failed:\n${r.stderr}`);
  return await treeHash(`${root}/latest`);
}

async function pgDumpPids(port: number): Promise<number[]> {
  const pids: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmd = (await Deno.readTextFile(`/proc/${e.name}/cmdline`)).split("\0");
      const exe = cmd[0].split("/").pop() ?? "";
      if (/^pg_(dump|dumpall|restore)$/.test(exe) && cmd.join(" ").includes(`${port}`)) {
        pids.push(Number(e.name));
      } else if (
        /^pg_(dump|dumpall|restore)$/.test(exe) && (await envOf(e.name)).includes(`PGPORT=${port}`)
      ) {
        pids.push(Number(e.name));
      }
    } catch {
      // gone
    }
  }
  return pids;
}

async function envOf(pid: string): Promise<string> {
  try {
    return await Deno.readTextFile(`/proc/${pid}/environ`);
  } catch {
    return "";
  }
}

/** The checks every failed run must pass. */
async function assertCleanFailure(
  r: { code: number; stderr: string; stdout: string },
  ws: { root: string; tmp: string },
  before: string,
  cause: RegExp,
  port: number,
): Promise<void> {
  const out = `exit ${r.code}\nstderr:\n${r.stderr}\nstdout:\n${r.stdout}`;
  ok(r.code !== 0, `must fail: ${out}`);
  ok(cause.test(r.stderr), `the message names the cause (${cause}): ${out}`);
  ok(!/^\s+at |Stack backtrace/m.test(r.stderr), `no stack trace: ${out}`);
  assertEquals(await treeHash(`${ws.root}/latest`), before, "latest/ is unchanged");
  const leftover: string[] = [];
  for await (const e of Deno.readDir(ws.root)) if (e.name.startsWith(".staging-")) leftover.push(e.name);
  for await (const e of Deno.readDir(ws.tmp)) {
    if (e.name.startsWith("supabase-backup-")) leftover.push(e.name);
  }
  assertEquals(leftover, [], "no staging or temp directories left");
  assertEquals(await pgDumpPids(port), [], "no pg_dump left running");
}

Deno.test("fault: connection dropped mid-dump (proxy cut)", async () => {
  await tallied("faults", async () => {
    const c = await setup();
    const ws = await workspace();
    const proxy = startProxy(c.port);
    try {
      const before = await baseline(ws.root, ws.tmp);
      const url = c.url({ db: bigDb }).replace(`:${c.port}/`, `:${proxy.port}/`);
      const run = runCli(["backup", "--db-url", url, "--out", ws.root, "--retries", "0"], { TMPDIR: ws.tmp });
      await waitForDump(c, bigDb);
      await sleep(300);
      proxy.refuse = true;
      proxy.cutAll();
      const r = await run;
      await assertCleanFailure(r, ws, before, /connection|server closed|terminat|lost/i, proxy.port);
    } finally {
      await proxy.close();
      await Deno.remove(ws.base, { recursive: true });
    }
  });
});

Deno.test("fault: pg_dump backends terminated (pg_terminate_backend)", async () => {
  await tallied("faults", async () => {
    const c = await setup();
    const ws = await workspace();
    try {
      const before = await baseline(ws.root, ws.tmp);
      const run = runCli(["backup", "--db-url", c.url({ db: bigDb }), "--out", ws.root], { TMPDIR: ws.tmp });
      await waitForDump(c, bigDb);
      await c.sql(
        `select pg_terminate_backend(pid) from pg_stat_activity where datname = '${bigDb}' and query ilike 'copy %to stdout%'`,
      );
      const r = await run;
      await assertCleanFailure(r, ws, before, /pg_dump[\s\S]*(terminat|connection|administrator)/i, c.port);
    } finally {
      await Deno.remove(ws.base, { recursive: true });
    }
  });
});

Deno.test("fault: server stopped mid-run", async () => {
  await tallied("faults", async () => {
    const c = await setup();
    const ws = await workspace();
    try {
      const before = await baseline(ws.root, ws.tmp);
      const run = runCli(["backup", "--db-url", c.url({ db: bigDb }), "--out", ws.root, "--retries", "0"], {
        TMPDIR: ws.tmp,
      });
      await waitForDump(c, bigDb);
      await c.stopServer();
      const r = await run;
      await c.startServer();
      await assertCleanFailure(r, ws, before, /connection|terminat|shut ?down|server closed|lost/i, c.port);
    } finally {
      await c.startServer().catch(() => {});
      await Deno.remove(ws.base, { recursive: true });
    }
  });
});

Deno.test("fault: disk full (2 MB tmpfs as --out)", async () => {
  await tallied("faults", async () => {
    const c = await setup();
    ok(Deno.uid() === 0, "this case mounts a tmpfs and must run as root");
    const ws = await workspace();
    const mnt = `${ws.base}/small-disk`;
    await Deno.mkdir(mnt);
    const mount = await new Deno.Command("mount", { args: ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt] })
      .output();
    assertEquals(mount.code, 0, `mount failed: ${new TextDecoder().decode(mount.stderr)}`);
    try {
      const root = `${mnt}/backups`;
      const before = await baseline(root, ws.tmp);
      const r = await runCli(["backup", "--db-url", c.url({ db: bigDb }), "--out", root], { TMPDIR: ws.tmp });
      await assertCleanFailure(r, { root, tmp: ws.tmp }, before, /no space left|disk|space/i, c.port);
    } finally {
      await new Deno.Command("umount", { args: [mnt] }).output();
      await Deno.remove(ws.base, { recursive: true });
    }
  });
});

Deno.test("fault: pg_dump crashes with SIGSEGV", async () => {
  await tallied("faults", async () => {
    const c = await setup();
    const ws = await workspace();
    try {
      const tools = await findPgTools({ minMajor: 17, cwd: REPO });
      const bin = `${ws.base}/pgbin`;
      await Deno.mkdir(bin);
      for (const t of ["pg_dumpall", "pg_restore", "psql"] as const) {
        await Deno.symlink(tools.path(t), `${bin}/${t}`);
      }
      await Deno.writeTextFile(
        `${bin}/pg_dump`,
        `#!/bin/sh\nif [ "$1" = "--version" ] || [ "$1" = "-V" ]; then exec '${
          tools.path("pg_dump")
        }' "$@"; fi\nkill -SEGV $$\n`,
        { mode: 0o755 },
      );
      const before = await baseline(ws.root, ws.tmp);
      const r = await runCli([
        "backup",
        "--db-url",
        c.url({ db: smallDb }),
        "--out",
        ws.root,
        "--pg-bin",
        bin,
      ], {
        TMPDIR: ws.tmp,
      });
      await assertCleanFailure(
        r,
        ws,
        before,
        /pg_dump.*(signal|SIGSEGV|crash|exit 139|segmentation)/i,
        c.port,
      );
    } finally {
      await Deno.remove(ws.base, { recursive: true });
    }
  });
});

for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
  Deno.test(`fault: ${signal} to the tool mid-dump`, async () => {
    await tallied("faults", async () => {
      const c = await setup();
      const ws = await workspace();
      try {
        const before = await baseline(ws.root, ws.tmp);
        const child = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "--allow-all",
            "--quiet",
            `${REPO}/backup.ts`,
            "backup",
            "--db-url",
            c.url({ db: bigDb }),
          ],
          cwd: REPO,
          clearEnv: true,
          env: {
            PATH: PLAIN_PATH,
            HOME: Deno.env.get("HOME") ?? "/root",
            TMPDIR: ws.tmp,
            DENO_DIR: Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME") ?? "/root"}/.cache/deno`,
            NO_COLOR: "1",
            BACKUP_DIR: ws.root,
          },
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        await waitForDump(c, bigDb);
        child.kill(signal);
        const out = await child.output();
        const r = {
          code: out.code,
          stdout: new TextDecoder().decode(out.stdout),
          stderr: new TextDecoder().decode(out.stderr),
        };
        assertEquals(r.code, code, `exit ${code} expected:\n${r.stderr}`);
        await assertCleanFailure(r, ws, before, new RegExp(`interrupted by ${signal}`), c.port);
      } finally {
        await Deno.remove(ws.base, { recursive: true });
      }
    });
  });
}

Deno.test("transient: refused connections for 3 s are retried and the backup succeeds", async () => {
  await tallied("faults", async () => {
    const c = await setup();
    const ws = await workspace();
    const proxy = startProxy(c.port);
    // for 3 s from the CLI's first connection, however long it takes to start (a timer started
    // with the test ran out before a CLI slow to start under load had connected)
    proxy.refuseFor(3000);
    try {
      const url = c.url({ db: smallDb }).replace(`:${c.port}/`, `:${proxy.port}/`);
      const r = await runCli(["backup", "--db-url", url, "--out", ws.root, "--retries", "6"], {
        TMPDIR: ws.tmp,
      });
      assertEquals(r.code, 0, `backup after refusals failed:\n${r.stderr}`);
      ok(proxy.refused > 0, "connections were refused");
      ok(/retry 1\/6: connecting to /.test(r.stderr), `retries are logged:\n${r.stderr}`);
      ok(proxy.accepted > proxy.refused, "then the backup went through the proxy");
      const m = JSON.parse(await Deno.readTextFile(`${ws.root}/latest/manifest.json`));
      const notes = m.schemas.flatMap((s: { tables: { name: string; rows: number }[] }) => s.tables)
        .find((t: { name: string }) => t.name === "notes");
      assertEquals(notes?.rows, 100);
    } finally {
      await proxy.close();
      await Deno.remove(ws.base, { recursive: true });
    }
  });
});

/** A backup of the big database, made once for the restore cases. */
let bigBackup: string | undefined;

async function backupOfBig(): Promise<string> {
  if (bigBackup) return bigBackup;
  const c = await setup();
  const root = await Deno.makeTempDir({ prefix: "faults-big-" });
  const r = await runCli(["backup", "--db-url", c.url({ db: bigDb }), "--out", root]);
  assertEquals(r.code, 0, `backup of the big database failed:\n${r.stderr}`);
  bigBackup = root;
  return root;
}

/**
 * Pids of `program` processes of one restore: connected to database `db` (libpq environment) or
 * reading a dump under `root`.
 */
async function toolPids(program: string, db: string, root: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmd = (await Deno.readTextFile(`/proc/${e.name}/cmdline`)).split("\0");
      const env = (await envOf(e.name)).split("\0");
      if (
        cmd[0].split("/").pop() === program &&
        (env.includes(`PGDATABASE=${db}`) || cmd.some((a) => a.startsWith(`${root}/`)))
      ) {
        pids.push(Number(e.name));
      }
    } catch {
      // gone
    }
  }
  return pids;
}

/** A PostgreSQL 15 cluster for the restore case whose data streams through pg_restore into psql. */
let cluster15: Cluster | undefined;

for (
  const [program, major, args, how] of [
    ["psql", 17, ["--table", "public.events"], "one table: its data.sql streams into psql"],
    ["pg_restore", 17, [], "a whole backup into a server 17: the data goes through pg_restore directly"],
    ["pg_restore", 15, [], "into a server 15: pg_restore's script streams into psql, which must not commit"],
  ] as const
) {
  Deno.test(`fault: ${program} killed by SIGKILL during a restore (${how})`, async () => {
    await tallied("faults", async () => {
      const root = await backupOfBig();
      const c = major === 17 ? await setup() : (cluster15 ??= await startCluster(15));
      const db = await c.createDatabase();
      const run = runCli(["restore", "--out", root, "--target-url", c.url({ db }), "--jobs", "1", ...args]);
      const until = Date.now() + 60_000;
      let killed: number[] = [];
      while (killed.length === 0 && Date.now() < until) {
        const copying = await c.sql(
          `select count(*) from pg_stat_activity where datname = '${db}' and query ilike 'copy %from stdin%'`,
        );
        if (Number(copying.trim()) > 0) {
          killed = await toolPids(program, db, root);
          for (const pid of killed) Deno.kill(pid, "SIGKILL");
        } else await sleep(20);
      }
      ok(killed.length > 0, `${program} was never seen loading rows`);
      const r = await run;
      const out = `exit ${r.code}\nstderr:\n${r.stderr}`;
      assertEquals(r.code, 1, out);
      ok(new RegExp(`^error: .*${program} was killed by SIGKILL`, "m").test(r.stderr), out);
      ok(/^hint: .*(memory|OOM)/m.test(r.stderr), out);
      ok(!/^\s+at |Stack backtrace/m.test(r.stderr), `no stack trace: ${out}`);
      // The whole restore is one transaction: nothing of it is in the target, not even the table.
      assertEquals((await c.sql("select to_regclass('public.events') is null", { db })).trim(), "t");
    });
  });
}

/** Changes latest/manifest.json of `root` with `edit`. */
async function editLatest(root: string, edit: (m: Record<string, unknown>) => void): Promise<void> {
  const m = JSON.parse(await Deno.readTextFile(`${root}/latest/manifest.json`));
  edit(m);
  await Deno.writeTextFile(`${root}/latest/manifest.json`, JSON.stringify(m, null, 2));
}

/** The createdAt of each archive of `root`, by folder name. */
async function archived(root: string): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  for await (const e of Deno.readDir(`${root}/archive`)) {
    out.set(e.name, JSON.parse(await Deno.readTextFile(`${root}/archive/${e.name}/manifest.json`)).createdAt);
  }
  return out;
}

Deno.test("fault: odd manifests in latest/ (createdAt in the future, a field of the wrong type)", async () => {
  const c = await setup();
  const ws = await workspace();
  const backup = async () => {
    const r = await runCli(["backup", "--db-url", c.url({ db: smallDb }), "--out", ws.root, "--json"], {
      TMPDIR: ws.tmp,
    });
    assertEquals(r.code, 0, `backup failed:\n${r.stderr}`);
    const latest = JSON.parse(await Deno.readTextFile(`${ws.root}/latest/manifest.json`));
    // the new backup is latest/, whatever the old manifest said
    ok(Math.abs(Date.parse(latest.createdAt) - Date.now()) < 120_000, latest.createdAt);
    // each warning on stderr is in the summary too
    const [summary] = JSON.parse(r.stdout);
    const warned = r.stderr.split("\n").filter((l) => l.startsWith("warning: ")).map((l) => l.slice(9));
    assertEquals(summary.warnings, warned);
    return r.stderr;
  };
  try {
    await baseline(ws.root, ws.tmp);
    await tallied("faults", async () => {
      await editLatest(ws.root, (m) => (m.createdAt = "2099-01-01T00:00:00.000Z"));
      const stderr = await backup();
      ok(/createdAt "2099-01-01T00:00:00.000Z" is in the future/.test(stderr), stderr);
      const [[name, createdAt]] = [...await archived(ws.root)];
      assertEquals(createdAt, "2099-01-01T00:00:00.000Z");
      ok(name < "2099" && name.includes("--local--"), `archived by its folder's time: ${name}`);
      await backup(); // and the next one too
      assertEquals((await archived(ws.root)).size, 2);
    });
    await tallied("faults", async () => {
      await editLatest(ws.root, (m) => ((m.source as Record<string, unknown>).repo = 5));
      const before = await treeHash(`${ws.root}/latest`);
      const stderr = await backup();
      ok(/no readable manifest \(.*manifest field source\.repo must be a string\)/.test(stderr), stderr);
      ok(stderr.includes(`${ws.root}/latest/manifest.json`), `the warning names the manifest: ${stderr}`);
      const odd = [...(await archived(ws.root)).keys()].filter((n) => n.includes("--unknown--unknown--"));
      assertEquals(odd.length, 1, "archived under a name from its folder's time");
      assertEquals(await treeHash(`${ws.root}/archive/${odd[0]}`), before, "archived as it was");
      const leftover = [...Deno.readDirSync(ws.root)].map((e) => e.name).filter((n) => n.startsWith("."));
      assertEquals(leftover, [], "no staging left");
    });
  } finally {
    await Deno.remove(ws.base, { recursive: true });
  }
});

Deno.test("faults: every case ran", async () => {
  const t = tallyOf("faults");
  assertEquals(t.total, 13);
  if (bigBackup) await Deno.remove(bigBackup, { recursive: true });
  await cluster15?.stop();
  await cluster?.stop();
});
