/**
 * Ephemeral PostgreSQL clusters for tests: a fresh data directory in a temp dir, superuser
 * `supabase_admin` with a random password (scram-sha-256), listening on 127.0.0.1 only, on a free
 * port, with its unix socket in the temp dir. Servers come from `deno task setup` (see
 * `dev/pgenv.ts`); when one is missing, {@link startCluster} throws, so tests fail rather than skip.
 *
 * As root, the server runs as the unprivileged system user `pgtest` (created when missing). A
 * watchdog process stops the server and removes the temp dir when the test process goes away, so a
 * test that forgets {@link Cluster.stop} leaves nothing behind.
 * @module
 */
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { clientBinDir, serverBinDir, type ServerMajor } from "../../dev/pgenv.ts";
import { outputFed } from "./feed.ts";

/** The superuser every test cluster has (as on Supabase). */
export const SUPERUSER = "supabase_admin";

/** The unprivileged system user the server runs as when the tests run as root. */
export const SERVER_OS_USER = "pgtest";

/** A running (or stopped, see {@link Cluster.stopServer}) test cluster. */
export interface Cluster {
  major: ServerMajor;
  port: number;
  host: "127.0.0.1";
  dataDir: string;
  superuser: "supabase_admin";
  superPassword: string;
  /**
   * A `postgresql://` URL (user, password and database percent-encoded). Defaults: database
   * `postgres`, user `supabase_admin` with its password; another user gets no password unless given.
   */
  url(opts?: { db?: string; user?: string; password?: string }): string;
  /**
   * Runs SQL (one or more statements, as a psql script) as the superuser with psql 17 and returns
   * its stdout (unaligned, tuples only: `select 1` gives `"1\n"`). Throws an Error holding psql's
   * stderr when a statement fails.
   */
  sql(query: string, opts?: { db?: string }): Promise<string>;
  /** Creates a database (a unique name when none is given) and returns its name. */
  createDatabase(name?: string): Promise<string>;
  /** Stops the server (fast shutdown), keeping the data. Throws when pg_ctl fails. */
  stopServer(): Promise<void>;
  /** Starts the server again on the same port. Throws with the server log's tail when it fails. */
  startServer(): Promise<void>;
  /** Stops the server and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** Whether the tests run as root (then the server runs as {@link SERVER_OS_USER}). */
function asRoot(): boolean {
  return Deno.uid() === 0;
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function exec(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; stdin?: string } = {},
): Promise<RunResult> {
  const child = new Deno.Command(cmd, {
    args,
    env: opts.env,
    stdin: opts.stdin !== undefined ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = await outputFed(child, opts.stdin);
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs a server program, as {@link SERVER_OS_USER} when root. */
function serverExec(prog: string, args: string[]): Promise<RunResult> {
  return asRoot() ? exec("runuser", ["-u", SERVER_OS_USER, "--", prog, ...args]) : exec(prog, args);
}

async function fileExists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

async function ensureOsUser(): Promise<void> {
  if ((await exec("id", ["-u", SERVER_OS_USER])).code === 0) return;
  const r = await exec("useradd", [
    "--system",
    "--no-create-home",
    "--shell",
    "/usr/sbin/nologin",
    SERVER_OS_USER,
  ]);
  // Another test process may have created it at the same moment.
  if (r.code !== 0 && (await exec("id", ["-u", SERVER_OS_USER])).code !== 0) {
    throw new Error(
      `cannot create the system user ${SERVER_OS_USER} for the test server: ${r.stderr.trim()}`,
    );
  }
}

/** A port that was free on 127.0.0.1 a moment ago. */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Percent-encodes a URL component, including the characters encodeURIComponent leaves alone. */
function enc(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Quotes an SQL identifier. */
function ident(s: string): string {
  return `"${s.replaceAll('"', '""')}"`;
}

let dbCounter = 0;

/** Extra settings of a cluster (for one built like a Supabase project, see tests/support/storage.ts). */
export interface ClusterOptions {
  /** initdb arguments added after the defaults (later ones win, e.g. `--auth-local=trust`). */
  initdb?: string[];
  /** Server settings added to the defaults, as `name=value`. */
  settings?: string[];
}

/**
 * Starts a fresh cluster of the given major version (see the module doc), with a `postgres` role
 * already present (NOLOGIN until a fixture configures it; every Supabase cluster has it). Throws when
 * the server or client programs are missing ("run `deno task setup`") or the server does not start.
 */
export async function startCluster(major: ServerMajor, options: ClusterOptions = {}): Promise<Cluster> {
  const bin = serverBinDir(major);
  const psql = join(clientBinDir(), "psql");
  for (const p of [join(bin, "initdb"), join(bin, "pg_ctl"), join(bin, "postgres"), psql]) {
    if (!(await fileExists(p))) {
      throw new Error(
        `${p} is missing: run \`deno task setup\` to provision PostgreSQL ${major} for the tests`,
      );
    }
  }
  if (asRoot()) await ensureOsUser();

  const base = await Deno.makeTempDir({ prefix: `sb-pg${major}-` });
  const dataDir = join(base, "data");
  const logFile = join(base, "server.log");
  const superPassword = `Su-${randomBytes(12).toString("hex")}`;
  const pwFile = join(base, "pw");
  await Deno.writeTextFile(pwFile, superPassword + "\n");
  if (asRoot()) {
    const r = await exec("chown", ["-R", `${SERVER_OS_USER}:`, base]);
    if (r.code !== 0) throw new Error(`chown ${base}: ${r.stderr.trim()}`);
  }
  await startWatchdog(base, dataDir);

  const init = await serverExec(join(bin, "initdb"), [
    "-D",
    dataDir,
    "-U",
    SUPERUSER,
    `--pwfile=${pwFile}`,
    "-A",
    "scram-sha-256",
    "-E",
    "UTF8",
    "--locale=C",
    "--no-sync",
    ...(options.initdb ?? []),
  ]);
  await Deno.remove(pwFile).catch(() => {});
  if (init.code !== 0) {
    await Deno.remove(base, { recursive: true }).catch(() => {});
    throw new Error(`initdb (PostgreSQL ${major}) failed:\n${init.stderr.trim() || init.stdout.trim()}`);
  }

  let port = 0;
  let running = false;
  let removed = false;

  const startServer = async (): Promise<void> => {
    const opts = [
      `-c listen_addresses=127.0.0.1`,
      `-c port=${port}`,
      `-c unix_socket_directories=${base}`,
      "-c max_connections=100",
      "-c fsync=off",
      "-c synchronous_commit=off",
      "-c full_page_writes=off",
      "-c shared_buffers=32MB",
      ...(options.settings ?? []).map((kv) => `-c ${kv}`),
    ].join(" ");
    const r = await serverExec(join(bin, "pg_ctl"), [
      "start",
      "-w",
      "-t",
      "60",
      "-D",
      dataDir,
      "-l",
      logFile,
      "-o",
      opts,
    ]);
    if (r.code !== 0) {
      const log = await Deno.readTextFile(logFile).catch(() => "");
      throw new Error(
        `pg_ctl start (PostgreSQL ${major}, port ${port}) failed:\n${tail(r.stderr + "\n" + log, 15)}`,
      );
    }
    running = true;
  };
  const stopServer = async (): Promise<void> => {
    const r = await serverExec(join(bin, "pg_ctl"), ["stop", "-w", "-m", "fast", "-D", dataDir]);
    if (r.code !== 0) throw new Error(`pg_ctl stop (PostgreSQL ${major}) failed:\n${tail(r.stderr, 10)}`);
    running = false;
  };

  // A port can be taken between choosing and binding (tests run in parallel): retry a few times.
  for (let attempt = 1;; attempt++) {
    port = freePort();
    try {
      await startServer();
      break;
    } catch (e) {
      const log = await Deno.readTextFile(logFile).catch(() => "");
      if (
        attempt >= 5 ||
        !/could not bind|Address already in use|could not create any TCP\/IP sockets/i.test(log)
      ) {
        await Deno.remove(base, { recursive: true }).catch(() => {});
        throw e;
      }
    }
  }

  const url = (opts: { db?: string; user?: string; password?: string } = {}): string => {
    const user = opts.user ?? SUPERUSER;
    const password = opts.password ?? (user === SUPERUSER ? superPassword : undefined);
    const auth = password !== undefined ? `${enc(user)}:${enc(password)}` : enc(user);
    return `postgresql://${auth}@127.0.0.1:${port}/${enc(opts.db ?? "postgres")}`;
  };

  const sql = async (query: string, opts: { db?: string } = {}): Promise<string> => {
    const db = opts.db ?? "postgres";
    const r = await exec(psql, [
      "-X",
      "-q",
      "-A",
      "-t",
      "-v",
      "ON_ERROR_STOP=1",
      "-d",
      url({ db, password: "" }),
      "-f",
      "-",
    ], {
      stdin: query,
      env: { PGPASSWORD: superPassword, PGCONNECT_TIMEOUT: "10", PGAPPNAME: "test-sql" },
    });
    if (r.code !== 0) {
      const short = query.length > 200 ? `${query.slice(0, 200)}…` : query;
      throw new Error(
        `SQL failed on database ${db} (PostgreSQL ${major}): ${r.stderr.trim()}\nquery: ${short}`,
      );
    }
    return r.stdout;
  };

  const cluster: Cluster = {
    major,
    get port() {
      return port;
    },
    host: "127.0.0.1",
    dataDir,
    superuser: SUPERUSER,
    superPassword,
    url,
    sql,
    async createDatabase(name?: string): Promise<string> {
      const db = name ?? `db_${Deno.pid}_${++dbCounter}_${randomBytes(3).toString("hex")}`;
      await sql(`create database ${ident(db)}`);
      return db;
    },
    stopServer,
    startServer,
    async stop(): Promise<void> {
      if (removed) return;
      removed = true;
      if (running) await stopServer().catch(() => {});
      await Deno.remove(base, { recursive: true }).catch(() => {});
    },
  };
  syncStops.set(cluster, () => {
    if (removed) return;
    removed = true;
    const args = ["stop", "-w", "-m", "immediate", "-D", dataDir];
    try {
      const cmd = asRoot()
        ? new Deno.Command("runuser", {
          args: ["-u", SERVER_OS_USER, "--", join(bin, "pg_ctl"), ...args],
          stdout: "null",
          stderr: "null",
        })
        : new Deno.Command(join(bin, "pg_ctl"), { args, stdout: "null", stderr: "null" });
      if (running) cmd.outputSync();
      Deno.removeSync(base, { recursive: true });
    } catch {
      // the watchdog cleans up
    }
  });
  await sql(
    `do $$ begin if not exists (select from pg_roles where rolname = 'postgres') then create role postgres; end if; end $$;`,
  );
  return cluster;
}

function tail(text: string, n: number): string {
  return text.trim().split("\n").slice(-n).join("\n");
}

/**
 * Starts a detached shell that waits for this test process to end, then stops the server
 * (immediate shutdown) and removes `base`. It does nothing if `base` is already gone.
 */
async function startWatchdog(base: string, dataDir: string): Promise<void> {
  const script = `
    while kill -0 ${Deno.pid} 2>/dev/null; do sleep 1; done
    if [ -f '${dataDir}/postmaster.pid' ]; then
      kill -QUIT "$(head -n 1 '${dataDir}/postmaster.pid')" 2>/dev/null
      for i in 1 2 3 4 5 6 7 8 9 10; do [ -f '${dataDir}/postmaster.pid' ] || break; sleep 0.5; done
    fi
    rm -rf '${base}'`;
  const r = await exec("sh", ["-c", `nohup sh -c "$1" >/dev/null 2>&1 </dev/null &`, "sh", script]);
  if (r.code !== 0) throw new Error(`cannot start the cluster watchdog: ${r.stderr.trim()}`);
}

/** Synchronous immediate stops, for the unload handler. */
const syncStops = new Map<Cluster, () => void>();
const shared = new Map<ServerMajor, Promise<Cluster>>();
const sharedStarted = new Set<Cluster>();
globalThis.addEventListener("unload", () => {
  for (const c of sharedStarted) syncStops.get(c)?.();
});

/**
 * One cluster per major version for the whole test process (started on first use). It is stopped
 * when the process unloads (and by its watchdog in any case). Throws like {@link startCluster}.
 */
export function sharedCluster(major: ServerMajor): Promise<Cluster> {
  let p = shared.get(major);
  if (!p) {
    p = startCluster(major);
    shared.set(major, p);
    p.then((c) => sharedStarted.add(c), () => shared.delete(major));
  }
  return p;
}
