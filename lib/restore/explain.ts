/**
 * Hints for a restore that psql ended with a server error the restore can explain better than
 * "run again with BACKUP_DEBUG=1": a foreign key whose rows point into a table without them (load
 * that table first), and a view over a table this restore leaves out (restore that table too). Only
 * names the backup holds are quoted back, written as SQL writes them (lib/pg/ident.ts), never the
 * server's text, which quotes names without escaping them. Pure.
 * @module
 */
import { sqlQualified } from "../pg/ident.ts";
import type { QualifiedName } from "../pg/ident.ts";
import { isKeyword, solidTokens, tokenName } from "../pg/tokens.ts";

/** psql's first `ERROR:` message and its `DETAIL:`, each without the prefix (a name may hold line breaks). */
function serverError(stderr: string): { error: string; detail: string } | undefined {
  const at = stderr.search(/(?:^|\n)(?:psql:[^\n]*?:\d+: )?ERROR: {1,2}/);
  if (at < 0) return undefined;
  const rest = stderr.slice(at).replace(/^\n?(?:psql:[^\n]*?:\d+: )?ERROR: {1,2}/, "");
  const d = rest.search(/\nDETAIL: {1,2}/);
  const next = (s: string) => {
    const n = s.search(/\n(?:HINT|CONTEXT|LINE \d+|psql:[^\n]*?:\d+):/);
    return n < 0 ? s : s.slice(0, n);
  };
  if (d < 0) return { error: next(rest), detail: "" };
  return { error: rest.slice(0, d), detail: next(rest.slice(d).replace(/^\nDETAIL: {1,2}/, "")) };
}

/** The backup's tables named `name` (unqualified, as the server names a table in these errors). */
function byName(tables: readonly QualifiedName[], name: string | undefined): QualifiedName[] {
  return name === undefined ? [] : tables.filter((t) => t.table === name);
}

function shown(list: readonly QualifiedName[]): string {
  const names = list.map((t) => sqlQualified(t.schema, t.table));
  return names.length === 1 ? names[0] : `one of ${names.join(", ")}`;
}

/**
 * The hint for `insert or update on table "child" violates foreign key constraint "…"` with
 * `DETAIL: Key (…)=(…) is not present in table "parent".`: rows of the child point to rows that the
 * referenced table does not have in the target, because it was not restored with it (`--table` of
 * the child alone) or its rows come later. Names the referenced table to load first, schema
 * qualified and quoted, when the backup has a table of that name; undefined for another error.
 */
export function foreignKeyHint(
  stderr: string,
  tables: readonly QualifiedName[],
  inTarget: (t: QualifiedName) => boolean,
): string | undefined {
  const e = serverError(stderr);
  if (!e) return undefined;
  const child = e.error.match(/^insert or update on table "([\s\S]*)" violates foreign key constraint "/);
  // The key's values come first and may hold anything: the table is the last one named.
  const parent = e.detail.match(/[\s\S]*\) is not present in table "([\s\S]*)"\.\s*$/);
  if (!child || !parent) return undefined;
  const refs = byName(tables, parent[1]);
  if (refs.length === 0) return undefined;
  const from = byName(tables, child[1]);
  const rows = from.length > 0 ? `rows of ${shown(from)}` : "rows of the restore";
  const ref = shown(refs);
  const one = refs.length === 1 ? sqlQualified(refs[0].schema, refs[0].table) : undefined;
  if (one && inTarget(refs[0])) {
    return `${rows} point to rows that ${ref} does not have in the target (a foreign key): load ${ref}'s rows ` +
      `first (restore --data-only --table ${one}), then run the restore again`;
  }
  const flags = one && from.length === 1
    ? ` (--table ${one} --table ${sqlQualified(from[0].schema, from[0].table)})`
    : "";
  return `${rows} point to rows of ${ref}, which this restore does not load (a foreign key): restore ${ref} ` +
    `in the same run${flags}, or load its rows into the target first, then run the restore again`;
}

/** A view of the backup: its name and the tables (schema-qualified, as pg_dump writes them) it reads. */
export interface ViewUse {
  view: QualifiedName;
  uses: QualifiedName[];
}

/**
 * The view a `CREATE [MATERIALIZED] VIEW` statement (as pg_dump writes it: every name qualified)
 * creates and the qualified names it reads (`schema.name` pairs of its query); undefined for any other
 * statement. Read token by token, quoted names whole. Pure.
 */
export function viewUses(stmt: string): ViewUse | undefined {
  if (!/^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:MATERIALIZED\s+)?(?:RECURSIVE\s+)?VIEW\s/i.test(stmt)) {
    return undefined;
  }
  const t = solidTokens(stmt);
  if (!t) return undefined;
  const v = t.findIndex((x) => isKeyword(x, "view"));
  const pair = (i: number): QualifiedName | undefined => {
    const a = t[i], dot = t[i + 1], b = t[i + 2];
    if (!a || !b || dot?.kind !== "op" || dot.text !== ".") return undefined;
    if ((a.kind !== "word" && a.kind !== "quoted") || (b.kind !== "word" && b.kind !== "quoted")) {
      return undefined;
    }
    return { schema: tokenName(a)!, table: tokenName(b)! };
  };
  const view = pair(v + 1);
  if (!view) return undefined;
  const uses: QualifiedName[] = [];
  for (let i = v + 4; i < t.length; i++) {
    const q = pair(i);
    if (q && !(t[i - 1]?.kind === "op" && t[i - 1].text === ".")) uses.push(q);
  }
  return { view, uses };
}

/**
 * The hint for `relation "s.t" does not exist` when `s.t` is a table of the backup that this restore
 * leaves out (`left`: excluded with `--exclude-table`, or not selected) and the target does not
 * have, naming the views of `views` that read it. Undefined for another error or another relation.
 */
export function leftOutTableHint(
  stderr: string,
  left: readonly QualifiedName[],
  views: readonly ViewUse[],
): string | undefined {
  const e = serverError(stderr);
  const m = e?.error.match(/^relation "([\s\S]*)" does not exist\s*$/);
  if (!m) return undefined;
  // The server joins schema and name with a dot, unquoted: compare the same way.
  const table = left.find((t) => `${t.schema}.${t.table}` === m[1]);
  if (!table) return undefined;
  const name = sqlQualified(table.schema, table.table);
  const users = views.filter((v) => v.uses.some((u) => u.schema === table.schema && u.table === table.table))
    .map((v) => sqlQualified(v.view.schema, v.view.table));
  const who = users.length === 0
    ? "a definition of the restore"
    : `view${users.length === 1 ? "" : "s"} ${users.slice(0, 3).join(", ")}${users.length > 3 ? ", …" : ""}`;
  return `${who} of the backup read${
    users.length === 1 ? "s" : ""
  } table ${name}, which this restore leaves ` +
    `out and the target does not have: restore ${name} too (leave out its --exclude-table, or add --table ${name}), ` +
    `or create it in the target first, then run the restore again`;
}
