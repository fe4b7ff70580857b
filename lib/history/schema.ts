/**
 * What a table's schema.sql says, as facts that can be compared: columns (type, default, NOT NULL,
 * identity), constraints, indexes, policies, triggers, row level security, and the rest (owner,
 * grants, comments, sequences). The SQL is split into statements by a tokenizer that knows quotes,
 * dollar quotes and comments, so nothing inside a literal or a name is taken for a statement. Pure:
 * the facts are only compared and shown, never run.
 * @module
 */
import { parseIdentList } from "./copy.ts";

/** The facts of one table's definition. */
export interface TableFacts {
  /** Column name to its definition (type and modifiers), in table order. */
  columns: Map<string, string>;
  /** Constraint name to its definition (`PRIMARY KEY (id)`, `CHECK (…)`, `FOREIGN KEY …`). */
  constraints: Map<string, string>;
  /** Index name to its statement. */
  indexes: Map<string, string>;
  /** Policy name to its statement. */
  policies: Map<string, string>;
  /** Trigger name to its statement. */
  triggers: Map<string, string>;
  /** `enabled`, `forced` (row level security), in that order when set. */
  rls: string[];
  /** Every other statement (owner, grants, comments, sequences), normalised. */
  other: Set<string>;
  /** The primary key's columns, when there is one. */
  primaryKey?: string[];
}

/** One difference between two tables' facts. */
export interface SchemaChange {
  kind: "column" | "constraint" | "index" | "policy" | "trigger" | "rls" | "other";
  /** The column, constraint, … name; for `rls` the setting; for `other` the statement. */
  name: string;
  change: "added" | "removed" | "changed";
  from?: string;
  to?: string;
}

/**
 * Splits SQL into statements, each with runs of whitespace outside quotes folded to one space and
 * comments and psql meta-command lines (`\restrict …`) left out. Pure.
 */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let cur = "";
  let i = 0;
  let lineStart = true;
  const push = () => {
    const t = cur.trim();
    if (t) out.push(t);
    cur = "";
  };
  const space = () => {
    if (cur !== "" && !cur.endsWith(" ")) cur += " ";
  };
  while (i < sql.length) {
    const c = sql[i];
    if (lineStart && c === "\\" && cur.trim() === "") {
      // a psql meta-command line between statements
      const end = sql.indexOf("\n", i);
      i = end < 0 ? sql.length : end + 1;
      continue;
    }
    lineStart = false;
    if (c === "-" && sql[i + 1] === "-") {
      const end = sql.indexOf("\n", i);
      i = end < 0 ? sql.length : end;
      continue;
    }
    if (c === "/" && sql[i + 1] === "*") {
      let depth = 1;
      i += 2;
      while (i < sql.length && depth > 0) {
        if (sql[i] === "/" && sql[i + 1] === "*") (depth++, i += 2);
        else if (sql[i] === "*" && sql[i + 1] === "/") (depth--, i += 2);
        else i++;
      }
      space();
      continue;
    }
    if (c === "'" || c === '"') {
      const escapes = c === "'" && /[eE]$/.test(cur) && !/[A-Za-z0-9_$][eE]$/.test(cur);
      let j = i + 1;
      for (; j < sql.length; j++) {
        if (escapes && sql[j] === "\\") j++;
        else if (sql[j] === c) {
          if (sql[j + 1] === c) j++;
          else break;
        }
      }
      cur += sql.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (c === "$") {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i, i + 70));
      if (tag && !/[A-Za-z0-9_]$/.test(cur)) {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        const stop = end < 0 ? sql.length : end + tag[0].length;
        cur += sql.slice(i, stop);
        i = stop;
        continue;
      }
    }
    if (c === ";") {
      push();
      i++;
      continue;
    }
    if (/\s/.test(c)) {
      if (c === "\n") lineStart = true;
      space();
      i++;
      continue;
    }
    cur += c;
    i++;
  }
  push();
  return out;
}

/** Index after the bracket that closes the one at `open`, skipping quotes. */
function closing(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    const c = s[i];
    if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < s.length && !(s[j] === c && s[j + 1] !== c)) j += s[j] === c ? 2 : 1;
      i = j;
    } else if (c === "(") depth++;
    else if (c === ")" && --depth === 0) return i + 1;
  }
  return -1;
}

/** Splits at commas that are outside brackets and quotes. */
function topLevelParts(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < s.length && !(s[j] === c && s[j + 1] !== c)) j += s[j] === c ? 2 : 1;
      i = j;
    } else if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "," && depth === 0) {
      parts.push(s.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(s.slice(start).trim());
  return parts.filter((p) => p !== "");
}

const IDENT = String.raw`(?:"(?:[^"]|"")*"|[^\s,.()"]+)`;
const QNAME = String.raw`(?:${IDENT}\.)?${IDENT}`;

/** The unquoted form of one identifier as pg_dump writes it. */
function unquote(ident: string): string {
  return ident.startsWith('"') ? ident.slice(1, -1).replaceAll('""', '"') : ident;
}

const RE = {
  createTable: new RegExp(String.raw`^CREATE (?:UNLOGGED )?TABLE (${QNAME}) ?\(`),
  addConstraint: new RegExp(String.raw`^ALTER TABLE (?:ONLY )?${QNAME} ADD CONSTRAINT (${IDENT}) (.*)$`, "s"),
  setDefault: new RegExp(
    String.raw`^ALTER TABLE (?:ONLY )?${QNAME} ALTER COLUMN (${IDENT}) SET DEFAULT (.*)$`,
    "s",
  ),
  identity: new RegExp(
    String
      .raw`^ALTER TABLE (?:ONLY )?${QNAME} ALTER COLUMN (${IDENT}) ADD (GENERATED (?:ALWAYS|BY DEFAULT) AS IDENTITY)`,
  ),
  index: new RegExp(String.raw`^CREATE (?:UNIQUE )?INDEX (${IDENT}) ON `),
  policy: new RegExp(String.raw`^CREATE POLICY (${IDENT}) ON `),
  trigger: new RegExp(String.raw`^CREATE (?:OR REPLACE )?(?:CONSTRAINT )?TRIGGER (${IDENT}) `),
  rls: new RegExp(String.raw`^ALTER TABLE (?:ONLY )?${QNAME} (ENABLE|FORCE) ROW LEVEL SECURITY$`),
  session: /^(SET |SELECT pg_catalog\.set_config\()/,
};

/** Parses a table's schema.sql into {@link TableFacts}. Pure; statements it does not know go to `other`. */
export function parseTableSchema(sql: string): TableFacts {
  const facts: TableFacts = {
    columns: new Map(),
    constraints: new Map(),
    indexes: new Map(),
    policies: new Map(),
    triggers: new Map(),
    rls: [],
    other: new Set(),
  };
  const rls = new Set<string>();
  for (const stmt of splitStatements(sql)) {
    if (RE.session.test(stmt)) continue;
    let m: RegExpExecArray | null;
    if ((m = RE.createTable.exec(stmt))) {
      const open = m[0].length - 1;
      const end = closing(stmt, open);
      if (end < 0) {
        facts.other.add(stmt);
        continue;
      }
      for (const part of topLevelParts(stmt.slice(open + 1, end - 1))) {
        const c = /^CONSTRAINT ("(?:[^"]|"")*"|\S+) (.*)$/s.exec(part);
        if (c) facts.constraints.set(unquote(c[1]), c[2]);
        else {
          const col = new RegExp(String.raw`^(${IDENT}) ?(.*)$`, "s").exec(part)!;
          facts.columns.set(unquote(col[1]), col[2]);
        }
      }
      const tail = stmt.slice(end).trim();
      if (tail) facts.other.add(`table: ${tail}`);
    } else if ((m = RE.addConstraint.exec(stmt))) facts.constraints.set(unquote(m[1]), m[2]);
    else if ((m = RE.setDefault.exec(stmt))) {
      const name = unquote(m[1]);
      facts.columns.set(name, `${facts.columns.get(name) ?? "?"} DEFAULT ${m[2]}`);
    } else if ((m = RE.identity.exec(stmt))) {
      const name = unquote(m[1]);
      facts.columns.set(name, `${facts.columns.get(name) ?? "?"} ${m[2]}`);
    } else if ((m = RE.index.exec(stmt))) facts.indexes.set(unquote(m[1]), stmt);
    else if ((m = RE.policy.exec(stmt))) facts.policies.set(unquote(m[1]), stmt);
    else if ((m = RE.trigger.exec(stmt))) facts.triggers.set(unquote(m[1]), stmt);
    else if ((m = RE.rls.exec(stmt))) rls.add(m[1] === "ENABLE" ? "enabled" : "forced");
    else facts.other.add(stmt);
  }
  facts.rls = ["enabled", "forced"].filter((r) => rls.has(r));
  for (const def of facts.constraints.values()) {
    const pk = /^PRIMARY KEY \((.*)\)$/s.exec(def);
    if (pk) {
      try {
        facts.primaryKey = parseIdentList(pk[1]);
      } catch {
        // an unreadable key list: compare whole rows
      }
    }
  }
  return facts;
}

function compareMaps(
  kind: SchemaChange["kind"],
  a: Map<string, string>,
  b: Map<string, string>,
  out: SchemaChange[],
): void {
  for (const [name, def] of a) {
    if (!b.has(name)) out.push({ kind, name, change: "removed", from: def });
    else if (b.get(name) !== def) out.push({ kind, name, change: "changed", from: def, to: b.get(name) });
  }
  for (const [name, def] of b) if (!a.has(name)) out.push({ kind, name, change: "added", to: def });
}

/** The differences from `a` to `b`, columns first, then constraints, indexes, policies, triggers, RLS, other. Pure. */
export function compareFacts(a: TableFacts, b: TableFacts): SchemaChange[] {
  const out: SchemaChange[] = [];
  compareMaps("column", a.columns, b.columns, out);
  compareMaps("constraint", a.constraints, b.constraints, out);
  compareMaps("index", a.indexes, b.indexes, out);
  compareMaps("policy", a.policies, b.policies, out);
  compareMaps("trigger", a.triggers, b.triggers, out);
  for (const r of a.rls) if (!b.rls.includes(r)) out.push({ kind: "rls", name: r, change: "removed" });
  for (const r of b.rls) if (!a.rls.includes(r)) out.push({ kind: "rls", name: r, change: "added" });
  for (const s of a.other) if (!b.other.has(s)) out.push({ kind: "other", name: s, change: "removed" });
  for (const s of b.other) if (!a.other.has(s)) out.push({ kind: "other", name: s, change: "added" });
  return out;
}
