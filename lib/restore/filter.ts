/**
 * How the SQL that pg_restore writes is adapted to the target: ownership it cannot apply,
 * privileges for missing roles, `\restrict` lines, `SET transaction_timeout` on servers older than
 * 17, blocks for schemas and extensions the target already has, `--clean` drops. Definitions are
 * filtered whole ({@link filterDefinitions}), data files as a stream ({@link dataLineFilter}). Pure:
 * no I/O.
 * @module
 */
import type { TargetState } from "./plan.ts";
import { parseScript, type ScriptBlock, scriptText } from "./script.ts";
import { unquoteName } from "../pg/ident.ts";

/** What the filters know about the target and the client. */
export interface FilterContext {
  /** The target is older than 17 and rejects `SET transaction_timeout`. */
  dropTransactionTimeout: boolean;
  /** psql is older than the `\restrict` fix and does not know the meta-command. */
  dropRestrict: boolean;
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
const OWNER_RE = new RegExp(`^ALTER .* OWNER TO ${ROLE};$`);
const SESSION_RE = new RegExp(`^SET SESSION AUTHORIZATION ${ROLE};$`);
const GRANTEE_RE = new RegExp(
  `^(?:GRANT|REVOKE) .* (?:TO|FROM) ${ROLE}(?: WITH GRANT OPTION)?(?: GRANTED BY ${ROLE})?;$`,
);
const DEFAULT_PRIV_RE = new RegExp(`^ALTER DEFAULT PRIVILEGES FOR ROLE ${ROLE} `);

/**
 * Decides, for one line outside COPY data, whether to keep it. Returns "keep", "owner" or
 * "privilege" (dropped, and why), or "drop" (dropped silently: `\restrict`, transaction_timeout).
 */
export function judgeLine(line: string, ctx: FilterContext): "keep" | "owner" | "privilege" | "drop" {
  if (ctx.dropRestrict && /^\\(un)?restrict /.test(line)) return "drop";
  if (ctx.dropTransactionTimeout && /^SET transaction_timeout = /.test(line)) return "drop";
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
 * ownership and privilege lines it cannot apply, `RESET SESSION AUTHORIZATION` paired with a dropped
 * `SET SESSION AUTHORIZATION`, and lines the server or psql do not know. In `--clean` scripts,
 * `DROP SCHEMA` and `DROP EXTENSION` lines are removed (schemas and extensions are never dropped)
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
  const lineFilter = (chunk: string) => {
    const out: string[] = [];
    let dropReset = false;
    let inCopy = false;
    for (const line of chunk.split("\n")) {
      if (inCopy) {
        out.push(line);
        if (line === "\\.") inCopy = false;
        continue;
      }
      if (/^COPY .* FROM stdin;$/.test(line)) {
        inCopy = true;
        out.push(line);
        continue;
      }
      if (/^DROP (SCHEMA|EXTENSION) (IF EXISTS )?/.test(line)) continue;
      const drop = line.match(CLEAN_DROP);
      if (drop) {
        // `--clean` scripts: objects outside the backup may depend on these (a trigger on
        // auth.users calling a public function); the restore recreates those it knows.
        out.push(`${drop[1]} CASCADE;`);
        continue;
      }
      if (line === "RESET SESSION AUTHORIZATION;" && dropReset) {
        dropReset = false;
        continue;
      }
      const v = judgeLine(line, ctx);
      if (v === "keep") out.push(line);
      else if (v === "owner") {
        counts.owners++;
        if (line.startsWith("SET SESSION AUTHORIZATION")) dropReset = true;
      } else if (v === "privilege") counts.privileges++;
    }
    return out.join("\n");
  };
  script.preamble = lineFilter(script.preamble);
  script.blocks = script.blocks.map((b) => ({ ...b, text: lineFilter(b.text) }));
  script.trailer = lineFilter(script.trailer);
  return { text: scriptText(script), counts };
}

const CLEAN_DROP =
  /^(DROP (?:TABLE|VIEW|MATERIALIZED VIEW|FUNCTION|PROCEDURE|AGGREGATE|TYPE|DOMAIN|SEQUENCE) IF EXISTS .*);$/;

/**
 * A streaming line filter for data files (COPY blocks and setval calls): drops `\restrict` lines
 * and `SET transaction_timeout` as {@link FilterContext} says, never touching COPY data. Feed it
 * text chunks; it returns the text to pass on. Call with `flush: true` at the end.
 */
export function dataLineFilter(ctx: Pick<FilterContext, "dropRestrict" | "dropTransactionTimeout">) {
  let rest = "";
  let inCopy = false;
  const judge = (line: string): boolean => {
    if (inCopy) {
      if (line === "\\.") inCopy = false;
      return true;
    }
    if (/^COPY .* FROM stdin;$/.test(line)) {
      inCopy = true;
      return true;
    }
    if (ctx.dropRestrict && /^\\(un)?restrict /.test(line)) return false;
    if (ctx.dropTransactionTimeout && /^SET transaction_timeout = /.test(line)) return false;
    return true;
  };
  return (chunk: string, flush = false): string => {
    const text = rest + chunk;
    const cut = flush ? text.length : text.lastIndexOf("\n") + 1;
    rest = text.slice(cut);
    if (cut === 0) return "";
    const body = text.slice(0, cut);
    if (!ctx.dropRestrict && !ctx.dropTransactionTimeout) return body;
    const endsNl = body.endsWith("\n");
    const kept = (endsNl ? body.slice(0, -1) : body).split("\n").filter(judge);
    return kept.length ? kept.join("\n") + (endsNl ? "\n" : "") : "";
  };
}

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
