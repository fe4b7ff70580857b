/**
 * Which tables a rule or a trigger writes into (issue 12 item 6): a restore of some tables or schemas
 * leaves out the rules and triggers that write into a table of the backup it does not restore and the
 * target lacks, with a warning, as it does for foreign keys. A rule's commands are in its `CREATE RULE`
 * (after `DO`); a trigger's are in the body of the function it executes. The names are read from the
 * SQL with its string literals and comments blanked out, so a name in a string or a comment does not
 * count; what stays unknown (dynamic SQL) is not judged, only recognised ({@link runsDynamicSql}). Pure: no I/O.
 * @module
 */
import { lexScript } from "../pg/lexer.ts";
import { unquoteName } from "../pg/ident.ts";
import type { ScriptBlock } from "./script.ts";

/** A table a statement writes into: `schema` undefined when the name is not qualified. */
export interface WriteTarget {
  schema?: string;
  table: string;
}

const NAME = `(?:"(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_$]*)`;
const WRITE = new RegExp(
  `\\b(?:INSERT\\s+INTO|UPDATE(?:\\s+ONLY)?|DELETE\\s+FROM(?:\\s+ONLY)?|MERGE\\s+INTO(?:\\s+ONLY)?|TRUNCATE(?:\\s+TABLE)?(?:\\s+ONLY)?)\\s+(${NAME})(?:\\s*\\.\\s*(${NAME}))?`,
  "gi",
);

/**
 * `sql` with the contents of its string literals (`'…'`, `E'…'`), quoted identifiers kept, and its
 * comments (`-- …`, `/* … *\/`) blanked out; dollar-quoted bodies are kept (they are code).
 */
function blankLiterals(sql: string): string {
  let out = "";
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    if (c === "'") {
      const escapes = i > 0 && /[eE]/.test(sql[i - 1]) && !/[A-Za-z0-9_]/.test(sql[i - 2] ?? "");
      let j = i + 1;
      for (; j < sql.length; j++) {
        if (escapes && sql[j] === "\\") j++;
        else if (sql[j] === "'") {
          if (sql[j + 1] === "'") j++;
          else break;
        }
      }
      out += "''";
      i = j + 1;
    } else if (c === '"') {
      const j = sql.indexOf('"', i + 1);
      let end = j < 0 ? sql.length : j;
      while (end < sql.length && sql[end + 1] === '"') {
        const k = sql.indexOf('"', end + 2);
        end = k < 0 ? sql.length : k;
      }
      out += sql.slice(i, end + 1);
      i = end + 1;
    } else if (c === "-" && sql[i + 1] === "-") {
      const j = sql.indexOf("\n", i);
      i = j < 0 ? sql.length : j;
    } else if (c === "/" && sql[i + 1] === "*") {
      const j = sql.indexOf("*/", i + 2);
      out += " ";
      i = j < 0 ? sql.length : j + 2;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** The tables the statements of `sql` write into (INSERT, UPDATE, DELETE, MERGE, TRUNCATE), in order. */
export function writeTargets(sql: string): WriteTarget[] {
  const out: WriteTarget[] = [];
  for (const m of blankLiterals(sql).matchAll(WRITE)) {
    out.push(
      m[2] === undefined
        ? { table: unquoteName(m[1]) }
        : { schema: unquoteName(m[1]), table: unquoteName(m[2]) },
    );
  }
  return out;
}

/** The first statement of `block` that starts with `head`, trimmed. */
function statementOf(block: ScriptBlock, head: RegExp): string | undefined {
  for (const p of lexScript(block.text)) {
    if (p.kind === "statement" && head.test(p.text.trim())) return p.text.trim();
  }
  return undefined;
}

/** The tables a `RULE` block's commands write into (what follows its `DO`). */
export function ruleWrites(block: ScriptBlock): WriteTarget[] {
  const stmt = statementOf(block, /^CREATE (?:OR REPLACE )?RULE /);
  if (!stmt) return [];
  const blanked = blankLiterals(stmt);
  const at = blanked.search(/\sDO\s/);
  return at < 0 ? [] : writeTargets(blanked.slice(at));
}

/** The function a `TRIGGER` block executes: its schema and name (without arguments). */
export function triggerFunction(block: ScriptBlock): { schema: string; name: string } | undefined {
  const stmt = statementOf(block, /^CREATE (?:OR REPLACE )?(?:CONSTRAINT )?TRIGGER /);
  const m = stmt && blankLiterals(stmt).match(
    new RegExp(`EXECUTE\\s+(?:FUNCTION|PROCEDURE)\\s+(${NAME})\\s*\\.\\s*(${NAME})\\s*\\(`),
  );
  return m ? { schema: unquoteName(m[1]), name: unquoteName(m[2]) } : undefined;
}

/**
 * Whether a function's body runs dynamic SQL (PL/pgSQL `EXECUTE …`, other than the `EXECUTE FUNCTION`
 * of a trigger it might create): the tables such a function writes into cannot be read from it.
 */
export function runsDynamicSql(fn: ScriptBlock): boolean {
  const stmt = statementOf(fn, /^CREATE (?:OR REPLACE )?(?:FUNCTION|PROCEDURE) /);
  if (!stmt) return false;
  return /\bEXECUTE\b(?!\s+(?:FUNCTION|PROCEDURE)\b)/i.test(blankLiterals(stmt));
}

/**
 * The schemas an unqualified name in a function resolves in: those of its `SET search_path` clause
 * when it has one, else PostgreSQL's default (`public`).
 */
export function functionSearchPath(fn: ScriptBlock): string[] {
  const stmt = statementOf(fn, /^CREATE (?:OR REPLACE )?(?:FUNCTION|PROCEDURE) /) ?? "";
  // The clause stands before the body: look only at what comes before the first dollar quote.
  const head = stmt.split(/\$[A-Za-z_]*\$/)[0];
  const m = head.match(/\bSET search_path TO (.*?)\n/);
  if (!m) return ["public"];
  return m[1].split(",").map((s) => s.trim().replace(/^'(.*)'$/s, "$1").replace(/^"(.*)"$/s, "$1"))
    .filter((s) => s !== "" && s !== "$user" && s !== '"$user"');
}

/**
 * The tables of the backup that `block` (a `RULE` or `TRIGGER` entry) writes into and that are not
 * `present` (restored, or in the target), as `schema.table`. `fn` finds a function's entry in the
 * backup; `inBackup` says whether the backup holds a table. A name that resolves to no table of the
 * backup is not judged. Empty for other entries.
 */
export function writesOutside(
  block: ScriptBlock,
  fn: (schema: string, name: string) => ScriptBlock | undefined,
  present: (schema: string, table: string) => boolean,
  inBackup: (schema: string, table: string) => boolean,
): string[] {
  let targets: WriteTarget[] = [];
  let path = ["public"];
  if (block.type === "RULE") targets = ruleWrites(block);
  else if (block.type === "TRIGGER") {
    const f = triggerFunction(block);
    const def = f && fn(f.schema, f.name);
    if (!def) return [];
    targets = writeTargets(statementOf(def, /^CREATE (?:OR REPLACE )?(?:FUNCTION|PROCEDURE) /) ?? "");
    path = functionSearchPath(def);
  }
  const out: string[] = [];
  for (const t of targets) {
    const schemas = t.schema !== undefined ? [t.schema] : path;
    const hit = schemas.find((s) => present(s, t.table) || inBackup(s, t.table));
    if (hit === undefined || present(hit, t.table)) continue;
    const name = `${hit}.${t.table}`;
    if (!out.includes(name)) out.push(name);
  }
  return out;
}
