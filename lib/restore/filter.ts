/**
 * How the SQL that pg_restore writes is adapted to the target: ownership it cannot apply,
 * privileges for missing roles, blocks for schemas and extensions the target already has, `--clean`
 * drops. Every decision is about a whole statement or a whole entry block, as the lexer
 * (lib/pg/lexer.ts) cuts them, never about a physical line: a name or a value may hold newlines.
 * (`\restrict` lines and `SET transaction_timeout` are the guard's, lib/restore/guard.ts.) Pure: no I/O.
 * @module
 */
import type { TargetState } from "./plan.ts";
import { parseScript, type ScriptBlock, scriptText } from "./script.ts";
import { unquoteName } from "../pg/ident.ts";
import { ScriptLexer } from "../pg/lexer.ts";

/** What the filters know about the target and the client. */
export interface FilterContext {
  target: Pick<TargetState, "roles" | "assumable" | "schemas" | "extensions">;
}

/** What a filter removed. */
export interface FilterCounts {
  /** `ALTER … OWNER TO`, `SET SESSION AUTHORIZATION` the target cannot apply. */
  owners: number;
  /** GRANT/REVOKE to missing roles, default privileges of other roles, comments/ACLs on schemas not ours. */
  privileges: number;
}

/** Adds `b` into `a`. */
export function addCounts(a: FilterCounts, b: FilterCounts): void {
  a.owners += b.owners;
  a.privileges += b.privileges;
}

function readRole(text: string): string {
  const q = text.match(/^"((?:[^"]|"")*)"$/);
  return q ? q[1].replaceAll('""', '"') : text;
}

const ROLE = `("(?:[^"]|"")*"|[^\\s;"]+)`;
const OWNER_RE = new RegExp(`^ALTER .* OWNER TO ${ROLE};$`, "s");
const SESSION_RE = new RegExp(`^SET SESSION AUTHORIZATION ${ROLE};$`);
const GRANTEE_RE = new RegExp(
  `^(?:GRANT|REVOKE) .* (?:TO|FROM) ${ROLE}(?: WITH GRANT OPTION)?(?: GRANTED BY ${ROLE})?;$`,
  "s",
);
const DEFAULT_PRIV_RE = new RegExp(`^ALTER DEFAULT PRIVILEGES FOR ROLE ${ROLE} `);

/**
 * Decides, for one whole statement (as the lexer cut it), whether to keep it. Returns "keep", or
 * "owner" or "privilege" (dropped, and why). Dropping a whole statement never leaves a part of it
 * to run, whatever its names hold.
 */
export function judgeStatement(stmt: string, ctx: FilterContext): "keep" | "owner" | "privilege" {
  const line = stmt.trim();
  const { roles, assumable } = ctx.target;
  let m = line.match(OWNER_RE);
  if (m) return assumable.has(readRole(m[1])) ? "keep" : "owner";
  m = line.match(SESSION_RE);
  if (m) return assumable.has(readRole(m[1])) ? "keep" : "owner";
  m = line.match(DEFAULT_PRIV_RE);
  if (m) return assumable.has(readRole(m[1])) ? "keep" : "privilege";
  m = line.match(GRANTEE_RE);
  if (m) {
    const grantee = readRole(m[1]);
    if (grantee !== "PUBLIC" && !roles.has(grantee)) return "privilege";
    if (m[2] !== undefined && !assumable.has(readRole(m[2]))) return "privilege";
  }
  return "keep";
}

/**
 * Adapts a definitions script (pre-data, or a table's schema.sql) to the target: drops the blocks
 * of schemas that already exist (and their comment/ACL when the user does not own the schema), of
 * extensions that already exist (and their comment when the user does not own the extension),
 * ownership and privilege statements it cannot apply and `RESET SESSION AUTHORIZATION` paired with a
 * dropped `SET SESSION AUTHORIZATION`. In `--clean` scripts, `DROP SCHEMA` and `DROP EXTENSION`
 * statements are removed (schemas and extensions are never dropped)
 * and other `DROP … IF EXISTS` get CASCADE. COPY data is left untouched.
 */
export function filterDefinitions(
  text: string,
  ctx: FilterContext,
  opts: { dropBlock?: (b: ScriptBlock) => boolean } = {},
): { text: string; counts: FilterCounts } {
  const script = parseScript(text);
  const counts: FilterCounts = { owners: 0, privileges: 0 };
  const schemaOwnedByOthers = (name: string) => {
    const owner = ctx.target.schemas.get(name);
    return owner !== undefined && !ctx.target.assumable.has(owner);
  };
  script.blocks = script.blocks.filter((b) => {
    if (opts.dropBlock?.(b)) return false;
    if (b.type === "SCHEMA" && b.schema === "-" && ctx.target.schemas.has(unquoteName(b.name))) return false;
    // The restore creates missing extensions before any definitions; one the target has is left
    // as it is (on Supabase, supabase_admin owns them: COMMENT ON EXTENSION would fail).
    if (b.type === "EXTENSION" && b.schema === "-" && ctx.target.extensions?.has(unquoteName(b.name))) {
      return false;
    }
    if (b.type === "COMMENT" && b.schema === "-" && b.name.startsWith("EXTENSION ")) {
      const there = ctx.target.extensions?.get(unquoteName(b.name.slice(10)));
      if (there && !ctx.target.assumable.has(there.owner)) {
        counts.privileges++;
        return false;
      }
    }
    if ((b.type === "COMMENT" || b.type === "ACL") && b.schema === "-" && b.name.startsWith("SCHEMA ")) {
      if (schemaOwnedByOthers(unquoteName(b.name.slice(7)))) {
        counts.privileges++;
        return false;
      }
    }
    return true;
  });
  const statementFilter = (chunk: string) => {
    let out = "";
    let dropReset = false;
    const lx = new ScriptLexer();
    for (const p of [...lx.push(chunk), ...lx.end()]) {
      if (p.kind !== "statement") {
        out += p.text;
        continue;
      }
      const stmt = p.text.trim();
      if (/^DROP (SCHEMA|EXTENSION) (IF EXISTS )?/.test(stmt)) continue;
      const drop = stmt.match(CLEAN_DROP);
      if (drop) {
        // `--clean` scripts: objects outside the backup may depend on these (a trigger on
        // auth.users calling a public function); the restore recreates those it knows.
        out += p.text.replace(/;\s*$/, " CASCADE;");
        continue;
      }
      if (stmt === "RESET SESSION AUTHORIZATION;" && dropReset) {
        dropReset = false;
        continue;
      }
      const v = judgeStatement(stmt, ctx);
      if (v === "keep") out += p.text;
      else if (v === "owner") {
        counts.owners++;
        if (stmt.startsWith("SET SESSION AUTHORIZATION")) dropReset = true;
      } else counts.privileges++;
    }
    return out;
  };
  script.preamble = statementFilter(script.preamble);
  script.blocks = script.blocks.map((b) => ({ ...b, text: statementFilter(b.text) }));
  script.trailer = statementFilter(script.trailer);
  return { text: scriptText(script), counts };
}

const CLEAN_DROP =
  /^(DROP (?:TABLE|VIEW|MATERIALIZED VIEW|FUNCTION|PROCEDURE|AGGREGATE|TYPE|DOMAIN|SEQUENCE) IF EXISTS .*);$/s;

/** Line that summarises skipped ownership/privilege statements (undefined when none were). */
export function skippedLine(c: FilterCounts, user: string): string | undefined {
  if (c.owners === 0 && c.privileges === 0) return undefined;
  const parts: string[] = [];
  if (c.owners) parts.push(`${c.owners} ownership statement(s)`);
  if (c.privileges) parts.push(`${c.privileges} privilege statement(s)`);
  return `skipped ${
    parts.join(" and ")
  } the target cannot apply as ${user} (role missing or not permitted); ` +
    `those objects belong to ${user}`;
}
