/**
 * Supabase projects with Storage for tests: a PostgreSQL 17 cluster built like a new hosted project
 * from `../shared/supabase-project/` (its `apply.sh` replays Supabase's own migrations, about 6 to 15
 * seconds), one database per project cloned from it, and the real Supabase Storage server (built by
 * `deno task setup`, see `dev/storageenv.ts`) over each project's database, with its file backend
 * in a temp dir, on free ports, with random S3 keys and a service-role JWT.
 *
 * {@link projectCluster} gives one cluster per test file; {@link startProject} adds a project to
 * it. Servers are stopped by {@link StorageProject.stop}, when the test process unloads, and by a
 * watchdog if the process dies. A missing server build or project SQL makes the test fail (never
 * skip), naming `deno task setup`.
 * @module
 */
import { createHash, createHmac, randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { clientBinDir } from "../../dev/pgenv.ts";
import { storageDir, storageEntry, storageNode, storageProvisioned } from "../../dev/storageenv.ts";
import { type Cluster, startCluster } from "./cluster.ts";
import { REPO } from "./paths.ts";

/** The folder holding Supabase's migrations for a new project (`sql/`, `parity/`, `apply.sh`). */
export const SUPABASE_PROJECT = join(REPO, "..", "shared", "supabase-project");

/** The password every project's `postgres`, `supabase_admin` and `supabase_storage_admin` get. */
export const PROJECT_PASSWORD = "pr0j:p@ss/w%rd";

/** A running Storage server. */
export interface StorageServer {
  /** `http://127.0.0.1:<port>`: the REST API (`/bucket`, `/object/…`). */
  url: string;
  /** The S3 protocol endpoint, `<url>/s3`. */
  endpoint: string;
  region: "local";
  accessKeyId: string;
  secretAccessKey: string;
  /** A service-role JWT for the REST API. */
  serviceKey: string;
  /** A JWT of an authenticated user `sub` (uploads through it get that owner). */
  userKey(sub: string): string;
  /** The file backend's directory. */
  filesDir: string;
  /** Stops the server (it can be started again). */
  stopServer(): Promise<void>;
  /** Starts it again on the same ports. */
  startServer(): Promise<void>;
  /** The server's process id (0 while it is stopped): the benchmark reads its CPU time. */
  pid(): number;
}

/** A Supabase project: a database built from Supabase's migrations, and its Storage server. */
export interface StorageProject {
  cluster: Cluster;
  db: string;
  /** The project's database as `postgres` (not a superuser, as on the platform). */
  dbUrl: string;
  storage: StorageServer;
  /** Stops the server, drops the database and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function exec(cmd: string, args: string[], env?: Record<string, string>): Promise<RunResult> {
  const out = await new Deno.Command(cmd, { args, env, stdin: "null", stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

function sqlLiteral(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/**
 * Starts a PostgreSQL 17 cluster like a new hosted project (ICU locale, logical WAL,
 * pg_stat_statements; `postgres` demoted by Supabase's own migration) by running
 * `../shared/supabase-project/apply.sh` on its `postgres` database, which then serves as the
 * template of every project. With `older`, it is a project created a year or more ago, as the
 * supabase-project README's recipe builds it: Storage files 3026–3043 run (their ignore marker removed),
 * Storage files from 3052 and Auth files from 2060 left out, so it still has `storage.prefixes` and
 * lacks columns added since. Throws when the project SQL is missing or a migration fails.
 */
export async function startProjectCluster(opts: { older?: boolean } = {}): Promise<Cluster> {
  const apply = join(SUPABASE_PROJECT, "apply.sh");
  try {
    await Deno.stat(apply);
  } catch {
    throw new Error(
      `${apply} is missing: the Storage tests need ../shared/supabase-project next to the checkout`,
    );
  }
  const cluster = await startCluster(17, {
    initdb: [
      "--auth-local=trust",
      "--auth-host=scram-sha-256",
      "--locale=C.UTF-8",
      "--locale-provider=icu",
      "--icu-locale=en-US",
    ],
    settings: ["wal_level=logical", "shared_preload_libraries=pg_stat_statements"],
  });
  try {
    await cluster.sql("alter role postgres superuser login");
    const work = await Deno.makeTempDir({ prefix: "sb-project-sql-" });
    try {
      for (const sub of ["sql", "parity"]) {
        for await (const e of Deno.readDir(join(SUPABASE_PROJECT, sub))) {
          if (!e.name.endsWith(".sql")) continue;
          const n = Number(e.name.slice(0, 4));
          if (opts.older && sub === "sql" && ((n >= 3052 && n < 4000) || (n >= 2060 && n < 3000))) continue;
          const from = join(SUPABASE_PROJECT, sub, e.name);
          if (opts.older && sub === "sql" && n >= 3026 && n <= 3043) {
            const text = await Deno.readTextFile(from);
            await Deno.writeTextFile(
              join(work, e.name),
              text.replace(/^-- postgres-migrations ignore\n/m, ""),
            );
          } else await Deno.copyFile(from, join(work, e.name));
        }
      }
      const r = await exec("bash", [apply, work, join(work, "log.tsv")], {
        PATH: `${clientBinDir()}:/usr/local/bin:/usr/bin:/bin`,
        PGHOST: dirname(cluster.dataDir),
        PGPORT: String(cluster.port),
        HOME: Deno.env.get("HOME") ?? "/root",
      });
      const summary = r.stdout.trim().split("\n").pop() ?? "";
      if (r.code !== 0 || !/ok=\d+/.test(summary) || /FAILED=/.test(summary)) {
        const log = await Deno.readTextFile(join(work, "log.tsv")).catch(() => "");
        const failed = log.split("\n").filter((l) => l.includes("\tFAILED\t")).slice(0, 3).join("\n");
        throw new Error(`apply.sh failed (${summary || r.stderr.trim()}):\n${failed}`);
      }
    } finally {
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
    const pw = sqlLiteral(PROJECT_PASSWORD);
    await cluster.sql(
      `alter role postgres password ${pw}; alter role supabase_storage_admin password ${pw};`,
    );
    return cluster;
  } catch (e) {
    await cluster.stop();
    throw e;
  }
}

let sharedProjectCluster: Promise<Cluster> | undefined;

/** One project cluster per test process, started on first use (see {@link startProjectCluster}). */
export function projectCluster(): Promise<Cluster> {
  sharedProjectCluster ??= startProjectCluster();
  return sharedProjectCluster;
}

/** An HS256 JWT for `payload`, signed with `secret`. */
export function signJwt(payload: Record<string, unknown>, secret: string): string {
  const b64 = (s: string | Buffer) => Buffer.from(s).toString("base64url");
  const head = b64(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = b64(JSON.stringify(payload));
  const sig = createHmac("sha256", secret).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${sig}`;
}

const running = new Set<number>();
globalThis.addEventListener("unload", () => {
  for (const pid of running) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
});

/** Starts a Storage server over `databaseUrl` (as supabase_storage_admin) on free ports. */
export async function startStorageServer(databaseUrl: string): Promise<StorageServer> {
  if (!(await storageProvisioned())) {
    throw new Error("the Supabase Storage server is not built: run `deno task setup`");
  }
  const base = await Deno.makeTempDir({ prefix: "sb-storage-" });
  const filesDir = join(base, "files");
  await Deno.mkdir(filesDir);
  const jwtSecret = randomBytes(24).toString("hex");
  const accessKeyId = randomBytes(16).toString("hex");
  const secretAccessKey = randomBytes(32).toString("hex");
  const now = Math.floor(Date.now() / 1000);
  const serviceKey = signJwt(
    { role: "service_role", iss: "supabase", iat: now, exp: now + 86400 },
    jwtSecret,
  );
  let port = 0;
  let pid = 0;
  const logFile = join(base, "server.log");
  const alive = () => {
    try {
      return pid > 0 && Deno.statSync(`/proc/${pid}`).isDirectory;
    } catch {
      return false;
    }
  };

  const startServer = async () => {
    for (let attempt = 1;; attempt++) {
      if (port === 0 || attempt > 1) port = freePort();
      const env: Record<string, string> = {
        PATH: "/usr/bin:/bin",
        NODE_ENV: "production",
        SERVER_HOST: "127.0.0.1",
        SERVER_PORT: String(port),
        SERVER_ADMIN_PORT: String(freePort()),
        SERVER_REGION: "local",
        STORAGE_S3_REGION: "local",
        AUTH_JWT_SECRET: jwtSecret,
        AUTH_JWT_ALGORITHM: "HS256",
        DATABASE_URL: databaseUrl,
        DB_INSTALL_ROLES: "false",
        DB_SUPER_USER: "supabase_storage_admin",
        DB_ANON_ROLE: "anon",
        DB_AUTHENTICATED_ROLE: "authenticated",
        DB_SERVICE_ROLE: "service_role",
        STORAGE_BACKEND: "file",
        STORAGE_FILE_BACKEND_PATH: filesDir,
        TENANT_ID: "stub",
        GLOBAL_S3_BUCKET: "stub",
        PG_QUEUE_ENABLE: "false",
        S3_PROTOCOL_ACCESS_KEY_ID: accessKeyId,
        S3_PROTOCOL_ACCESS_KEY_SECRET: secretAccessKey,
        LOG_LEVEL: "warn",
      };
      // Detached (no handle held by the test), so one server can serve several tests of a file.
      const r = await new Deno.Command("sh", {
        args: [
          "-c",
          `cd "$1" && exec "$2" "$3" >>"$4" 2>&1 </dev/null & echo $!`,
          "sh",
          storageDir(),
          storageNode(),
          storageEntry(),
          logFile,
        ],
        clearEnv: true,
        env,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      pid = Number(new TextDecoder().decode(r.stdout).trim());
      if (!r.success || !pid) {
        throw new Error(`cannot start the Storage server: ${new TextDecoder().decode(r.stderr)}`);
      }
      running.add(pid);
      await startWatchdog(pid);
      const deadline = Date.now() + 60_000;
      let up = false;
      while (Date.now() < deadline && alive()) {
        try {
          const res = await fetch(`http://127.0.0.1:${port}/status`);
          await res.body?.cancel();
          if (res.status === 200) {
            up = true;
            break;
          }
        } catch {
          // not listening yet
        }
        await new Promise((res) => setTimeout(res, 200));
      }
      if (up) return;
      await stopServer();
      const text = await Deno.readTextFile(logFile).catch(() => "");
      if (attempt < 3 && /EADDRINUSE/.test(text)) continue;
      throw new Error(`the Storage server did not start:\n${text.trim().split("\n").slice(-10).join("\n")}`);
    }
  };
  const stopServer = async () => {
    if (!pid) return;
    const p = pid;
    pid = 0;
    running.delete(p);
    try {
      Deno.kill(p, "SIGTERM");
    } catch {
      return;
    }
    for (let i = 0; i < 50; i++) {
      try {
        Deno.statSync(`/proc/${p}`);
      } catch {
        return;
      }
      await new Promise((res) => setTimeout(res, 100));
    }
    try {
      Deno.kill(p, "SIGKILL");
    } catch {
      // gone
    }
  };
  await startServer();
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    endpoint: `${url}/s3`,
    region: "local",
    accessKeyId,
    secretAccessKey,
    serviceKey,
    userKey: (sub) =>
      signJwt({ role: "authenticated", sub, aud: "authenticated", iat: now, exp: now + 86400 }, jwtSecret),
    filesDir,
    stopServer,
    startServer,
    pid: () => pid,
  };
}

/** Starts a detached shell that kills `pid` when this test process ends. */
async function startWatchdog(pid: number): Promise<void> {
  const script = `while kill -0 ${Deno.pid} 2>/dev/null; do sleep 1; done; kill -9 ${pid} 2>/dev/null`;
  const r = await exec("sh", ["-c", `nohup sh -c "$1" >/dev/null 2>&1 </dev/null &`, "sh", script]);
  if (r.code !== 0) throw new Error(`cannot start the Storage watchdog: ${r.stderr.trim()}`);
}

let projects = 0;

/**
 * A new Supabase project in the shared project cluster: a database cloned from the template
 * (Supabase's roles and schemas, Storage's migrations recorded) and a Storage server over it.
 */
export async function startProject(): Promise<StorageProject> {
  const cluster = await projectCluster();
  const db = `project_${Deno.pid}_${++projects}_${randomBytes(3).toString("hex")}`;
  await cluster.sql(`create database "${db}" template postgres owner postgres`);
  const storage = await startStorageServer(
    cluster.url({ db, user: "supabase_storage_admin", password: PROJECT_PASSWORD }),
  );
  let stopped = false;
  return {
    cluster,
    db,
    dbUrl: cluster.url({ db, user: "postgres", password: PROJECT_PASSWORD }),
    storage,
    async stop() {
      if (stopped) return;
      stopped = true;
      await storage.stopServer();
      await cluster.sql(`drop database if exists "${db}" with (force)`).catch(() => {});
      await Deno.remove(dirname(storage.filesDir), { recursive: true }).catch(() => {});
    },
  };
}

/** Options of an upload through the REST API or the S3 protocol. */
export interface PutFile {
  contentType?: string;
  cacheControl?: string;
  /** REST: any JSON (`x-metadata`); S3: string values (`x-amz-meta-*`). */
  metadata?: Record<string, unknown>;
  /** REST only: the JWT to upload with (default: the service key). */
  jwt?: string;
  /** REST only: replace an existing file. */
  upsert?: boolean;
}

function restPath(bucket: string, name: string): string {
  return [bucket, ...name.split("/")].map(encodeURIComponent).join("/");
}

/** Creates a bucket through the REST API, with its settings. Throws with the server's answer. */
export async function restCreateBucket(
  s: StorageServer,
  b: { id: string; public?: boolean; file_size_limit?: number; allowed_mime_types?: string[] },
): Promise<void> {
  const r = await fetch(`${s.url}/bucket`, {
    method: "POST",
    headers: { authorization: `Bearer ${s.serviceKey}`, "content-type": "application/json" },
    body: JSON.stringify({ name: b.id, ...b }),
  });
  if (r.status !== 200) throw new Error(`create bucket ${b.id}: ${r.status} ${await r.text()}`);
}

/** Uploads a file through the REST API (`POST /object/…`, or `PUT` to replace). */
export async function restPut(
  s: StorageServer,
  bucket: string,
  name: string,
  bytes: Uint8Array,
  o: PutFile = {},
): Promise<void> {
  const headers: Record<string, string> = {
    authorization: `Bearer ${o.jwt ?? s.serviceKey}`,
    "content-type": o.contentType ?? "application/octet-stream",
  };
  if (o.cacheControl) headers["cache-control"] = o.cacheControl;
  if (o.metadata) headers["x-metadata"] = btoa(JSON.stringify(o.metadata));
  if (o.upsert) headers["x-upsert"] = "true";
  const r = await fetch(`${s.url}/object/${restPath(bucket, name)}`, {
    method: "POST",
    headers,
    body: bytes as Uint8Array<ArrayBuffer>,
  });
  if (r.status !== 200) throw new Error(`upload ${bucket}/${name}: ${r.status} ${await r.text()}`);
  await r.body?.cancel();
}

/** Reads a file's bytes through the REST API (undefined when it is not there). */
export async function restGet(
  s: StorageServer,
  bucket: string,
  name: string,
): Promise<Uint8Array | undefined> {
  const r = await fetch(`${s.url}/object/authenticated/${restPath(bucket, name)}`, {
    headers: { authorization: `Bearer ${s.serviceKey}` },
  });
  if (r.status === 400 || r.status === 404) {
    await r.body?.cancel();
    return undefined;
  }
  if (r.status !== 200) throw new Error(`download ${bucket}/${name}: ${r.status} ${await r.text()}`);
  return new Uint8Array(await r.arrayBuffer());
}

/** Deletes a file through the REST API. */
export async function restDelete(s: StorageServer, bucket: string, name: string): Promise<void> {
  const r = await fetch(`${s.url}/object/${restPath(bucket, name)}`, {
    method: "DELETE",
    headers: { authorization: `Bearer ${s.serviceKey}` },
  });
  if (r.status !== 200) throw new Error(`delete ${bucket}/${name}: ${r.status} ${await r.text()}`);
  await r.body?.cancel();
}

/**
 * Uploads a file through the S3 protocol, signed by curl (`--aws-sigv4`: another SigV4 signer than
 * the tool's lib/store/sigv4.ts), each path segment encoded on its own.
 */
export async function s3Put(
  s: StorageServer,
  bucket: string,
  name: string,
  bytes: Uint8Array,
  o: PutFile = {},
): Promise<void> {
  const path = [bucket, ...name.split("/")].map((seg) =>
    encodeURIComponent(seg).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase())
  ).join("/");
  const headers: Record<string, string> = {
    "content-type": o.contentType ?? "application/octet-stream",
    // curl 7.88 signs the payload hash it is given, and sends none of its own
    "x-amz-content-sha256": createHash("sha256").update(bytes).digest("hex"),
  };
  if (o.cacheControl) headers["cache-control"] = o.cacheControl;
  for (const [k, v] of Object.entries(o.metadata ?? {})) headers[`x-amz-meta-${k}`] = String(v);
  const child = new Deno.Command("curl", {
    args: [
      "-sS",
      "-X",
      "PUT",
      "--aws-sigv4",
      `aws:amz:${s.region}:s3`,
      "--user",
      `${s.accessKeyId}:${s.secretAccessKey}`,
      ...Object.entries(headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`]),
      "--data-binary",
      "@-",
      "-w",
      "\n%{http_code}",
      `${s.endpoint}/${path}`,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(bytes);
  await writer.close();
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout);
  const status = text.slice(text.lastIndexOf("\n") + 1);
  if (!out.success || status !== "200") {
    throw new Error(`S3 put ${bucket}/${name}: ${status} ${text} ${new TextDecoder().decode(out.stderr)}`);
  }
}
