/**
 * Roles a restore needs, read from whole statements (as lib/pg/lexer.ts cuts them): the roles
 * roles.sql creates, and the roles each `CREATE POLICY` is granted to. A policy names its roles
 * in its `TO` list; a target that lacks one fails the statement, so the restore checks them all
 * before it writes anything (issue 16, item 15). Names are read token by token (lib/pg/tokens.ts),
 * quoted identifiers whole, so a policy or table named `"x TO evil"` cannot move the list. Pure.
 * @module
 */
import { type BackupError, usageError } from "../base/errors.ts";
import { sqlIdent, sqlQualified } from "../pg/ident.ts";
import { isKeyword, solidTokens, tokenName } from "../pg/tokens.ts";

/** What a `CREATE ROLE` / `ALTER ROLE` statement of roles.sql is about; undefined for others. */
export function roleStatement(stmt: string): { verb: "CREATE" | "ALTER"; role: string } | undefined {
  const m = stmt.trim().match(/^(CREATE|ALTER) ROLE ("(?:[^"]|"")*"|[^\s;]+)/);
  if (!m) return undefined;
  const role = m[2].startsWith('"') ? m[2].slice(1, -1).replaceAll('""', '"') : m[2];
  return { verb: m[1] as "CREATE" | "ALTER", role };
}

/**
 * The roles a `GRANT … ON PARAMETER … TO role, … [WITH GRANT OPTION] [GRANTED BY …]` statement of
 * roles.sql grants to (pg_dumpall writes one per parameter privilege of the cluster, e.g. a new
 * Supabase project's `GRANT SET ON PARAMETER session_replication_role TO postgres`); undefined for
 * any other statement. Read token by token, quoted names whole. Pure.
 */
export function parameterGrantees(stmt: string): string[] | undefined {
  if (!/^\s*GRANT\s/i.test(stmt)) return undefined;
  const t = solidTokens(stmt);
  if (!t) return undefined;
  const on = t.findIndex((x) => isKeyword(x, "on"));
  if (on < 0 || !isKeyword(t[on + 1], "parameter")) return undefined;
  const to = t.findIndex((x, i) => i > on && isKeyword(x, "to"));
  if (to < 0) return undefined;
  const roles: string[] = [];
  for (let i = to + 1; t[i]?.kind === "word" || t[i]?.kind === "quoted"; i += 2) {
    if (t[i].kind === "word" && (isKeyword(t[i], "with") || isKeyword(t[i], "granted"))) break;
    roles.push(tokenName(t[i])!);
    if (!(t[i + 1]?.kind === "op" && t[i + 1].text === ",")) break;
  }
  return roles.length ? roles : undefined;
}

/** Role words of a policy's `TO` list that are not role names. */
const PSEUDO_ROLES = new Set(["public", "current_user", "session_user", "current_role"]);

/** One policy and the roles it is granted to. */
export interface PolicyRoles {
  /** `policy on schema.table`, for messages, each name as {@link sqlIdent} writes it. */
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
  const t = solidTokens(stmt);
  if (!t) return undefined;
  let i = 2;
  const name = t[i] && tokenName(t[i++]);
  if (name === undefined || !isKeyword(t[i++], "on")) return undefined;
  const first = t[i] && tokenName(t[i++]);
  if (first === undefined) return undefined;
  let table = sqlIdent(first);
  if (t[i]?.kind === "op" && t[i].text === ".") {
    const second = t[i + 1] && tokenName(t[i + 1]);
    if (second === undefined) return undefined;
    table = sqlQualified(first, second);
    i += 2;
  }
  if (isKeyword(t[i], "as")) i += 2;
  if (isKeyword(t[i], "for")) i += 2;
  const roles: string[] = [];
  if (isKeyword(t[i], "to")) {
    i++;
    while (t[i]?.kind === "word" || t[i]?.kind === "quoted") {
      const role = tokenName(t[i])!;
      if (t[i].kind === "quoted" || !PSEUDO_ROLES.has(role)) roles.push(role);
      i++;
      if (t[i]?.kind === "op" && t[i].text === ",") i++;
      else break;
    }
  }
  return { policy: `${sqlIdent(name)} on ${table}`, roles };
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
  const shown = names.slice(0, 5).map(sqlIdent).join(", ") + (names.length > 5 ? ", …" : "");
  const [first, uses] = [...missing.entries()][0];
  const count = [...missing.values()].reduce((n, l) => n + l.length, 0);
  const create = names.slice(0, 3).map((r) => `CREATE ROLE ${sqlIdent(r)} NOLOGIN;`).join(" ");
  const roles = !o.rolesFlag && o.backupHasRoles
    ? "restore with --roles (roles.sql creates the backup's own roles), or "
    : "";
  return usageError(
    `${count} polic${count === 1 ? "y" : "ies"} of the backup name role(s) the target lacks: ${shown} ` +
      `(e.g. policy ${uses[0]} for ${sqlIdent(first)}); nothing was written`,
    `${roles}create them in the target first (${create}); a Supabase project has anon, ` +
      `authenticated and service_role already`,
  );
}
