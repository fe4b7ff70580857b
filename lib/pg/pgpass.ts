/**
 * libpq's password file (`$PGPASSFILE`, else `~/.pgpass`) for the tool's own connection: pg_dump and
 * psql read it themselves, postgres.js does not. {@link pgpassLookup} is pure.
 * @module
 */
import type { DbUrl } from "./url.ts";
import { registerSecret } from "../base/redact.ts";

/** Splits one line at unescaped colons, undoing `\:` and `\\`. */
function fields(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (ch === "\\" && i + 1 < line.length) cur += line[++i];
    else if (ch === ":") {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

/**
 * The password of the first line of a password file that matches `u`
 * (`hostname:port:database:username:password`, `*` matching anything), as libpq picks it. Pure.
 */
export function pgpassLookup(
  text: string,
  u: Pick<DbUrl, "host" | "port" | "database" | "user">,
): string | undefined {
  const want = [u.host, String(u.port), u.database, u.user];
  for (const raw of text.split(/\r?\n/)) {
    if (raw.trim() === "" || raw.startsWith("#")) continue;
    const f = fields(raw);
    if (f.length < 5) continue;
    if (want.every((w, i) => f[i] === "*" || f[i] === w)) return f.slice(4).join(":");
  }
  return undefined;
}

/**
 * When `u` has no password (none in the URL or `$PGPASSWORD`), fills it in from the password file,
 * registering it for redaction. Like libpq, skips a file that others may read and says so through
 * `warn`. Returns `u` unchanged when there is no file or no match.
 */
export async function withPgpass(
  u: DbUrl,
  env: Record<string, string | undefined>,
  warn: (line: string) => void = () => {},
): Promise<DbUrl> {
  if (u.password !== undefined) return u;
  const file = env.PGPASSFILE || (env.HOME ? `${env.HOME}/.pgpass` : undefined);
  if (!file) return u;
  let text: string;
  try {
    const info = await Deno.stat(file);
    if (!info.isFile) return u;
    if (info.mode !== null && (info.mode & 0o077) !== 0) {
      warn(`warning: password file ${file} is readable by others and is ignored; chmod 0600 it`);
      return u;
    }
    text = await Deno.readTextFile(file);
  } catch {
    return u;
  }
  const password = pgpassLookup(text, u);
  if (password === undefined) return u;
  registerSecret(password);
  return { ...u, password };
}
