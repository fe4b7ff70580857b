/**
 * The plain-text scripts pg_restore writes, as data: cut into entry blocks at their `-- Name: …;
 * Type: …` headers and put back together, a table's schema.sql split into what runs before its data
 * and its foreign keys, and the types, domains, sequences and functions a table needs from the
 * schema dumps. Pure: no I/O.
 * @module
 */
import type { QualifiedName } from "../pg/ident.ts";
import { quoteIdent, unquoteName } from "../pg/ident.ts";
import { lexScript, piecesText } from "../pg/lexer.ts";

/** One entry of a pg_restore text script: its `-- Name: …; Type: …` header and its statements. */
export interface ScriptBlock {
  name: string;
  type: string;
  schema: string;
  owner: string;
  /** The block's text, header comment included. */
  text: string;
}

/** A pg_restore text script cut into its preamble (SET lines) and entry blocks. */
export interface Script {
  preamble: string;
  blocks: ScriptBlock[];
  /** Text after the last block's statements (`\unrestrict`, the closing comment). */
  trailer: string;
}

const HEADER = /^-- (?:Data for )?Name: (.*); Type: (.*); Schema: (.*); Owner: (.*)\n$/;

/**
 * Cuts a pg_restore/pg_dump plain-text script into blocks at its `-- Name: …; Type: …; Schema: …;
 * Owner: …` comments, found by the lexer between statements only (a function body or a string that
 * holds such a line stays in its statement). Text before the first header is the preamble; a
 * trailing `-- PostgreSQL database dump complete` comment and what follows is the trailer. Joining
 * preamble, blocks and trailer gives back the text.
 */
export function parseScript(text: string): Script {
  const pieces = lexScript(text);
  let end = pieces.length;
  for (let i = pieces.length - 1; i >= 0; i--) {
    if (pieces[i].kind === "comment" && /^-- PostgreSQL database dump complete/.test(pieces[i].text)) {
      end = i >= 2 && pieces[i - 1].kind === "space" && pieces[i - 2].text === "--\n"
        ? i - 2
        : i >= 1 && pieces[i - 1].text === "--\n"
        ? i - 1
        : i;
      break;
    }
  }
  const blocks: ScriptBlock[] = [];
  let preamble = "";
  let cur: { head: RegExpMatchArray; text: string } | undefined;
  const flush = () => {
    if (!cur) return;
    blocks.push({
      name: cur.head[1],
      type: cur.head[2],
      schema: cur.head[3],
      owner: cur.head[4],
      text: cur.text,
    });
  };
  for (let i = 0; i < end; i++) {
    const p = pieces[i];
    const head = p.kind === "comment" && p.text === "--\n" && pieces[i + 2]?.text === "--\n"
      ? pieces[i + 1]?.kind === "comment" ? pieces[i + 1].text.match(HEADER) : null
      : null;
    if (head) {
      flush();
      cur = { head, text: "" };
    }
    if (cur) cur.text += p.text;
    else preamble += p.text;
  }
  flush();
  return { preamble, blocks, trailer: piecesText(pieces.slice(end)) };
}

/** Serialises a script (possibly with blocks removed) back to text. */
export function scriptText(s: Script): string {
  return s.preamble + s.blocks.map((b) => b.text).join("") + s.trailer;
}

/**
 * The table a foreign key block references: `… REFERENCES schema.table(col)`. Undefined when the
 * block is not a foreign key or the name cannot be read.
 */
export function fkTarget(block: ScriptBlock): QualifiedName | undefined {
  if (block.type !== "FK CONSTRAINT") return undefined;
  const m = block.text.match(/REFERENCES ((?:"(?:[^"]|"")*"|[^\s.("]+)\.(?:"(?:[^"]|"")*"|[^\s.("]+))\(/);
  if (!m) return undefined;
  // [\s\S]: a quoted name may hold a line break
  const parts = m[1].match(/^("(?:[^"]|"")*"|[^.]+)\.([\s\S]*)$/)!;
  return { schema: unquoteName(parts[1]), table: unquoteName(parts[2]) };
}

/**
 * Splits a table's schema.sql into what runs before its data (table, sequences, defaults,
 * constraints, indexes, triggers, policies, grants) and its foreign keys (run after every selected
 * table is loaded). Foreign keys to tables for which `present` is false are dropped and named.
 */
export function splitTableScript(
  text: string,
  present: (q: QualifiedName) => boolean,
): { main: string; fks: string; droppedFks: { name: string; references: string }[] } {
  const s = parseScript(text);
  const fkBlocks: ScriptBlock[] = [];
  const dropped: { name: string; references: string }[] = [];
  const main = s.blocks.filter((b) => {
    if (b.type !== "FK CONSTRAINT") return true;
    const ref = fkTarget(b);
    if (ref && !present(ref)) {
      dropped.push({ name: `${b.schema}.${b.name}`, references: `${ref.schema}.${ref.table}` });
    } else fkBlocks.push(b);
    return false;
  });
  return {
    main: scriptText({ ...s, blocks: main }),
    fks: fkBlocks.length ? scriptText({ ...s, blocks: fkBlocks }) : "",
    droppedFks: dropped,
  };
}

/** A type, domain, sequence or function a table may need that lives outside its schema.sql. */
export interface Dependency {
  schema: string;
  /** Name without argument list. */
  name: string;
  type: "TYPE" | "DOMAIN" | "SEQUENCE" | "FUNCTION";
  block: ScriptBlock;
}

const DEP_TYPES = new Set(["TYPE", "DOMAIN", "SEQUENCE", "FUNCTION"]);
const DEP_ORDER: Record<string, number> = { TYPE: 0, DOMAIN: 1, SEQUENCE: 2, FUNCTION: 3 };

function mentions(text: string, schema: string, name: string): boolean {
  const forms = (n: string) => [...new Set([quoteIdent(n), `"${n.replaceAll('"', '""')}"`, n])];
  for (const s of forms(schema)) {
    for (const n of forms(name)) {
      const i = text.indexOf(`${s}.${n}`);
      if (i < 0) continue;
      const after = text[i + s.length + 1 + n.length] ?? "";
      if (!/[a-z0-9_$]/i.test(after)) return true;
    }
  }
  return false;
}

/**
 * Picks, from pre-data scripts of the backup's schema dumps, the types, domains, sequences and
 * functions that `text` (a table's schema.sql) refers to and the target lacks (`exists` false),
 * following references among them. Objects already defined in `text` are not picked. Returns them
 * in a creatable order (types, domains, sequences, functions; dump order within each).
 */
export function pickDependencies(
  text: string,
  scripts: { schema: string; script: Script }[],
  exists: (d: Omit<Dependency, "block">) => boolean,
): Dependency[] {
  const own = new Set(parseScript(text).blocks.map((b) => `${b.type}\u0000${b.schema}\u0000${b.name}`));
  const candidates: Dependency[] = [];
  for (const { script } of scripts) {
    for (const b of script.blocks) {
      if (!DEP_TYPES.has(b.type) || own.has(`${b.type}\u0000${b.schema}\u0000${b.name}`)) continue;
      const name = unquoteName(b.name.replace(/\(.*$/s, ""));
      const d = { schema: b.schema, name, type: b.type as Dependency["type"] };
      if (exists(d)) continue;
      candidates.push({ ...d, block: b });
    }
  }
  const picked: Dependency[] = [];
  let haystack = text;
  for (let changed = true; changed;) {
    changed = false;
    for (const c of candidates) {
      if (picked.includes(c) || !mentions(haystack, c.schema, c.name)) continue;
      picked.push(c);
      haystack += "\n" + c.block.text;
      changed = true;
    }
  }
  const order = new Map(candidates.map((c, i) => [c, i]));
  return picked.sort((a, b) => DEP_ORDER[a.type] - DEP_ORDER[b.type] || order.get(a)! - order.get(b)!);
}
