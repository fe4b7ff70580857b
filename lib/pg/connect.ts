/**
 * Opening a database: {@link openDb} is the one way the tool connects (backup, restore, drill). It
 * resolves the host's IPv4 address when asked, opens a postgres.js connection with bounded retries
 * on transient faults, turns failures into errors that name the fix (IPv6-only hosts, wrong
 * password, unreachable host), hands out the libpq environment for the client programs that must
 * reach the same server the same way, and closes the connection on an interrupted exit too.
 * @module
 */
import type postgres from "postgres";
import { BackupError } from "../base/errors.ts";
import { type DbUrl, describeDb, libpqEnv } from "./url.ts";
import { abortSignal, onCleanup, throwIfInterrupted } from "../base/interrupt.ts";
import { redact } from "../base/redact.ts";

/** A postgres.js client. */
export type Sql = postgres.Sql;

/** Connection options beyond the URL. */
interface ConnectOptions {
  /** IPv4 address to use instead of resolving the host (libpq hostaddr). */
  hostaddr?: string;
  connectTimeout: number;
  /** Attempts after the first one on a transient fault. */
  retries: number;
  /** Receives one line per retry. */
  log?: (line: string) => void;
  /** Backoff of attempt n (0-based) in ms; default 500·2ⁿ capped at 8 s. */
  backoff?: (attempt: number) => number;
}

const TRANSIENT_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "57P03", // the database system is starting up
  "53300", // too many connections
  "08006",
  "08001",
]);

/** Is this connection error worth another attempt? Pure. */
export function isTransient(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  if (err?.code && TRANSIENT_CODES.has(err.code)) return true;
  return /connection refused|reset by peer|timed? ?out|starting up|Connection terminated/i.test(
    err?.message ?? "",
  );
}

const IPV4 = /^\d+\.\d+\.\d+\.\d+$/;

/** Reads `sslrootcert` (a PEM file) for the tool's own connection, as libpq would for pg_dump. */
function rootCert(u: DbUrl): string | undefined {
  const path = u.params.sslrootcert;
  if (!path || path === "system") return undefined;
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    throw new BackupError(`sslrootcert '${path}' cannot be read: ${(e as Error).message.split(" (")[0]}`, {
      hint: "give the path of the CA certificate file (Supabase: Project Settings → Database → SSL)",
      exitCode: 2,
    });
  }
}

/**
 * The postgres.js `ssl` option for libpq's sslmode: prefer/allow try TLS and fall back; require
 * encrypts without checking the certificate; verify-ca checks the chain (against `sslrootcert` when
 * given); verify-full also the host name. With `hostaddr` (--ipv4) the TLS server name stays the host.
 */
export function sslOption(u: DbUrl, hostaddr?: string): postgres.Options<Record<string, never>>["ssl"] {
  const mode = u.sslmode ?? "prefer";
  if (mode === "disable") return false;
  if (mode === "allow" || mode === "prefer") return "prefer";
  const verify = mode === "verify-ca" || mode === "verify-full";
  const ca = verify ? rootCert(u) : undefined;
  return {
    rejectUnauthorized: verify,
    ...(ca ? { ca } : {}),
    ...(hostaddr && !IPV4.test(u.host) ? { servername: u.host } : {}),
    ...(mode === "verify-ca" ? { checkServerIdentity: () => undefined } : {}),
  };
}

/**
 * postgres.js, loaded at the first connection rather than when the tool starts: a restore checks
 * its files, looks for the pg tools and starts psql while it loads.
 */
let driver: Promise<typeof postgres> | undefined;

/** Creates a postgres.js client for `u` (no connection is made until the first query). */
async function client(
  u: DbUrl,
  opts: Pick<ConnectOptions, "hostaddr" | "connectTimeout">,
  max = 2,
): Promise<Sql> {
  const postgres = await (driver ??= import("postgres").then((m) => m.default));
  return postgres({
    host: opts.hostaddr ?? u.host,
    port: u.port,
    database: u.database,
    username: u.user,
    password: u.password,
    ssl: sslOption(u, opts.hostaddr),
    max,
    prepare: false,
    connect_timeout: opts.connectTimeout,
    idle_timeout: 0,
    onnotice: () => {},
    connection: { application_name: "supabase-backup" },
  });
}

/** Resolves the host's IPv4 address (for --ipv4). Throws when it has none. */
async function resolveIPv4(host: string): Promise<string> {
  if (IPV4.test(host)) return host;
  try {
    const [a] = await Deno.resolveDns(host, "A");
    if (a) return a;
  } catch {
    // fall through
  }
  throw new BackupError(`host ${host} has no IPv4 address`, {
    hint: "Supabase's direct host db.<ref>.supabase.co is IPv6-only; use the session pooler " +
      "aws-0-<region>.pooler.supabase.com:5432 with user postgres.<ref>",
  });
}

async function onlyIPv6(host: string): Promise<boolean> {
  if (host.includes(":") || IPV4.test(host) || host === "localhost") return false;
  const a = await Deno.resolveDns(host, "A").catch(() => [] as string[]);
  if (a.length > 0) return false;
  const aaaa = await Deno.resolveDns(host, "AAAA").catch(() => [] as string[]);
  return aaaa.length > 0;
}

/** Turns a connection failure into a BackupError with a hint. */
async function connectionError(e: unknown, u: DbUrl): Promise<BackupError> {
  const err = e as { code?: string; message?: string };
  const where = describeDb(u);
  const msg = redact(String(err?.message ?? e).split("\n")[0]);
  if (err?.code === "28P01" || /password authentication failed/i.test(msg)) {
    return new BackupError(`password authentication failed for ${where}`, {
      hint:
        "check the password (percent-encode @ : / # ? % in URLs) and, on the Supabase pooler, the user postgres.<ref>",
      cause: e,
    });
  }
  if (err?.code === "3D000") {
    return new BackupError(`database '${u.database}' does not exist on ${u.host}:${u.port}`, {
      hint: "Supabase's database is called postgres",
      cause: e,
    });
  }
  if (err?.code === "28000" || err?.code === "42501") {
    return new BackupError(`permission denied connecting to ${where}: ${msg}`, {
      hint: "connect as a role with LOGIN and CONNECT on the database (postgres on Supabase)",
      cause: e,
    });
  }
  if (
    (err?.code === "ENETUNREACH" || err?.code === "EHOSTUNREACH" || err?.code === "EADDRNOTAVAIL" ||
      err?.code === "ENOTFOUND") && await onlyIPv6(u.host)
  ) {
    return new BackupError(`cannot reach ${u.host}: it has only an IPv6 address`, {
      hint:
        "use the Supabase session pooler (aws-0-<region>.pooler.supabase.com:5432, user postgres.<ref>); " +
        "GitHub-hosted runners have no IPv6",
      cause: e,
    });
  }
  if (err?.code === "ENOTFOUND" || err?.code === "EAI_AGAIN") {
    return new BackupError(`cannot resolve host ${u.host}`, {
      hint: "check the host name in the connection string",
      cause: e,
    });
  }
  return new BackupError(`cannot connect to ${where}: ${msg}`, {
    hint: "check that the server is up and reachable, and raise --connect-timeout/--retries for slow links",
    cause: e,
  });
}

/**
 * Connects (runs `select 1`) with up to `retries` further attempts on transient faults, logging each.
 * Returns the client. Throws a {@link BackupError} naming the cause.
 */
async function connect(u: DbUrl, opts: ConnectOptions, max = 2): Promise<Sql> {
  const backoff = opts.backoff ?? ((n: number) => Math.min(8000, 500 * 2 ** n));
  for (let attempt = 0;; attempt++) {
    throwIfInterrupted();
    const sql = await client(u, opts, max);
    try {
      await sql`select 1`;
      return sql;
    } catch (e) {
      await sql.end({ timeout: 1 }).catch(() => {});
      if (!isTransient(e) || attempt >= opts.retries) throw await connectionError(e, u);
      const wait = backoff(attempt);
      const code = (e as { code?: string }).code ?? "error";
      opts.log?.(
        `retry ${
          attempt + 1
        }/${opts.retries}: connecting to ${u.host}:${u.port} failed (${code}); next try in ${wait} ms`,
      );
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, wait);
        abortSignal.addEventListener("abort", () => {
          clearTimeout(t);
          resolve();
        }, { once: true });
      });
    }
  }
}

/** How {@link openDb} connects. */
export interface DbSettings {
  /** Connect to the host's IPv4 address (--ipv4), for client programs too. */
  ipv4?: boolean;
  /** Seconds per connection attempt. */
  connectTimeout: number;
  /** Attempts after the first one on a transient fault. */
  retries: number;
  /** Receives one line per retry. */
  log?: (line: string) => void;
  /** Connections in the pool (default 2). */
  max?: number;
}

/** An open database: the connection, and how client programs reach the same server. */
export interface Db {
  sql: Sql;
  /** The IPv4 address used instead of the host (with `ipv4`). */
  hostaddr?: string;
  /** The libpq environment for pg_dump, pg_restore and psql (password included). */
  env: Record<string, string>;
  /** Ends the connection (also done on an interrupted exit). Never throws. */
  close(): Promise<void>;
}

/** The {@link DbUrl.warning}s printed so far: each once per run. */
const warned = new Set<string>();

/**
 * Opens the database behind `u`: prints its {@link DbUrl.warning} once (through `settings.log`), resolves its IPv4 address when `settings.ipv4` is set, then
 * connects with retries (see {@link DbSettings}). Call `close()` when done. Throws a
 * {@link BackupError} with a hint when the host has no IPv4 address or the connection fails.
 */
export async function openDb(u: DbUrl, settings: DbSettings): Promise<Db> {
  if (u.warning && !warned.has(u.warning)) {
    warned.add(u.warning);
    settings.log?.(u.warning);
  }
  const hostaddr = settings.ipv4 ? await resolveIPv4(u.host) : undefined;
  const { connectTimeout, retries, log } = settings;
  const sql = await connect(u, { hostaddr, connectTimeout, retries, log }, settings.max ?? 2);
  const end = () => sql.end({ timeout: 2 }).catch(() => {});
  const unregister = onCleanup(() => void end());
  return {
    sql,
    hostaddr,
    env: libpqEnv(u, { hostaddr, connectTimeout }),
    close: async () => {
      unregister();
      await end();
    },
  };
}
