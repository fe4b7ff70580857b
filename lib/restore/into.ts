/**
 * `restore --table SCHEMA.TABLE --into SCHEMA.NEW`: one table's schema.sql and data files rewritten so
 * that they create and fill a new table beside the live one. The table, its sequences, indexes,
 * constraints and extended statistics get new names that clash with nothing in the target; foreign
 * keys, triggers, rules, publication memberships and security labels are left out (nothing is created
 * that points at the new table, and nothing from it that could fail or fire); row level security,
 * policies, comments and grants stay, so the copy is no more exposed than the table was.
 *
 * Every statement is read by its structure, as tokens (lib/pg/tokens.ts) of a whole statement as the
 * lexer cut it (lib/pg/lexer.ts): a name is replaced only where the grammar puts a name, so a quoted
 * name holding `CREATE TABLE`, a semicolon or the old table's name is never mistaken for anything.
 * A statement of a shape not known here fails the restore before anything is written. Pure.
 * @module
 */
import { BackupError, usageError } from "../base/errors.ts";
import type { QualifiedName } from "../pg/ident.ts";
import { lexScript } from "../pg/lexer.ts";
import { isKeyword, stringValue, type Token, tokenize, tokenName } from "../pg/tokens.ts";
import { tableKey, type TargetState } from "./plan.ts";

/** The table restored and the name it gets. */
export interface IntoNames {
  from: QualifiedName;
  to: QualifiedName;
}

/** One name the rewrite changed. */
export interface Renamed {
  kind: "table" | "sequence" | "index" | "constraint" | "statistics";
  from: string;
  to: string;
}

/** A table's schema.sql rewritten for `--into`. */
export interface IntoScript {
  /** The statements to run, one after another. */
  text: string;
  renamed: Renamed[];
  /** What was left out, for people: `foreign key x (to s.t)`, `trigger t`, … */
  leftOut: string[];
  /** Old sequence ({@link tableKey}) → its new name, for the `setval` of the data files. */
  sequences: ReadonlyMap<string, QualifiedName>;
}

/** PostgreSQL's longest name, in bytes (NAMEDATALEN - 1); longer ones are cut, and could then clash. */
export const MAX_NAME_BYTES = 63;

const enc = new TextEncoder();

/** A name quoted, always (any character, any word: never read as a keyword). Pure. */
function quoted(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function qname(q: QualifiedName): string {
  return `${quoted(q.schema)}.${quoted(q.table)}`;
}

function shown(q: QualifiedName): string {
  return `${q.schema}.${q.table}`;
}

/**
 * A string literal of `v` that means the same whatever `standard_conforming_strings` is: `'…'`, or
 * `E'…'` with backslashes doubled when it holds one. Pure.
 */
function literal(v: string): string {
  const q = v.replaceAll("'", "''");
  return v.includes("\\") ? `E'${q.replaceAll("\\", "\\\\")}'` : `'${q}'`;
}

function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (const b of enc.encode(s)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0");
}

/** `name` cut to {@link MAX_NAME_BYTES}, with a hash of the whole name when it had to be cut. Pure. */
export function fitName(name: string): string {
  if (enc.encode(name).length <= MAX_NAME_BYTES) return name;
  const chars = [...name];
  while (enc.encode(chars.join("")).length > MAX_NAME_BYTES - 9) chars.pop();
  return `${chars.join("")}_${fnv1a(name)}`;
}

/**
 * Checks what `--into` asks for, before a backup or target is read: exactly one `--table`, neither
 * `--clean` nor `--data-only` (the new table never exists), a name PostgreSQL keeps whole. Pure.
 * Throws a usage error otherwise.
 */
export function checkIntoRequest(
  into: QualifiedName,
  req: { tables: readonly QualifiedName[]; clean: boolean; dataOnly: boolean },
): void {
  const example = "for example: restore --table public.orders --as-of 1d --into public.orders_yesterday";
  if (req.tables.length !== 1) {
    throw usageError(
      req.tables.length === 0
        ? "--into needs --table SCHEMA.TABLE: it restores one table under a new name"
        : `--into restores one table under a new name, but --table was given ${req.tables.length} times`,
      example,
    );
  }
  if (req.clean || req.dataOnly) {
    throw usageError(
      `--into creates a new table; ${req.clean ? "--clean" : "--data-only"} does not go with it`,
      "leave it out: the new name must not exist in the target, and nothing existing is touched",
    );
  }
  for (const part of [into.schema, into.table]) {
    if (enc.encode(part).length > MAX_NAME_BYTES) {
      throw usageError(
        `--into name '${part.slice(0, 20)}…' is longer than ${MAX_NAME_BYTES} bytes`,
        "PostgreSQL cuts longer names; choose a shorter one",
      );
    }
  }
}

/**
 * The names of an `--into` restore (undefined without `--into`): the one selected table and its new
 * name. Pure. Throws a usage error for a partitioned table (its partitions are tables of their own).
 */
export function intoNames(
  req: { into?: QualifiedName; tables: readonly QualifiedName[] },
  selected: readonly { schema: { name: string }; table: { name: string; kind?: string } }[],
): IntoNames | undefined {
  if (!req.into) return undefined;
  const from = req.tables[0];
  if (selected.length !== 1 || selected[0].table.kind === "p") {
    throw usageError(
      `--into: ${shown(from)} is partitioned, and --into restores one plain table`,
      "restore one of its partitions under a new name (--table SCHEMA.PARTITION), or the whole table into a scratch database",
    );
  }
  return { from, to: req.into };
}

/** The plan's note of an `--into` restore: the new names and what is left out. Pure. */
export function intoNote(names: IntoNames, script: IntoScript): string {
  const renamed = script.renamed.slice(1).map((r) => `${r.from} -> ${r.to}`);
  return `${shown(names.from)} is restored as ${shown(names.to)}, beside it${
    renamed.length ? `; renamed ${renamed.join(", ")}` : ""
  }${script.leftOut.length ? `; left out: ${script.leftOut.join(", ")}` : ""}`;
}

/**
 * The usage error for an `--into` name the target already uses (`taken`: the names of relations and
 * types in its schema), or undefined. Pure.
 */
export function intoNameError(to: QualifiedName, taken: ReadonlySet<string>): BackupError | undefined {
  if (!taken.has(to.table)) return undefined;
  return usageError(
    `--into ${shown(to)} already exists in the target (a table, view, index, sequence or type of that name)`,
    "choose a name that is not used in that schema; nothing was written",
  );
}

/**
 * The target as the plan of an `--into` restore sees it: the live table's entry replaced by that of
 * the new name (absent: the table is created, not refused). Pure.
 */
export function intoState(state: TargetState, names: IntoNames): TargetState {
  const tables = new Map(state.tables);
  tables.delete(tableKey(names.from.schema, names.from.table));
  const there = state.tables.get(tableKey(names.to.schema, names.to.table));
  if (there) tables.set(tableKey(names.from.schema, names.from.table), there);
  return { ...state, tables };
}

/** One statement as tokens, with replacements of token runs. */
class Stmt {
  readonly tokens: Token[];
  /** Indices of the tokens that are not space. */
  readonly sig: number[];
  #edits = new Map<number, string>();

  constructor(readonly text: string) {
    this.tokens = tokenize(text);
    this.sig = this.tokens.flatMap((t, i) => (t.kind === "space" ? [] : [i]));
  }

  get length(): number {
    return this.sig.length;
  }

  t(k: number): Token | undefined {
    return this.tokens[this.sig[k]];
  }

  /** Whether the keywords `words` follow from `k`. */
  kw(k: number, ...words: string[]): boolean {
    return words.every((w, j) => isKeyword(this.t(k + j), w));
  }

  op(k: number, text: string): boolean {
    const t = this.t(k);
    return t?.kind === "op" && t.text === text;
  }

  /** A dotted name at `k` (`a`, `a.b`, `a.b.c`): its parts and the index after it. */
  name(k: number): { parts: string[]; end: number } | undefined {
    const parts: string[] = [];
    let i = k;
    for (;;) {
      const t = this.t(i);
      const n = t ? tokenName(t) : undefined;
      if (n === undefined) return undefined;
      parts.push(n);
      i++;
      if (!this.op(i, ".")) return { parts, end: i };
      i++;
    }
  }

  /** The index of the token closing the bracket at `k`. */
  close(k: number): number | undefined {
    let depth = 0;
    for (let i = k; i < this.length; i++) {
      const t = this.t(i)!;
      if (t.kind !== "op") continue;
      if (t.text === "(" || t.text === "[") depth++;
      else if (t.text === ")" || t.text === "]") {
        depth--;
        if (depth === 0) return i;
      }
    }
    return undefined;
  }

  /** Replaces the tokens `k` to `end` (exclusive, with the space between them) by `text`. */
  set(k: number, end: number, text: string): void {
    const first = this.sig[k];
    const last = this.sig[end - 1];
    for (let i = first; i <= last; i++) this.#edits.set(i, "");
    this.#edits.set(first, text);
  }

  out(): string {
    return this.tokens.map((t, i) => this.#edits.get(i) ?? t.text).join("");
  }
}

/** Parses the text of a regclass literal (`shop.orders_id_seq`, `"My"."Seq"`) into its parts. */
function regclassParts(v: string): string[] | undefined {
  try {
    const st = new Stmt(v);
    const n = st.name(0);
    return n && n.end === st.length ? n.parts : undefined;
  } catch {
    return undefined;
  }
}

/** The rewrite of one table's statements: the names it gives, what it leaves out. */
class Rewrite {
  /** Old index or constraint name → new. */
  #names = new Map<string, string>();
  /** Old sequence or statistics (tableKey) → new name (in the new table's schema). */
  #objects = new Map<string, QualifiedName>();
  #used: Set<string>;
  renamed: Renamed[] = [];
  leftOut: string[] = [];
  /** Names of constraints left out (foreign keys): comments on them go too. */
  #dropped = new Set<string>();
  created = false;

  constructor(readonly names: IntoNames, taken: ReadonlySet<string>, readonly where: string) {
    this.#used = new Set([...taken, names.to.table]);
  }

  #fresh(old: string): string {
    const { from, to } = this.names;
    const base = from.table === to.table
      ? old
      : old.startsWith(from.table)
      ? to.table + old.slice(from.table.length)
      : `${to.table}_${old}`;
    let name = fitName(base);
    for (let n = 2; this.#used.has(name); n++) name = fitName(`${base}_${n}`);
    this.#used.add(name);
    return name;
  }

  /** The new name of an index or constraint (given the first time it is met). */
  local(old: string, kind: "index" | "constraint"): string {
    let n = this.#names.get(old);
    if (n === undefined) {
      n = this.#fresh(old);
      this.#names.set(old, n);
      this.renamed.push({ kind, from: old, to: n });
    }
    return n;
  }

  known(old: string): string | undefined {
    return this.#names.get(old);
  }

  /** The new name of a sequence or statistics object `parts` (schema, name). */
  object(parts: string[], kind: "sequence" | "statistics", create: boolean): QualifiedName | undefined {
    if (parts.length !== 2) return undefined;
    const key = tableKey(parts[0], parts[1]);
    let q = this.#objects.get(key);
    if (!q && create) {
      q = { schema: this.names.to.schema, table: this.#fresh(parts[1]) };
      this.#objects.set(key, q);
      this.renamed.push({ kind, from: `${parts[0]}.${parts[1]}`, to: shown(q) });
    }
    return q;
  }

  /** Takes the new name of a sequence renamed by the schema.sql rewrite (for the data files). */
  adopt(key: string, q: QualifiedName): void {
    this.#objects.set(key, q);
  }

  sequences(): Map<string, QualifiedName> {
    return new Map(this.#objects);
  }

  isTable(parts: string[] | undefined): boolean {
    const { from } = this.names;
    return parts?.length === 2 && parts[0] === from.schema && parts[1] === from.table;
  }

  drop(what: string, constraint?: string): string {
    this.leftOut.push(what);
    if (constraint !== undefined) this.#dropped.add(constraint);
    return "";
  }

  isDropped(constraint: string): boolean {
    return this.#dropped.has(constraint);
  }

  refuse(st: Stmt | undefined, why: string): BackupError {
    const head = (st?.text ?? "").trim().replace(/\s+/g, " ");
    const quote = head ? ` (${JSON.stringify(head.length > 60 ? `${head.slice(0, 60)}…` : head)})` : "";
    return new BackupError(
      `--into: ${this.where} holds ${why}, which cannot be restored under a new name${quote}; nothing was written`,
      {
        hint:
          "restore the table under its own name into a scratch database (restore --table … --target-url <scratch>) and copy the rows across",
      },
    );
  }
}

/** Renames the table name at `k` (it must be the restored table); returns the index after it. */
function tableAt(st: Stmt, k: number, rw: Rewrite): number {
  const n = st.name(k);
  if (!n || !rw.isTable(n.parts)) throw rw.refuse(st, "a statement about another table");
  st.set(k, n.end, qname(rw.names.to));
  return n.end;
}

/** `nextval('seq'::regclass)` calls in `st` from `k` to `end`: the renamed sequences' literals replaced. */
function renameNextval(st: Stmt, k: number, end: number, rw: Rewrite): void {
  for (let i = k; i < end; i++) {
    if (!isKeyword(st.t(i), "nextval") || !st.op(i + 1, "(")) continue;
    const lit = st.t(i + 2);
    const v = lit && stringValue(lit);
    if (v === undefined) continue;
    const parts = regclassParts(v);
    const q = parts && rw.object(parts, "sequence", false);
    if (q) st.set(i + 2, i + 3, literal(qname(q)));
  }
}

/** Top-level commas from `k` to `end` (several actions in one ALTER TABLE). */
function hasTopComma(st: Stmt, k: number, end: number): boolean {
  let depth = 0;
  for (let i = k; i < end; i++) {
    const t = st.t(i)!;
    if (t.kind !== "op") continue;
    if (t.text === "(" || t.text === "[") depth++;
    else if (t.text === ")" || t.text === "]") depth--;
    else if (t.text === "," && depth === 0) return true;
  }
  return false;
}

/** `ALTER TABLE [ONLY] [IF EXISTS] name action;` */
function alterTable(st: Stmt, rw: Rewrite): string {
  let k = 2;
  if (st.kw(k, "if", "exists")) k += 2;
  if (st.kw(k, "only")) k++;
  const n = st.name(k);
  const last = st.length - 1;
  if (!n) throw rw.refuse(st, "an ALTER TABLE it cannot read");
  const seq = rw.isTable(n.parts) ? undefined : rw.object(n.parts, "sequence", false);
  if (seq && st.kw(n.end, "owner", "to")) {
    // pg_dump writes a sequence's owner as ALTER TABLE for servers before 16.
    st.set(k, n.end, qname(seq));
    return st.out();
  }
  if (!rw.isTable(n.parts)) {
    // The restored table as a partition of another: it comes back as a table of its own.
    const child = st.kw(n.end, "attach", "partition") ? st.name(n.end + 2) : undefined;
    if (child && rw.isTable(child.parts)) {
      return rw.drop(`its attachment as a partition of ${n.parts.join(".")}`);
    }
    throw rw.refuse(st, "an ALTER TABLE of another table");
  }
  st.set(k, n.end, qname(rw.names.to));
  k = n.end;
  if (hasTopComma(st, k, last)) throw rw.refuse(st, "an ALTER TABLE with several actions");
  if (st.kw(k, "owner", "to")) return st.out();
  if (
    st.kw(k, "enable", "row", "level", "security") || st.kw(k, "force", "row", "level", "security") ||
    st.kw(k, "disable", "row", "level", "security") || st.kw(k, "no", "force", "row", "level", "security")
  ) return st.out();
  if (st.kw(k, "replica", "identity")) {
    if (st.kw(k + 2, "using", "index")) {
      const idx = st.t(k + 4);
      const old = idx && tokenName(idx);
      const now = old === undefined ? undefined : rw.known(old);
      if (now === undefined) throw rw.refuse(st, "a replica identity on an index it does not create");
      st.set(k + 4, k + 5, quoted(now));
    }
    return st.out();
  }
  if (st.kw(k, "cluster", "on")) {
    const idx = st.t(k + 2);
    const old = idx && tokenName(idx);
    const now = old === undefined ? undefined : rw.known(old);
    if (now === undefined) throw rw.refuse(st, "a CLUSTER ON an index it does not create");
    st.set(k + 2, k + 3, quoted(now));
    return st.out();
  }
  if (st.kw(k, "alter")) {
    let c = k + 1;
    if (st.kw(c, "column")) c++;
    c++; // the column's name
    if (st.kw(c, "set", "default")) {
      renameNextval(st, c + 2, last, rw);
      return st.out();
    }
    if (st.kw(c, "add", "generated")) {
      for (let i = c; i < last; i++) {
        if (!st.kw(i, "sequence", "name")) continue;
        const seq = st.name(i + 2);
        const q = seq && rw.object(seq.parts, "sequence", true);
        if (!seq || !q) throw rw.refuse(st, "an identity column whose sequence name it cannot read");
        st.set(i + 2, seq.end, qname(q));
      }
      return st.out();
    }
    if (st.kw(c, "set") || st.kw(c, "drop") || st.kw(c, "reset")) return st.out();
    throw rw.refuse(st, "an ALTER COLUMN it does not know");
  }
  if (st.kw(k, "add", "constraint")) {
    const t = st.t(k + 2);
    const old = t && tokenName(t);
    if (old === undefined) throw rw.refuse(st, "a constraint whose name it cannot read");
    if (st.kw(k + 3, "foreign", "key")) {
      const ref = st.kw(k + 3, "foreign", "key") ? refersTo(st, k + 5) : undefined;
      return rw.drop(`foreign key ${old}${ref ? ` (to ${ref})` : ""}`, old);
    }
    const index = st.kw(k + 3, "primary") || st.kw(k + 3, "unique") || st.kw(k + 3, "exclude");
    st.set(k + 2, k + 3, quoted(rw.local(old, index ? "index" : "constraint")));
    return st.out();
  }
  if (st.kw(k, "validate", "constraint")) {
    const t = st.t(k + 2);
    const old = t && tokenName(t);
    if (old !== undefined && rw.isDropped(old)) return "";
    const now = old === undefined ? undefined : rw.known(old);
    if (now === undefined) throw rw.refuse(st, "a constraint it does not create");
    st.set(k + 2, k + 3, quoted(now));
    return st.out();
  }
  if (st.kw(k, "enable") || st.kw(k, "disable")) {
    let w = k + 1;
    if (st.kw(w, "replica") || st.kw(w, "always")) w++;
    if (st.kw(w, "trigger")) return rw.drop(`the trigger setting ${st.t(w + 1)?.text ?? ""}`.trim());
    if (st.kw(w, "rule")) return rw.drop(`the rule setting ${st.t(w + 1)?.text ?? ""}`.trim());
  }
  if ((st.kw(k, "set") || st.kw(k, "reset")) && st.op(k + 1, "(")) return st.out();
  throw rw.refuse(st, "an ALTER TABLE action it does not know");
}

/** The table a `REFERENCES name(…)` from `k` on names, for messages. */
function refersTo(st: Stmt, k: number): string | undefined {
  for (let i = k; i < st.length; i++) {
    if (!isKeyword(st.t(i), "references")) continue;
    return st.name(i + 1)?.parts.join(".");
  }
  return undefined;
}

/** `CREATE [UNLOGGED] TABLE name (…) [WITH (…)] [USING …];` */
function createTable(st: Stmt, rw: Rewrite, k: number): string {
  const n = st.name(k);
  if (!n || !rw.isTable(n.parts)) throw rw.refuse(st, "a CREATE TABLE of another table");
  if (rw.created) throw rw.refuse(st, "a second CREATE TABLE");
  rw.created = true;
  st.set(k, n.end, qname(rw.names.to));
  if (!st.op(n.end, "(")) {
    throw rw.refuse(st, "a CREATE TABLE without a column list (a typed table or partition)");
  }
  const close = st.close(n.end);
  if (close === undefined) throw rw.refuse(st, "a CREATE TABLE it cannot read");
  for (let i = n.end + 1; i < close; i++) {
    if (isKeyword(st.t(i), "references")) throw rw.refuse(st, "a foreign key inside CREATE TABLE");
    if (isKeyword(st.t(i), "constraint")) {
      const t = st.t(i + 1);
      const old = t && tokenName(t);
      if (old === undefined) throw rw.refuse(st, "a constraint whose name it cannot read");
      const index = st.kw(i + 2, "primary") || st.kw(i + 2, "unique") || st.kw(i + 2, "exclude");
      st.set(i + 1, i + 2, quoted(rw.local(old, index ? "index" : "constraint")));
    }
  }
  for (let i = close + 1; i < st.length; i++) {
    if (isKeyword(st.t(i), "inherits")) throw rw.refuse(st, "a table that inherits from another");
    if (isKeyword(st.t(i), "partition")) throw rw.refuse(st, "a partitioned table");
  }
  return st.out();
}

/** `CREATE [UNIQUE] INDEX name ON [ONLY] table …;` */
function createIndex(st: Stmt, rw: Rewrite, k: number): string {
  const t = st.t(k);
  const old = t && tokenName(t);
  if (old === undefined || !st.kw(k + 1, "on")) throw rw.refuse(st, "a CREATE INDEX it cannot read");
  st.set(k, k + 1, quoted(rw.local(old, "index")));
  tableAt(st, st.kw(k + 2, "only") ? k + 3 : k + 2, rw);
  return st.out();
}

/** `COMMENT ON … IS …;` */
function comment(st: Stmt, rw: Rewrite): string {
  const k = 2;
  if (st.kw(k, "table")) {
    tableAt(st, k + 1, rw);
    return st.out();
  }
  if (st.kw(k, "column")) {
    const n = st.name(k + 1);
    if (!n || n.parts.length !== 3 || !rw.isTable(n.parts.slice(0, 2))) {
      throw rw.refuse(st, "a comment on a column of another table");
    }
    st.set(k + 1, n.end, `${qname(rw.names.to)}.${quoted(n.parts[2])}`);
    return st.out();
  }
  if (st.kw(k, "constraint")) {
    const t = st.t(k + 1);
    const old = t && tokenName(t);
    if (old !== undefined && rw.isDropped(old)) return "";
    const now = old === undefined ? undefined : rw.known(old);
    if (now === undefined || !st.kw(k + 2, "on")) {
      throw rw.refuse(st, "a comment on a constraint it does not create");
    }
    st.set(k + 1, k + 2, quoted(now));
    tableAt(st, k + 3, rw);
    return st.out();
  }
  if (st.kw(k, "index")) {
    const n = st.name(k + 1);
    const now = n?.parts.length === 2 ? rw.known(n.parts[1]) : undefined;
    if (!n || now === undefined) throw rw.refuse(st, "a comment on an index it does not create");
    st.set(k + 1, n.end, qname({ schema: rw.names.to.schema, table: now }));
    return st.out();
  }
  if (st.kw(k, "sequence") || st.kw(k, "statistics")) {
    const n = st.name(k + 1);
    const q = n && rw.object(n.parts, st.kw(k, "sequence") ? "sequence" : "statistics", false);
    if (!n || !q) throw rw.refuse(st, "a comment on an object it does not create");
    st.set(k + 1, n.end, qname(q));
    return st.out();
  }
  if (st.kw(k, "policy") && st.kw(k + 2, "on")) {
    tableAt(st, k + 3, rw);
    return st.out();
  }
  if (st.kw(k, "trigger") || st.kw(k, "rule")) return "";
  throw rw.refuse(st, "a comment it does not know");
}

/** `GRANT …/REVOKE … ON TABLE|SEQUENCE name TO|FROM …;` */
function grant(st: Stmt, rw: Rewrite): string {
  let depth = 0;
  for (let i = 1; i < st.length; i++) {
    const t = st.t(i)!;
    if (t.kind === "op" && t.text === "(") depth++;
    else if (t.kind === "op" && t.text === ")") depth--;
    else if (depth === 0 && isKeyword(t, "on")) {
      if (st.kw(i + 1, "table")) tableAt(st, i + 2, rw);
      else if (st.kw(i + 1, "sequence")) {
        const n = st.name(i + 2);
        const q = n && rw.object(n.parts, "sequence", false);
        if (!n || !q) throw rw.refuse(st, "a grant on a sequence it does not create");
        st.set(i + 2, n.end, qname(q));
      } else throw rw.refuse(st, "a grant it does not know");
      return st.out();
    }
  }
  throw rw.refuse(st, "a grant it cannot read");
}

/** `SELECT pg_catalog.set_config(…)` and `SELECT pg_catalog.setval('seq', n, b)`. */
function select(st: Stmt, rw: Rewrite): string {
  const n = st.name(1);
  const fn = n?.parts.join(".");
  if (n && fn === "pg_catalog.set_config" && st.t(n.end + 1)?.text === "'search_path'") return st.out();
  if (n && fn === "pg_catalog.setval" && st.op(n.end, "(")) {
    const lit = st.t(n.end + 1);
    const v = lit && stringValue(lit);
    const parts = v === undefined ? undefined : regclassParts(v);
    const q = parts && rw.object(parts, "sequence", false);
    if (!q) throw rw.refuse(st, "a setval of a sequence it does not create");
    st.set(n.end + 1, n.end + 2, literal(qname(q)));
    return st.out();
  }
  throw rw.refuse(st, "a SELECT it does not know");
}

/** `SET name = value;` (not standard_conforming_strings = off: names and literals are read as on). */
function set(st: Stmt, rw: Rewrite): string {
  const t = st.t(1);
  if (t && tokenName(t) === "standard_conforming_strings") {
    const v = st.t(3);
    if (!v || !/^'?on'?$/i.test(v.text)) throw rw.refuse(st, "standard_conforming_strings off");
  }
  return st.out();
}

/** One statement of schema.sql (or, with `data`, of a data file) rewritten; "" when left out. */
function rewriteStatement(text: string, rw: Rewrite, data: boolean): string {
  let st: Stmt;
  try {
    st = new Stmt(text);
  } catch {
    throw rw.refuse(undefined, "a statement it cannot read");
  }
  if (!st.op(st.length - 1, ";")) throw rw.refuse(st, "a statement that does not end with ;");
  const out = (() => {
    if (st.kw(0, "set") || st.kw(0, "reset")) return set(st, rw);
    if (st.kw(0, "select")) return select(st, rw);
    if (data) {
      if (st.kw(0, "copy")) {
        tableAt(st, 1, rw);
        return st.out();
      }
      throw rw.refuse(st, "a statement a data file does not hold");
    }
    if (st.kw(0, "create", "table")) return createTable(st, rw, 2);
    if (st.kw(0, "create", "unlogged", "table")) return createTable(st, rw, 3);
    if (st.kw(0, "alter", "table")) return alterTable(st, rw);
    if (st.kw(0, "create", "sequence")) {
      const n = st.name(2);
      const q = n && rw.object(n.parts, "sequence", true);
      if (!n || !q) throw rw.refuse(st, "a CREATE SEQUENCE it cannot read");
      st.set(2, n.end, qname(q));
      return st.out();
    }
    if (st.kw(0, "alter", "sequence")) {
      const n = st.name(2);
      const q = n && rw.object(n.parts, "sequence", false);
      if (!n || !q) throw rw.refuse(st, "an ALTER SEQUENCE of a sequence it does not create");
      st.set(2, n.end, qname(q));
      if (st.kw(n.end, "owner", "to")) return st.out();
      if (st.kw(n.end, "owned", "by")) {
        const col = st.name(n.end + 2);
        if (!col || col.parts.length !== 3 || !rw.isTable(col.parts.slice(0, 2))) {
          throw rw.refuse(st, "a sequence owned by another table");
        }
        st.set(n.end + 2, col.end, `${qname(rw.names.to)}.${quoted(col.parts[2])}`);
        return st.out();
      }
      throw rw.refuse(st, "an ALTER SEQUENCE it does not know");
    }
    if (st.kw(0, "create", "index")) return createIndex(st, rw, 2);
    if (st.kw(0, "create", "unique", "index")) return createIndex(st, rw, 3);
    if (st.kw(0, "create", "policy") && st.kw(3, "on")) {
      tableAt(st, 4, rw);
      return st.out();
    }
    if (st.kw(0, "create", "trigger") || st.kw(0, "create", "constraint", "trigger")) {
      const at = st.kw(1, "constraint") ? 3 : 2;
      return rw.drop(`trigger ${st.t(at) ? tokenName(st.t(at)!) : "?"}`);
    }
    if (st.kw(0, "create", "rule")) return rw.drop(`rule ${st.t(2) ? tokenName(st.t(2)!) : "?"}`);
    if (st.kw(0, "create", "statistics")) {
      const n = st.name(2);
      const q = n && rw.object(n.parts, "statistics", true);
      if (!n || !q) throw rw.refuse(st, "a CREATE STATISTICS it cannot read");
      st.set(2, n.end, qname(q));
      for (let i = n.end; i < st.length; i++) {
        if (isKeyword(st.t(i), "from")) {
          tableAt(st, i + 1, rw);
          return st.out();
        }
      }
      throw rw.refuse(st, "a CREATE STATISTICS it cannot read");
    }
    if (st.kw(0, "alter", "statistics")) {
      const n = st.name(2);
      const q = n && rw.object(n.parts, "statistics", false);
      if (!n || !q) throw rw.refuse(st, "an ALTER STATISTICS of an object it does not create");
      st.set(2, n.end, qname(q));
      return st.out();
    }
    if (st.kw(0, "alter", "index")) {
      if (st.name(2) && st.kw(st.name(2)!.end, "attach", "partition")) return "";
      const n = st.name(2);
      const now = n?.parts.length === 2 ? rw.known(n.parts[1]) : undefined;
      if (!n || now === undefined) throw rw.refuse(st, "an ALTER INDEX of an index it does not create");
      st.set(2, n.end, qname({ schema: rw.names.to.schema, table: now }));
      return st.out();
    }
    if (st.kw(0, "comment", "on")) return comment(st, rw);
    if (st.kw(0, "grant") || st.kw(0, "revoke")) return grant(st, rw);
    if (st.kw(0, "security", "label")) return rw.drop("a security label");
    if (st.kw(0, "alter", "publication")) {
      return rw.drop(`membership of publication ${st.t(2) ? tokenName(st.t(2)!) : "?"}`);
    }
    throw rw.refuse(st, "a statement it does not know");
  })();
  if (out === "") return "";
  // What goes on must again be one whole statement, without a meta-command.
  // (A COPY ends in its data, which follows in the file: the lexer marks it as empty data.)
  const pieces = lexScript(out).filter((p) =>
    p.kind !== "space" && p.kind !== "comment" && !(p.kind === "data" && p.text === "")
  );
  if (pieces.length !== 1 || pieces[0].kind !== "statement" || pieces[0].meta || pieces[0].unterminated) {
    throw rw.refuse(st, "a statement whose rewrite is not one statement");
  }
  return out;
}

/** The statements of a script, meta-commands (`\restrict`) and comments left out. */
function statements(text: string, rw: Rewrite): string[] {
  const out: string[] = [];
  for (const p of lexScript(text)) {
    if (p.kind === "statement") {
      if (p.meta || p.unterminated) {
        throw rw.refuse(undefined, "a statement that does not end, or a meta-command");
      }
      out.push(p.text);
    } else if (p.kind === "data") throw rw.refuse(undefined, "COPY data");
    else if (p.kind === "meta" && !/^\\(?:un)?restrict [A-Za-z0-9]+\s*$/.test(p.text)) {
      throw rw.refuse(undefined, "a psql meta-command");
    }
  }
  return out;
}

/**
 * Rewrites the schema.sql of `names.from` (`text`) to create `names.to` beside it; `taken` holds the
 * names of relations and types in the target's schema of `names.to`, which new names avoid.
 * Throws a {@link BackupError} for a statement of a shape it does not know.
 */
export function intoScript(text: string, names: IntoNames, taken: ReadonlySet<string>): IntoScript {
  const where = `the schema.sql of ${shown(names.from)}`;
  const rw = new Rewrite(names, taken, where);
  const out: string[] = [];
  for (const s of statements(text, rw)) {
    const r = rewriteStatement(s, rw, false);
    if (r) out.push(r.trim());
  }
  if (!rw.created) throw rw.refuse(undefined, `no CREATE TABLE of ${shown(names.from)}`);
  return {
    text: out.join("\n") + "\n",
    renamed: [{ kind: "table", from: shown(names.from), to: shown(names.to) }, ...rw.renamed],
    leftOut: rw.leftOut,
    sequences: rw.sequences(),
  };
}

/**
 * A rewriter of the statements of the table's data files, for the restore session: `COPY` into the
 * new table, `setval` of its renamed sequences, settings as they are; anything else refused.
 */
export function intoDataRewriter(names: IntoNames, script: IntoScript): (statement: string) => string {
  return (statement) => {
    const rw = new Rewrite(names, new Set(), `a data file of ${shown(names.from)}`);
    for (const [key, q] of script.sequences) rw.adopt(key, q);
    const lead = statement.match(/^\s*/)![0];
    return lead + rewriteStatement(statement.slice(lead.length), rw, true);
  };
}
