/**
 * roles.sql: the output of `pg_dumpall --roles-only --no-role-passwords` with Supabase's reserved
 * roles removed and the attributes a non-superuser cannot restore stripped. Pure.
 * @module
 */

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

/** The role a roles.sql statement is about, for CREATE/ALTER/COMMENT ON ROLE; undefined otherwise. */
export function subjectRole(line: string): string | undefined {
  const m = line.match(/^(?:CREATE ROLE|ALTER ROLE|COMMENT ON ROLE|SECURITY LABEL FOR \S+ ON ROLE) (.*)$/);
  return m ? readIdent(m[1]) : undefined;
}

/** The role and member of a `GRANT role TO member …;` membership line. */
function grantParts(line: string): { role: string; member: string } | undefined {
  const m = line.match(/^GRANT ((?:"(?:[^"]|"")*"|\S+)) TO (.*)$/);
  if (!m) return undefined;
  const role = readIdent(m[1]), member = readIdent(m[2]);
  return role !== undefined && member !== undefined ? { role, member } : undefined;
}

/**
 * Filters pg_dumpall's roles output: drops statements about reserved roles and memberships
 * among them, strips ` NOSUPERUSER`, ` NOREPLICATION` and `GRANTED BY …`. Returns the new text
 * and the roles that were kept.
 */
export function filterRoles(text: string): { sql: string; kept: string[] } {
  const out: string[] = [];
  const kept = new Set<string>();
  for (const line of text.split("\n")) {
    const subject = subjectRole(line);
    if (subject !== undefined) {
      if (isReservedRole(subject)) continue;
      if (line.startsWith("CREATE ROLE")) kept.add(subject);
      out.push(line.replaceAll(" NOSUPERUSER", "").replaceAll(" NOREPLICATION", ""));
      continue;
    }
    const grant = grantParts(line);
    if (grant !== undefined) {
      // memberships among Supabase's own roles already exist on every project
      if (isReservedRole(grant.member) && isReservedRole(grant.role)) continue;
      out.push(line.replace(/ GRANTED BY (?:"(?:[^"]|"")*"|[^\s;]+)/, ""));
      continue;
    }
    out.push(line);
  }
  return { sql: out.join("\n").replace(/\n{4,}/g, "\n\n\n"), kept: [...kept].sort() };
}
