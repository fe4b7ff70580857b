/**
 * SQL identifiers as pg_dump writes them: quoting a name where PostgreSQL needs it, and reading a
 * quoted one back. Pure.
 * @module
 */

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
