/**
 * roles.sql: the output of `pg_dumpall --roles-only --no-role-passwords` with Supabase's reserved
 * roles removed and the attributes a non-superuser cannot restore stripped. Pure.
 * @module
 */
import { lexScript } from "../pg/lexer.ts";

const RESERVED = new Set([
  "anon",
  "authenticated",
  "authenticator",
  "dashboard_user",
  "pgbouncer",
  "postgres",
  "service_role",
  "pgsodium_keyholder",
  "pgsodium_keyiduser",
  "pgsodium_keymaker",
  "pgtle_admin",
]);

/** Is `role` one Supabase creates itself (left out of roles.sql)? */
export function isReservedRole(role: string): boolean {
  return RESERVED.has(role) || role.startsWith("supabase_") || role.startsWith("cli_login_") ||
    role.startsWith("pg_");
}

function readIdent(text: string): string | undefined {
  const q = text.match(/^"((?:[^"]|"")*)"/);
  if (q) return q[1].replaceAll('""', '"');
  return text.match(/^([^\s;]+)/)?.[1];
}

const SUBJECT =
  /^(?:CREATE ROLE|ALTER ROLE|COMMENT ON ROLE|SECURITY LABEL FOR \S+ ON ROLE) ("(?:[^"]|"")*"|[^\s;]+)/;

/** The role a roles.sql statement is about, for CREATE/ALTER/COMMENT ON ROLE; undefined otherwise. */
export function subjectRole(stmt: string): string | undefined {
  const m = stmt.match(SUBJECT);
  return m ? readIdent(m[1]) : undefined;
}

/** The role and member of a `GRANT role TO member …;` membership line. */
function grantParts(stmt: string): { role: string; member: string } | undefined {
  const m = stmt.match(/^GRANT ((?:"(?:[^"]|"")*"|\S+)) TO (.*)$/s);
  if (!m) return undefined;
  const role = readIdent(m[1]), member = readIdent(m[2]);
  return role !== undefined && member !== undefined ? { role, member } : undefined;
}

/**
 * Filters pg_dumpall's roles output, statement by statement as the lexer cuts it (a role's setting may
 * hold newlines): drops statements about reserved roles and memberships among them, strips
 * ` NOSUPERUSER`, ` NOREPLICATION` (after the role's name) and `GRANTED BY …`. Returns the new text
 * and the roles that were kept.
 */
export function filterRoles(text: string): { sql: string; kept: string[] } {
  let out = "";
  const kept = new Set<string>();
  let dropNewline = false;
  for (const p of lexScript(text)) {
    if (dropNewline && p.kind === "space" && p.text.startsWith("\n")) {
      out += p.text.slice(1);
      dropNewline = false;
      continue;
    }
    dropNewline = false;
    if (p.kind !== "statement") {
      out += p.text;
      continue;
    }
    const stmt = p.text;
    const subject = subjectRole(stmt);
    if (subject !== undefined) {
      if (isReservedRole(subject)) {
        dropNewline = true;
        continue;
      }
      if (stmt.startsWith("CREATE ROLE")) kept.add(subject);
      const head = stmt.match(SUBJECT)![0];
      out += head + stmt.slice(head.length).replaceAll(" NOSUPERUSER", "").replaceAll(" NOREPLICATION", "");
      continue;
    }
    const grant = grantParts(stmt);
    if (grant !== undefined) {
      // memberships among Supabase's own roles already exist on every project
      if (isReservedRole(grant.member) && isReservedRole(grant.role)) {
        dropNewline = true;
        continue;
      }
      out += stmt.replace(/ GRANTED BY (?:"(?:[^"]|"")*"|[^\s;]+)(?=;$)/, "");
      continue;
    }
    out += stmt;
  }
  return { sql: out.replace(/\n{4,}/g, "\n\n\n"), kept: [...kept].sort() };
}
