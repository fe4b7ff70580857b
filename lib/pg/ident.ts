/**
 * SQL identifiers as pg_dump writes them: quoting a name where PostgreSQL needs it, and reading a
 * quoted one back. Pure.
 * @module
 */
import { usageError } from "../base/errors.ts";

/** A schema-qualified name. */
export interface QualifiedName {
  schema: string;
  table: string;
}

/**
 * Parses `schema.table`, with optional double quotes around either part (`"my.schema"."T"`).
 * `flag` names the flag in the error. Throws a usage error when the schema part is missing.
 */
export function parseQualifiedName(text: string, flag: string): QualifiedName {
  const parts: string[] = [];
  let i = 0;
  while (i <= text.length) {
    let part = "";
    if (text[i] === '"') {
      i++;
      while (i < text.length) {
        if (text[i] === '"' && text[i + 1] === '"') {
          part += '"';
          i += 2;
        } else if (text[i] === '"') break;
        else part += text[i++];
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
