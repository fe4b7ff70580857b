/**
 * Connection strings: validation, masking, and the libpq environment for child processes. Pure.
 * @module
 */
import { usageError } from "../base/errors.ts";
import { MASK, registerSecret } from "../base/redact.ts";
import { escapeControl } from "../base/output.ts";

/** The sslmode values libpq accepts. */
export const SSL_MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] as const;

/** A validated connection string, split into parts. */
export interface DbUrl {
  host: string;
  port: number;
  database: string;
  user: string;
  /**
   * Decoded password (from before the host, or from `?password=`), or undefined (then PGPASSWORD or
   * .pgpass apply).
   */
  password?: string;
  /** True when the URL text itself holds the password (not PGPASSWORD or .pgpass). */
  passwordInUrl: boolean;
  /**
   * A warning about how the URL was given (a password on the command line), printed once when the
   * tool first connects with it; see lib/cli/args.ts `warnIfOnCommandLine`.
   */
  warning?: string;
  sslmode?: string;
  /** Other query parameters, passed through to libpq. */
  params: Record<string, string>;
  /** The URL with the password masked, safe to print. */
  masked: string;
}

/**
 * Parses and validates a postgres:// or postgresql:// URL. `origin` names where it came from
 * (`--db-url`, `$SUPABASE_DB_URL`) for the error message. Registers the password as a secret.
 * Missing parts fall back to libpq's PG* variables in `env`. The password may also come as
 * `?password=` (as libpq takes it; masked like the other form), not both. Throws a usage error
 * (exit 2) naming `origin`, also for a `%` not followed by two hex digits in any part.
 */
export function parseDbUrl(
  raw: string | undefined,
  origin: string,
  env: Record<string, string | undefined> = {},
): DbUrl {
  const text = (raw ?? "").trim();
  if (!text) {
    throw usageError(
      `${origin} is empty`,
      "pass a URL like postgresql://postgres.<ref>:PASSWORD@aws-0-<region>.pooler.supabase.com:5432/postgres",
    );
  }
  const scheme = text.match(/^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//);
  if (!scheme) {
    throw usageError(
      `${origin} is not a URL`,
      "it must start with postgresql:// (see docs/configuration.md)",
    );
  }
  if (!["postgres", "postgresql"].includes(scheme[1].toLowerCase())) {
    throw usageError(
      `${origin} has scheme '${scheme[1]}', expected postgresql://`,
      "use a postgresql:// connection string",
    );
  }
  // Mask the password before anything else can echo the URL.
  const pw = text.match(/^[^:]+:\/\/[^/?#@]*?:([^@/?#]*)@/) ?? text.match(/^[^:]+:\/\/[^@]*:([^@]*)@/);
  if (pw && pw[1]) registerSecret(pw[1]);
  for (const m of text.matchAll(/[?&]password=([^&#]*)/gi)) registerSecret(m[1]);
  let u: URL;
  try {
    u = new URL(text.replace(/^[^:]+:/, "http:"));
  } catch {
    throw usageError(
      `${origin} is not a valid URL`,
      "percent-encode special characters in the password (@ → %40, # → %23, / → %2F, ? → %3F, % → %25)",
    );
  }
  const decode = (part: string, what: string) => decodePart(part, origin, what);
  let user = decode(u.username, "user");
  let password = u.password ? decode(u.password, "password") : undefined;
  if (password) registerSecret(password);
  const host = decode(u.hostname.replace(/^\[|\]$/g, ""), "host") || env.PGHOST || "";
  if (!host) {
    throw usageError(`${origin} has no host`, "add the host: postgresql://user:pass@HOST:5432/postgres");
  }
  const portText = u.port || env.PGPORT || "5432";
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    throw usageError(
      `${origin} has an invalid port '${portText}'`,
      "use a port from 1 to 65535, 5432 for the Supabase session pooler",
    );
  }
  const params = queryParams(u.search, origin);
  if (params.password !== undefined) {
    if (password !== undefined) {
      throw usageError(
        `${origin} gives the password twice, before the host and as ?password=`,
        "keep one of them (better: neither, see docs/security.md#passwords)",
      );
    }
    password = params.password || undefined;
    delete params.password;
  }
  const sslmode = params.sslmode ?? env.PGSSLMODE;
  delete params.sslmode;
  if (sslmode !== undefined && !(SSL_MODES as readonly string[]).includes(sslmode)) {
    throw usageError(`${origin} has an invalid sslmode '${sslmode}'`, `use one of ${SSL_MODES.join(", ")}`);
  }
  const database = decode(u.pathname.replace(/^\//, ""), "database name") || env.PGDATABASE || "postgres";
  user = user || env.PGUSER || "postgres";
  const passwordInUrl = password !== undefined;
  if (!password && env.PGPASSWORD) {
    password = env.PGPASSWORD;
    registerSecret(password);
  }
  const masked = maskUrl(text);
  return { host, port, database, user, password, passwordInUrl, sslmode, params, masked };
}

/** The URL with its password (before the host, and a `password=` parameter) replaced by {@link MASK}. */
export function maskUrl(url: string): string {
  return url.replace(/^([^:]+:\/\/[^/?#]*?:)([^@]*)(@)/, `$1${MASK}$3`)
    .replace(/([?&]password=)[^&#]*/gi, `$1${MASK}`);
}

/**
 * Decodes one percent-encoded part of a URL as libpq does; throws a usage error naming `origin`
 * and the part when a `%` is not followed by two hex digits or the bytes are not UTF-8.
 */
function decodePart(part: string, origin: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw usageError(
      `${origin} has a badly percent-encoded ${what}`,
      "a % must be followed by two hex digits: write a literal % as %25",
    );
  }
}

/**
 * The query parameters of a URL's `search` part, each key and value percent-decoded; `+` stays a
 * plus, as in libpq. Throws a usage error naming `origin` for a bad `%` sequence.
 */
function queryParams(search: string, origin: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const pair of search.replace(/^\?/, "").split("&")) {
    if (pair === "") continue;
    const at = pair.indexOf("=");
    const key = decodePart(at < 0 ? pair : pair.slice(0, at), origin, "query parameter");
    params[key] = decodePart(at < 0 ? "" : pair.slice(at + 1), origin, `value of ?${key}=`);
  }
  return params;
}

/**
 * The Supabase transaction pooler (port 6543) cannot run pg_dump. Returns a hint when `u` points
 * at it, else undefined.
 */
export function transactionPoolerHint(u: DbUrl): string | undefined {
  if (u.port === 6543 && /pooler\.supabase\.com$/i.test(u.host)) {
    return "port 6543 is Supabase's transaction pooler, which pg_dump cannot use; use the session pooler on port 5432";
  }
  return undefined;
}

/**
 * The libpq environment for a child process (pg_dump, psql, …): the password travels in
 * PGPASSWORD, never on the command line. `hostaddr` pins an IPv4 address while `host` stays for TLS.
 */
export function libpqEnv(
  u: DbUrl,
  opts: { hostaddr?: string; connectTimeout?: number } = {},
): Record<string, string> {
  const env: Record<string, string> = {
    PGHOST: u.host,
    PGPORT: String(u.port),
    PGDATABASE: u.database,
    PGUSER: u.user,
    PGAPPNAME: "supabase-backup",
  };
  if (u.password !== undefined) env.PGPASSWORD = u.password;
  if (u.sslmode) env.PGSSLMODE = u.sslmode;
  if (opts.hostaddr) env.PGHOSTADDR = opts.hostaddr;
  if (opts.connectTimeout) env.PGCONNECT_TIMEOUT = String(opts.connectTimeout);
  const map: Record<string, string> = {
    sslrootcert: "PGSSLROOTCERT",
    sslcert: "PGSSLCERT",
    sslkey: "PGSSLKEY",
    options: "PGOPTIONS",
    target_session_attrs: "PGTARGETSESSIONATTRS",
  };
  for (const [k, v] of Object.entries(u.params)) if (map[k]) env[map[k]] = v;
  return env;
}

/**
 * A short, password-free description for summaries: `user@host:port/db`, control characters
 * escaped (a percent-encoded line break in the user or database name cannot add a line).
 */
export function describeDb(u: DbUrl): string {
  return escapeControl(`${u.user}@${u.host}:${u.port}/${u.database}`);
}
