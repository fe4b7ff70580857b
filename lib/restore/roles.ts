/**
 * Roles a restore needs, read from whole statements (as lib/pg/lexer.ts cuts them): the roles
 * roles.sql creates, and the roles each `CREATE POLICY` is granted to. A policy names its roles
 * in its `TO` list; a target that lacks one fails the statement, so the restore checks them all
 * before it writes anything (issue 16, item 15). Names are read token by token, quoted
 * identifiers whole, so a policy or table named `"x TO evil"` cannot move the list. Pure.
 * @module
 */
import { type BackupError, usageError } from "../base/errors.ts";
import { quoteIdent } from "../pg/ident.ts";

/** What a `CREATE ROLE` / `ALTER ROLE` statement of roles.sql is about; undefined for others. */
export function roleStatement(stmt: string): { verb: "CREATE" | "ALTER"; role: string } | undefined {
  const m = stmt.trim().match(/^(CREATE|ALTER) ROLE ("(?:[^"]|"")*"|[^\s;]+)/);
  if (!m) return undefined;
  const role = m[2].startsWith('"') ? m[2].slice(1, -1).replaceAll('""', '"') : m[2];
  return { verb: m[1] as "CREATE" | "ALTER", role };
}

type Token = { kind: "name"; text: string; quoted: boolean } | { kind: "punct"; text: string };

/** The statement's leading tokens: names (quoted ones unquoted) and punctuation, up to `limit`. */
function tokens(stmt: string, limit: number): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < stmt.length && out.length < limit) {
    const c = stmt[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"') {
      let j = i + 1, text = "";
      while (j < stmt.length) {
        if (stmt[j] === '"') {
          if (stmt[j + 1] === '"') {
            text += '"';
            j += 2;
            continue;
          }
          break;
        }
        text += stmt[j++];
      }
      out.push({ kind: "name", text, quoted: true });
      i = j + 1;
    } else if (/[A-Za-z_\u0080-\uffff]/.test(c)) {
      let j = i;
      while (j < stmt.length && /[A-Za-z0-9_$\u0080-\uffff]/.test(stmt[j])) j++;
      out.push({ kind: "name", text: stmt.slice(i, j), quoted: false });
      i = j;
    } else {
      out.push({ kind: "punct", text: c });
      i++;
    }
  }
  return out;
}

/** Role words of a policy's `TO` list that are not role names. */
const PSEUDO_ROLES = new Set(["public", "current_user", "session_user", "current_role"]);

/** One policy and the roles it is granted to. */
export interface PolicyRoles {
  /** `policy on schema.table`, for messages. */
  policy: string;
  roles: string[];
}

/**
 * The roles a `CREATE POLICY name ON [schema.]table [AS …] [FOR …] [TO role, …] …` statement
 * names (PUBLIC and CURRENT_USER-like words left out); undefined for any other statement, or when
 * the statement does not have that shape.
 */
export function policyRoles(stmt: string): PolicyRoles | undefined {
  if (!/^\s*CREATE\s+POLICY\s/i.test(stmt)) return undefined;
  const t = tokens(stmt, 4096);
  const word = (i: number, w: string) =>
    t[i]?.kind === "name" && !(t[i] as { quoted: boolean }).quoted &&
    t[i].text.toUpperCase() === w;
  let i = 2;
  if (t[i]?.kind !== "name") return undefined;
  const name = t[i++].text;
  if (!word(i++, "ON")) return undefined;
  let table = t[i++]?.text;
  if (t[i]?.text === "." && t[i].kind === "punct") {
    table = `${table}.${t[i + 1]?.text}`;
    i += 2;
  }
  if (word(i, "AS")) i += 2;
  if (word(i, "FOR")) i += 2;
  const roles: string[] = [];
  if (word(i, "TO")) {
    i++;
    while (t[i]?.kind === "name") {
      const tok = t[i] as { text: string; quoted: boolean };
      const role = tok.quoted ? tok.text : tok.text.toLowerCase();
      if (tok.quoted || !PSEUDO_ROLES.has(role)) roles.push(role);
      i++;
      if (t[i]?.kind === "punct" && t[i].text === ",") i++;
      else break;
    }
  }
  return { policy: `${name} on ${table}`, roles };
}

/**
 * The roles policies name that will not exist in the target (neither there now nor created by
 * the restore), each with the policies that name it, in first-seen order.
 */
export function missingPolicyRoles(
  policies: readonly PolicyRoles[],
  exists: (role: string) => boolean,
): Map<string, string[]> {
  const missing = new Map<string, string[]>();
  for (const p of policies) {
    for (const r of p.roles) {
      if (exists(r)) continue;
      const list = missing.get(r) ?? [];
      list.push(p.policy);
      missing.set(r, list);
    }
  }
  return missing;
}

/**
 * The exit-2 error for policies naming roles the target lacks: which roles, an example policy,
 * and how to fix it (with `--roles` when the backup can create some, and CREATE ROLE otherwise).
 */
export function missingRolesError(
  missing: ReadonlyMap<string, string[]>,
  o: { rolesFlag: boolean; backupHasRoles: boolean },
): BackupError | undefined {
  if (missing.size === 0) return undefined;
  const names = [...missing.keys()];
  const shown = names.slice(0, 5).map((r) => `"${r}"`).join(", ") + (names.length > 5 ? ", …" : "");
  const [first, uses] = [...missing.entries()][0];
  const count = [...missing.values()].reduce((n, l) => n + l.length, 0);
  const create = names.slice(0, 3).map((r) => `CREATE ROLE ${quoteIdent(r)} NOLOGIN;`).join(" ");
  const roles = !o.rolesFlag && o.backupHasRoles
    ? "restore with --roles (roles.sql creates the backup's own roles), or "
    : "";
  return usageError(
    `${count} polic${count === 1 ? "y" : "ies"} of the backup name role(s) the target lacks: ${shown} ` +
      `(e.g. policy ${uses[0]} for "${first}"); nothing was written`,
    `${roles}create them in the target first (${create}); a Supabase project has anon, ` +
      `authenticated and service_role already`,
  );
}
