/**
 * The `COPY … FROM stdin;` statements pg_dump writes, and their rows in COPY's text format: reading the
 * statement's table and column list, and loading only some of the columns (into a table whose columns
 * differ: a Supabase-managed table of another version). Fields of a text-format row are separated by
 * tabs, and a tab inside a value is always written as `\t`, so cutting a row at its tabs is exact. Pure.
 * @module
 */
import { quoteIdent, unquoteName } from "./ident.ts";

/** A COPY statement's parts. */
export interface CopyHeader {
  /** The table as written (`schema.table`, quoted as pg_dump quoted it). */
  table: string;
  /** Its column names, unquoted, in order. */
  columns: string[];
}

/** Reads one identifier (quoted or not) at `i`; returns it as written and the index after it. */
function identAt(s: string, i: number): [string, number] | undefined {
  if (s[i] === '"') {
    let j = i + 1;
    for (;;) {
      const q = s.indexOf('"', j);
      if (q < 0) return undefined;
      if (s[q + 1] === '"') j = q + 2;
      else return [s.slice(i, q + 1), q + 1];
    }
  }
  const m = /^[^\s.(),"]+/.exec(s.slice(i));
  return m ? [m[0], i + m[0].length] : undefined;
}

/** Parses `COPY name (col, …) FROM stdin;` (as one whole statement). Undefined when it has another shape. */
export function parseCopyHeader(stmt: string): CopyHeader | undefined {
  const s = stmt.trim();
  if (!/^COPY\s/.test(s) || !/\sFROM\s+stdin\s*;$/i.test(s)) return undefined;
  let i = 4;
  while (/\s/.test(s[i])) i++;
  const start = i;
  for (;;) {
    const id = identAt(s, i);
    if (!id) return undefined;
    i = id[1];
    if (s[i] !== ".") break;
    i++;
  }
  const table = s.slice(start, i);
  while (/\s/.test(s[i])) i++;
  const columns: string[] = [];
  if (s[i] === "(") {
    i++;
    for (;;) {
      while (/\s/.test(s[i])) i++;
      const id = identAt(s, i);
      if (!id) return undefined;
      columns.push(unquoteName(id[0]));
      i = id[1];
      while (/\s/.test(s[i])) i++;
      if (s[i] === ",") {
        i++;
        continue;
      }
      if (s[i] !== ")") return undefined;
      i++;
      break;
    }
  }
  if (!/^\s*FROM\s+stdin\s*;$/i.test(s.slice(i))) return undefined;
  return { table, columns };
}

/**
 * A COPY statement that loads only `keep` of the header's columns (in the header's order), into
 * `table` when given (an SQL name, already quoted) instead of the header's.
 */
export function copyStatement(h: CopyHeader, keep: readonly string[], table?: string): string {
  const cols = h.columns.filter((c) => keep.includes(c)).map(quoteIdent).join(", ");
  return `COPY ${table ?? h.table} (${cols}) FROM stdin;`;
}

/** For each column of `h`, whether {@link cutRows} keeps it. */
export function keptFields(h: CopyHeader, keep: readonly string[]): boolean[] {
  return h.columns.map((c) => keep.includes(c));
}

/**
 * Cuts whole rows (text ending at a newline; the `\.` line passes as it is) down to the kept fields.
 */
export function cutRows(text: string, kept: readonly boolean[]): string {
  if (kept.every(Boolean)) return text;
  let out = "";
  let i = 0;
  while (i < text.length) {
    let nl = text.indexOf("\n", i);
    if (nl < 0) nl = text.length;
    const line = text.slice(i, nl);
    if (line === "\\." || line === "\\.\r") out += line;
    else {
      const fields = line.split("\t");
      let first = true;
      for (let f = 0; f < fields.length; f++) {
        if (!kept[f]) continue;
        out += first ? fields[f] : "\t" + fields[f];
        first = false;
      }
    }
    if (nl < text.length) out += "\n";
    i = nl + 1;
  }
  return out;
}
