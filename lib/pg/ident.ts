/**
 * SQL identifiers as pg_dump writes them: quoting a name where PostgreSQL needs it, and reading a
 * quoted one back. Pure.
 * @module
 */
import { usageError } from "../base/errors.ts";
import { NON_PRINTING } from "../base/output.ts";

/** A schema-qualified name. */
export interface QualifiedName {
  schema: string;
  table: string;
}

/**
 * Parses `schema.table`, with optional double quotes around either part (`"my.schema"."T"`), or
 * `U&"…"` with `\XXXX` escapes as {@link sqlIdent} writes a name with a control character.
 * `flag` names the flag in the error. Throws a usage error when the schema part is missing.
 */
export function parseQualifiedName(text: string, flag: string): QualifiedName {
  const parts: string[] = [];
  let i = 0;
  while (i <= text.length) {
    let part = "";
    // U&"…": the form sqlIdent writes a name with a control character in (\XXXX, \+XXXXXX, \\)
    const unicode = (text[i] === "U" || text[i] === "u") && text[i + 1] === "&" && text[i + 2] === '"';
    if (unicode) i += 2;
    if (text[i] === '"') {
      i++;
      while (i < text.length) {
        if (text[i] === '"' && text[i + 1] === '"') {
          part += '"';
          i += 2;
        } else if (text[i] === '"') break;
        else if (unicode && text[i] === "\\") {
          const esc = text.slice(i + 1).match(/^(?:\\|([0-9a-fA-F]{4})|\+([0-9a-fA-F]{6}))/);
          if (!esc || parseInt(esc[1] ?? esc[2] ?? "0", 16) > 0x10ffff) {
            throw usageError(
              `${flag} '${text}' has a bad escape in U&"…"`,
              `write \\XXXX (4 hex digits) or \\\\`,
            );
          }
          part += esc[0] === "\\" ? "\\" : String.fromCodePoint(parseInt(esc[1] ?? esc[2], 16));
          i += 1 + esc[0].length;
        } else part += text[i++];
      }
      if (text[i] !== '"') {
        throw usageError(`${flag} '${text}' has an unclosed quote`, `write ${flag} "Schema"."Table"`);
      }
      i++;
    } else {
      while (i < text.length && text[i] !== ".") part += text[i++];
    }
    parts.push(part);
    if (i >= text.length) break;
    if (text[i] !== ".") {
      throw usageError(`${flag} '${text}' is not SCHEMA.TABLE`, `write ${flag} public.my_table`);
    }
    i++;
  }
  if (parts.length !== 2 || !parts[0] || !parts[1]) {
    throw usageError(
      `${flag} '${text}' needs a schema: SCHEMA.TABLE`,
      `for example ${flag} public.${parts[parts.length - 1] || "my_table"}`,
    );
  }
  return { schema: parts[0], table: parts[1] };
}

/** Quotes an identifier the way PostgreSQL needs it: plain when lower-case simple, else in double quotes. */
export function quoteIdent(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) && !RESERVED_WORDS.has(name)
    ? name
    : `"${name.replaceAll('"', '""')}"`;
}

/**
 * An identifier as SQL that stays on one line and shows what it is: {@link quoteIdent}, or, when
 * the name holds a non-printing character, `U&"…"` with that character escaped (`a⏎b` →
 * `U&"a\000ab"`), which PostgreSQL reads back as the same name. For SQL the tool prints (hints,
 * diff's statements) or runs. Pure.
 */
export function sqlIdent(name: string): string {
  if (!NON_PRINTING.test(name)) return quoteIdent(name);
  let out = "";
  for (const c of name) {
    if (c === "\\") out += "\\\\";
    else if (c === '"') out += '""';
    else if (NON_PRINTING.test(c)) out += `\\${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
    else out += c;
  }
  return `U&"${out}"`;
}

/** `schema.table` as {@link sqlIdent} writes each part. Pure. */
export function sqlQualified(schema: string, table: string): string {
  return `${sqlIdent(schema)}.${sqlIdent(table)}`;
}

/** `schema.table`, each part quoted as needed. */
export function qualified(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

// Reserved key words that pg_dump always quotes (enough for names people actually use).
const RESERVED_WORDS = new Set([
  "all",
  "analyse",
  "analyze",
  "and",
  "any",
  "array",
  "as",
  "asc",
  "both",
  "case",
  "cast",
  "check",
  "collate",
  "column",
  "constraint",
  "create",
  "default",
  "desc",
  "distinct",
  "do",
  "else",
  "end",
  "except",
  "false",
  "for",
  "foreign",
  "from",
  "grant",
  "group",
  "having",
  "in",
  "limit",
  "not",
  "null",
  "offset",
  "on",
  "only",
  "or",
  "order",
  "primary",
  "references",
  "select",
  "table",
  "then",
  "to",
  "true",
  "union",
  "unique",
  "user",
  "using",
  "when",
  "where",
  "with",
]);

/** `"My Schema"` → `My Schema`; plain names unchanged. */
export function unquoteName(name: string): string {
  const q = name.match(/^"((?:[^"]|"")*)"$/);
  return q ? q[1].replaceAll('""', '"') : name;
}
