/**
 * Opening a postgres.js connection with bounded retries on transient faults, optional IPv4
 * pinning, and errors that name the fix (IPv6-only hosts, wrong password, unreachable host).
 * @module
 */
import postgres from "postgres";
import { BackupError } from "../base/errors.ts";
import { type DbUrl, describeDb } from "./url.ts";
import { abortSignal, throwIfInterrupted } from "../base/interrupt.ts";
import { redact } from "../base/redact.ts";

/** A postgres.js client. */
export type Sql = postgres.Sql;

/** Connection options beyond the URL. */
export interface ConnectOptions {
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

/** Creates a postgres.js client for `u` (no connection is made until the first query). */
export function client(u: DbUrl, opts: Pick<ConnectOptions, "hostaddr" | "connectTimeout">, max = 2): Sql {
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
export async function resolveIPv4(host: string): Promise<string> {
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
export async function connectionError(e: unknown, u: DbUrl): Promise<BackupError> {
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
export async function connect(u: DbUrl, opts: ConnectOptions, max = 2): Promise<Sql> {
  const backoff = opts.backoff ?? ((n: number) => Math.min(8000, 500 * 2 ** n));
  for (let attempt = 0;; attempt++) {
    throwIfInterrupted();
    const sql = client(u, opts, max);
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
