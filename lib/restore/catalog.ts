/**
 * catalog.sql on the restore side (issue 12). A backup's catalog.sql is pg_dump's schema-only script of
 * the whole database, written in the same snapshot as the schema dumps, so its entries stand in
 * pg_dump's one dependency order across schemas. The restore uses it two ways:
 *
 * - **Order.** The definitions still come from each schema's dump; {@link inCatalogOrder} merges their
 *   entry blocks into the order the same entries have in catalog.sql, so that views that cross schemas
 *   both ways (`a.w → b.v → a.t`) are created in an order that works.
 * - **Database-level objects** on a whole restore ({@link planCatalog}): access methods, foreign data
 *   wrappers, servers, casts and transforms before the definitions; publications, event triggers and
 *   database-wide default privileges after everything else. Each is a decision of the plan (create,
 *   already in the target, skipped or refused, and why); user mappings are never in the backup, so the
 *   plan names those the user must create again.
 *
 * catalog.sql is a backup file like any other and is not trusted: its entries are cut by the statement
 * lexer, every statement of an entry the restore runs must be one that an entry of that type holds
 * (a `CAST` entry holds `CREATE CAST` and nothing else), and all of it then passes the filter and the
 * session's guard. Pure: no I/O.
 * @module
 */
import { BackupError } from "../base/errors.ts";
import { lexScript } from "../pg/lexer.ts";
import { quoteIdent, unquoteName } from "../pg/ident.ts";
import { parsePgVersion } from "../pg/tools.ts";
import { isKeyword, type Token, tokenize, tokenName } from "../pg/tokens.ts";
import type { Manifest, ManifestUserMapping } from "../store/manifest.ts";
import type { RestoreRequest, TargetState } from "./plan.ts";
import type { Script, ScriptBlock } from "./script.ts";

/** The identity of an entry block: its type, schema and name (as its header gives them). */
export function blockKey(b: Pick<ScriptBlock, "type" | "schema" | "name">): string {
  return `${b.type}\u0000${b.schema}\u0000${b.name}`;
}

/** Statements whose effect lasts for the entries after them (pg_restore writes them only on a change). */
const STATE_SET = /^SET (default_tablespace|default_table_access_method) = [^;]*;$/;
/** Text every statement {@link STATE_SET} matches holds. */
const STATE_HINT = "SET default_ta";

/** Applies the state statements of `text` to `state` (setting name → the whole statement). */
function applyState(text: string, state: Map<string, string>): void {
  // Most blocks hold none: not lexed again (a state statement holds this text).
  if (!text.includes(STATE_HINT)) return;
  for (const p of lexScript(text)) {
    if (p.kind !== "statement") continue;
    const s = p.text.trim();
    const m = s.match(STATE_SET);
    if (m) state.set(m[1], s);
  }
}

/**
 * `text` without its `SET default_tablespace`/`default_table_access_method` statements (whole
 * statements, as the lexer cuts them).
 */
export function withoutState(text: string): string {
  if (!text.includes(STATE_HINT)) return text;
  let out = "";
  for (const p of lexScript(text)) {
    if (p.kind === "statement" && STATE_SET.test(p.text.trim())) continue;
    out += p.text;
  }
  return out;
}

/**
 * Merges the entry blocks of `scripts` (pre-data scripts of schema dumps, and entries of catalog.sql)
 * into one script, each block at the place the same entry has in `catalog`. A block that catalog.sql
 * lacks stays right after the block before it in its own script; without any match, the scripts keep
 * their order. pg_restore writes `SET default_tablespace` and `SET default_table_access_method` only
 * where they change, so these are taken out where they stand and each block gets again, in front of
 * it, the ones it ran under in its own script (copied whole from there) where they differ from what
 * is in effect. The preambles are joined (each one's `SET` statements, `--clean` drops); the first
 * script's trailer ends it.
 */
export function inCatalogOrder(scripts: readonly Script[], catalog: Script): Script {
  const positions = new Map<string, number[]>();
  catalog.blocks.forEach((b, i) => {
    const k = blockKey(b);
    positions.set(k, [...(positions.get(k) ?? []), i]);
  });
  interface Item {
    block: ScriptBlock;
    pos: number;
    /** 0: found in catalog.sql; 1: placed after the block before it. */
    rank: number;
    seq: number;
    before: Map<string, string>;
  }
  const items: Item[] = [];
  let seq = 0;
  for (const s of scripts) {
    const seen = new Map<string, number>();
    const state = new Map<string, string>();
    applyState(s.preamble, state);
    let last = -1;
    for (const block of s.blocks) {
      const k = blockKey(block);
      const n = seen.get(k) ?? 0;
      seen.set(k, n + 1);
      const at = positions.get(k)?.[n];
      const before = new Map(state);
      applyState(block.text, state);
      if (at !== undefined) last = at;
      items.push({ block, pos: at ?? last, rank: at === undefined ? 1 : 0, seq: seq++, before });
    }
  }
  items.sort((x, y) => x.pos - y.pos || x.rank - y.rank || x.seq - y.seq);
  const cur = new Map<string, string>();
  const blocks = items.map((it) => {
    let prefix = "";
    for (const [k, v] of it.before) {
      if (cur.get(k) !== v) prefix += `${v}\n\n`;
      cur.set(k, v);
    }
    return { ...it.block, text: prefix + withoutState(it.block.text) };
  });
  return {
    preamble: scripts.map((s) => withoutState(s.preamble)).join(""),
    blocks,
    trailer: scripts[0]?.trailer ?? "",
  };
}

/** What a restore does about one database-level object of catalog.sql. */
export type CatalogAction =
  /** created by the restore */
  | "create"
  /** the target has one by that name: left as it is (entries that add to it, such as a publication's tables, still run) */
  | "present"
  /** left out, with the reason in the plan */
  | "skip"
  /** the restore cannot do without it and the target role cannot create it: stops before writing (exit 2) */
  | "refuse";

/** One database-level object of catalog.sql and what the restore does about it. */
export interface CatalogObject {
  /** pg_dump's entry type: `ACCESS METHOD`, `FOREIGN DATA WRAPPER`, `SERVER`, `CAST`, … */
  type: string;
  /** Its name (for a cast or transform, the part after the type word: `(a.mood AS text)`). */
  name: string;
  action: CatalogAction;
  reason: string;
  /** Created before the definitions (`pre`) or after everything else (`post`). */
  phase: "pre" | "post";
  /** Indexes of the catalog.sql blocks the restore runs for it (itself, comments, privileges, tables added). */
  entries: number[];
  /** For a refused object a grant lets the role create: the statement a superuser runs first. */
  grant?: string;
}

/** The part of a restore plan that comes from catalog.sql. */
export interface CatalogPlan {
  /** The backup file (checked against the manifest like the others). */
  file: string;
  /** Database-level objects, in catalog.sql's order (a `--schema` restore: only the access methods its tables need). */
  objects: CatalogObject[];
  /** User mappings of restored servers: never in a backup, to be created again with their secrets. */
  userMappings: ManifestUserMapping[];
  /**
   * The target's own default privileges of the connected user that the backup's replace: in the
   * schemas the restore creates definitions in, and database-wide on a whole restore. They are revoked
   * and not granted back; the source's (if it had any) are restored as pg_dump wrote them.
   */
  defaults: ReplacedDefault[];
  notes: string[];
}

/** One of the target's default privileges that a restore replaces by the source's. */
export interface ReplacedDefault {
  /** The schema, or null for database-wide. */
  schema: string | null;
  /** pg_default_acl.defaclobjtype: r, S, f, T, n. */
  type: string;
  /** Who the target's grants them to. */
  grantees: string[];
  /** The source had default privileges there too (false: the target's are simply removed). */
  source: boolean;
}

const DEFAULT_ACL_TYPES: Record<string, string> = {
  TABLES: "r",
  SEQUENCES: "S",
  FUNCTIONS: "f",
  TYPES: "T",
  SCHEMAS: "n",
};
const DEFAULT_ACL_WORDS: Record<string, string> = {
  r: "tables",
  S: "sequences",
  f: "functions",
  T: "types",
  n: "schemas",
};

/**
 * The target's default privileges (of its connected user) that a restore replaces: those of the
 * schemas in `ddl`, and the database-wide ones when `whole`; each with whether catalog.sql holds the
 * source's for the same role, schema and kind.
 */
export function replacedDefaults(
  catalog: Script,
  target: TargetState,
  ddl: ReadonlySet<string>,
  whole: boolean,
): ReplacedDefault[] {
  const source = new Set<string>();
  for (const b of catalog.blocks) {
    if (b.type !== "DEFAULT ACL" || b.owner !== target.user) continue;
    const t = DEFAULT_ACL_TYPES[b.name.replace(/^DEFAULT PRIVILEGES FOR /, "")];
    if (t) source.add(`${b.schema === "-" ? "" : b.schema}\u0000${t}`);
  }
  const out = new Map<string, ReplacedDefault>();
  for (const d of target.defaultAcl ?? []) {
    if (d.schema === null ? !whole : !ddl.has(d.schema)) continue;
    const k = `${d.schema ?? ""}\u0000${d.type}`;
    let r = out.get(k);
    if (!r) {
      r = { schema: d.schema, type: d.type, grantees: [], source: source.has(k) };
      out.set(k, r);
    }
    if (!r.grantees.includes(d.grantee)) r.grantees.push(d.grantee);
  }
  return [...out.values()];
}

/** What {@link planCatalog} needs to know about the rest of the plan. */
export interface CatalogScope {
  /** Schemas whose definitions the restore creates (from their dumps). */
  ddl: ReadonlySet<string>;
  /** Schemas the restore leaves out (`--exclude-schema`). */
  excluded: ReadonlySet<string>;
  /** Is this table (of a restored or an existing schema) in the target after the restore? */
  hasTable: (schema: string, table: string) => boolean;
  /** The target is a Supabase project (its managed schemas exist). */
  supabase: boolean;
  /** Schemas Supabase manages, per the manifest. */
  managed: ReadonlySet<string>;
}

/** Database-level entry types, the phase each runs in, and the word its comments and grants name it by. */
const OBJECT_TYPES: Record<string, { phase: "pre" | "post"; words: string[] }> = {
  "ACCESS METHOD": { phase: "pre", words: ["ACCESS METHOD"] },
  "FOREIGN DATA WRAPPER": { phase: "pre", words: ["FOREIGN DATA WRAPPER"] },
  SERVER: { phase: "pre", words: ["SERVER", "FOREIGN SERVER"] },
  CAST: { phase: "pre", words: [] },
  TRANSFORM: { phase: "pre", words: [] },
  PUBLICATION: { phase: "post", words: ["PUBLICATION"] },
  "EVENT TRIGGER": { phase: "post", words: ["EVENT TRIGGER"] },
  "DEFAULT ACL": { phase: "post", words: [] },
};
const DEPENDENT_TYPES = new Set(["COMMENT", "ACL", "SECURITY LABEL"]);
const PUBLICATION_PARTS = new Set(["PUBLICATION TABLE", "PUBLICATION TABLES IN SCHEMA"]);

/** The statements an entry of each type may hold; anything else in an entry the restore runs refuses the restore. */
const ALLOWED: Record<string, RegExp> = {
  "ACCESS METHOD": /^CREATE ACCESS METHOD /,
  "FOREIGN DATA WRAPPER": /^(?:CREATE|ALTER) FOREIGN DATA WRAPPER /,
  SERVER: /^(?:CREATE|ALTER) SERVER /,
  CAST: /^CREATE CAST /,
  TRANSFORM: /^CREATE TRANSFORM /,
  PUBLICATION: /^(?:CREATE|ALTER) PUBLICATION /,
  "PUBLICATION TABLE": /^ALTER PUBLICATION /,
  "PUBLICATION TABLES IN SCHEMA": /^ALTER PUBLICATION /,
  "EVENT TRIGGER": /^(?:CREATE|ALTER) EVENT TRIGGER /,
  "DEFAULT ACL": /^ALTER DEFAULT PRIVILEGES /,
  COMMENT: /^COMMENT ON /,
  "SECURITY LABEL": /^SECURITY LABEL /,
  ACL: /^(?:GRANT|REVOKE) /,
};
/** What pg_dump writes before its first entry. */
const PREAMBLE_STATEMENT =
  /^(?:SET [a-z_]+ = [^;]*;|SELECT pg_catalog\.set_config\('search_path', '', false\);)$/;

/** The key of a database-level object in {@link TargetState.globals}. */
export function globalKey(type: string, name: string): string {
  return `${type}\u0000${name}`;
}

function refusedEntry(what: string, statement: string): BackupError {
  const t = statement.trim();
  return new BackupError(
    `catalog.sql: ${what} holds a statement that such an entry cannot hold (${
      JSON.stringify(t.slice(0, 40) + (t.length > 40 ? "…" : ""))
    }); nothing was run`,
    {
      hint:
        "the backup was changed after it was written or is damaged: restore another backup, and check who can write to the backup repository",
    },
  );
}

/**
 * Throws a {@link BackupError} (exit 1) unless every statement of `block` is one an entry of its type
 * holds (or a `SET default_tablespace`/`default_table_access_method` between entries), and it holds no
 * psql meta-command.
 */
export function checkEntry(block: ScriptBlock): void {
  const allowed = ALLOWED[block.type];
  const what = `entry ${JSON.stringify(block.name)} (${block.type})`;
  for (const p of lexScript(block.text)) {
    if (p.kind === "meta" || p.meta) throw refusedEntry(what, p.text);
    if (p.kind !== "statement") continue;
    const s = p.text.trim();
    if (STATE_SET.test(s)) continue;
    if (!allowed?.test(s)) throw refusedEntry(what, s);
  }
}

/** Throws unless catalog.sql's preamble holds only what pg_dump writes there (`SET …`, the empty search_path). */
export function checkPreamble(catalog: Script): void {
  for (const p of lexScript(catalog.preamble)) {
    if (p.kind === "meta" && /^\\restrict [A-Za-z0-9]+[ \t]*\r?\n?$/.test(p.text)) continue;
    if (p.kind === "meta" || p.meta) throw refusedEntry("the preamble", p.text);
    if (p.kind === "statement" && !PREAMBLE_STATEMENT.test(p.text.trim())) {
      throw refusedEntry("the preamble", p.text);
    }
  }
}

function displayName(type: string, tag: string): string {
  return (type === "CAST" || type === "TRANSFORM") && tag.startsWith(`${type} `)
    ? tag.slice(type.length + 1)
    : tag;
}

/** `access method heap2`, `cast (a.mood AS text)`: an object as the plan names it. */
export function describeObject(o: Pick<CatalogObject, "type" | "name">): string {
  if (o.type === "DEFAULT ACL") return o.name;
  return `${o.type.toLowerCase()} ${o.name}`;
}

/** The names a comment or grant on an object of `type` called `tag` has in its header. */
function dependentNames(type: string, tag: string): string[] {
  const words = OBJECT_TYPES[type].words;
  if (words.length === 0) return [tag];
  return words.flatMap((
    w,
  ) => [`${w} ${tag}`, `${w} ${quoteIdent(tag)}`, `${w} "${tag.replaceAll('"', '""')}"`]);
}

/**
 * Plans the database-level objects of a whole restore from catalog.sql (parsed): for each one,
 * create, present (the target has it), skip or refuse, with the reason; the user mappings to create
 * again; and notes. A `--schema` restore takes only the access methods its tables are created
 * with; `--data-only` none. Throws a {@link BackupError} when an entry it would run holds a
 * statement its type cannot hold.
 */
export function planCatalog(
  file: string,
  catalog: Script,
  m: Manifest,
  req: RestoreRequest,
  target: TargetState,
  scope: CatalogScope,
): CatalogPlan {
  const plan: CatalogPlan = { file, objects: [], userMappings: [], defaults: [], notes: [] };
  const dumpMajor = parsePgVersion(m.pgDumpVersion)?.major ?? 0;
  if (target.serverMajor < 17 && dumpMajor >= 17) {
    plan.notes.push(
      `SET transaction_timeout (written by pg_dump ${dumpMajor}) is left out: PostgreSQL ${target.serverMajor} does not have it`,
    );
  }
  const whole = req.schemas.length === 0 && req.tables.length === 0 && !req.dataOnly;
  if (req.dataOnly || req.tables.length > 0) return plan;
  checkPreamble(catalog);
  plan.defaults = replacedDefaults(catalog, target, scope.ddl, whole);
  const blocks = catalog.blocks;
  // Tables per access method, as pg_restore's SET default_table_access_method before each says.
  const amTables = new Map<string, number>();
  // pg_dump's plain script leaves the SET out while a table's method is the source database's default.
  const dbDefault = m.database.settings?.find((x) => x.name === "default_table_access_method")?.value;
  const state = new Map<string, string>();
  applyState(catalog.preamble, state);
  for (const b of blocks) {
    const before = new Map(state);
    applyState(b.text, state);
    if ((b.type !== "TABLE" && b.type !== "MATERIALIZED VIEW") || !scope.ddl.has(b.schema)) continue;
    const set = before.get("default_table_access_method")?.match(/= (.*);$/)?.[1];
    const am = set === undefined ? dbDefault : unquoteName(set);
    if (am) amTables.set(am, (amTables.get(am) ?? 0) + 1);
  }
  const objects: CatalogObject[] = [];
  const byDependentName = new Map<string, CatalogObject>();
  const publications = new Map<string, CatalogObject>();
  blocks.forEach((b, i) => {
    const spec = OBJECT_TYPES[b.type];
    if (!spec || b.schema !== "-") return;
    // Restoring some schemas: only the access methods their tables are created with.
    if (!whole && !(b.type === "ACCESS METHOD" && amTables.get(b.name))) return;
    const o: CatalogObject = {
      type: b.type,
      name: displayName(b.type, b.name),
      action: "create",
      reason: "",
      phase: spec.phase,
      entries: [i],
    };
    if (b.type === "DEFAULT ACL") {
      o.name = `default privileges of role ${b.owner} (database-wide): ${
        b.name.replace(/^DEFAULT PRIVILEGES /, "").toLowerCase()
      }`;
    }
    decide(o, b, target, scope, amTables);
    if (o.action === "present") o.entries = [];
    objects.push(o);
    if (b.type !== "DEFAULT ACL") {
      for (const n of dependentNames(b.type, b.name)) byDependentName.set(n, o);
    }
    if (b.type === "PUBLICATION") publications.set(b.name, o);
  });
  blocks.forEach((b, i) => {
    if (DEPENDENT_TYPES.has(b.type) && b.schema === "-") {
      const o = byDependentName.get(b.name);
      if (o) {
        if (o.action === "create") o.entries.push(i);
        return;
      }
      // A grant on a wrapper that an extension created (its own entry is the extension's).
      const wrapper = whole && b.type === "ACL" && b.name.match(/^FOREIGN DATA WRAPPER (.+)$/);
      if (wrapper) {
        objects.push({
          type: "ACL",
          name: `privileges on foreign data wrapper ${unquoteName(wrapper[1])}`,
          action: "create",
          reason: "",
          phase: "pre",
          entries: [i],
        });
      }
      return;
    }
    if (!PUBLICATION_PARTS.has(b.type)) return;
    const pub = [...publications.keys()].filter((p) =>
      b.name.startsWith(`${p} `)
    ).sort((x, y) => y.length - x.length)[0];
    const o = pub === undefined ? undefined : publications.get(pub)!;
    if (!o || (o.action !== "create" && o.action !== "present")) {
      return;
    }
    const rest = b.name.slice(pub!.length + 1);
    const there = b.type === "PUBLICATION TABLE"
      ? scope.hasTable(b.schema, rest)
      : !scope.excluded.has(b.schema) && (scope.ddl.has(b.schema) || target.schemas.has(b.schema));
    if (there) {
      o.entries.push(i);
    } else {
      plan.notes.push(
        `publication ${pub}: ${
          b.type === "PUBLICATION TABLE" ? `table ${b.schema}.${rest}` : `schema ${b.schema}`
        } is not added (not restored)`,
      );
    }
  });
  for (const o of objects) for (const i of o.entries) checkEntry(blocks[i]);
  plan.objects = objects;
  const servers = new Set(
    objects.filter((o) => o.type === "SERVER" && (o.action === "create" || o.action === "present")).map((o) =>
      o.name
    ),
  );
  plan.userMappings = (m.userMappings ?? []).filter((u) => servers.has(u.server));
  const settings = whole ? m.database.settings ?? [] : [];
  if (settings.length > 0) {
    plan.notes.push(
      `database settings of the source are not restored (set them with ALTER DATABASE … SET): ${
        settings.map((x) => x.name).join(", ")
      }`,
    );
  }
  for (const u of plan.userMappings) {
    const opts = u.options === null
      ? "options unknown"
      : u.options.length
      ? `options ${u.options.join(", ")}`
      : "no options";
    plan.notes.push(
      `user mapping for ${u.user} on server ${u.server} (${opts}) is not in the backup (it may hold a password): ` +
        `create it again: CREATE USER MAPPING FOR ${quoteIdent(u.user)} SERVER ${
          quoteIdent(u.server)
        } OPTIONS (…)`,
    );
  }
  return plan;
}

/**
 * The foreign data wrapper a `CREATE SERVER name … FOREIGN DATA WRAPPER fdw …` statement of an
 * entry's text names, read token by token; undefined when the entry holds no such statement.
 */
export function serverWrapper(text: string): string | undefined {
  for (const p of lexScript(text)) {
    if (p.kind !== "statement") continue;
    let toks: Token[];
    try {
      toks = tokenize(p.text).filter((t) => t.kind !== "space");
    } catch {
      continue;
    }
    if (!isKeyword(toks[0], "create") || !isKeyword(toks[1], "server")) continue;
    for (let i = 2; i + 3 < toks.length; i++) {
      if (
        isKeyword(toks[i], "foreign") && isKeyword(toks[i + 1], "data") && isKeyword(toks[i + 2], "wrapper")
      ) {
        return tokenName(toks[i + 3]);
      }
    }
  }
  return undefined;
}

/** Decides one object (sets `action` and `reason`). */
function decide(
  o: CatalogObject,
  b: ScriptBlock,
  target: TargetState,
  scope: CatalogScope,
  amTables: ReadonlyMap<string, number>,
): void {
  const set = (action: CatalogAction, reason: string) => {
    o.action = action;
    o.reason = reason;
  };
  const present = o.type !== "DEFAULT ACL" && target.globals?.has(globalKey(o.type, b.name));
  if (o.type === "EVENT TRIGGER") {
    const fn = b.text.match(/EXECUTE (?:FUNCTION|PROCEDURE) ("(?:[^"]|"")*"|[^\s."(]+)\./)?.[1];
    const fnSchema = fn === undefined ? undefined : unquoteName(fn);
    if (
      scope.supabase &&
      (b.owner === "supabase_admin" || (fnSchema !== undefined && scope.managed.has(fnSchema)))
    ) {
      return set("skip", "Supabase's own: the target project has its own");
    }
    if (present) return set("present", "the target has one by that name: left as it is");
    if (fnSchema !== undefined && scope.excluded.has(fnSchema)) {
      return set("skip", `its function is in schema ${fnSchema}, which is left out`);
    }
    // A backup of some schemas (`backup --schema public`) still has the whole database's event
    // triggers in catalog.sql; one whose function's schema is neither restored nor in the target
    // cannot be created (Supabase's own call functions in `extensions`).
    if (
      fnSchema !== undefined && fnSchema !== "pg_catalog" && !scope.ddl.has(fnSchema) &&
      !target.schemas.has(fnSchema)
    ) {
      return set(
        "skip",
        `its function is in schema ${fnSchema}, which is neither restored nor in the target`,
      );
    }
    if (!target.superuser) {
      return set(
        "skip",
        `only a superuser may create an event trigger (${target.user} is not): create it again as one`,
      );
    }
    return set("create", "");
  }
  if (present) return set("present", "the target has one by that name: left as it is");
  if (o.type === "SERVER" && !target.superuser) {
    // CREATE SERVER needs USAGE on its wrapper; one an extension of the target made (postgres_fdw) is
    // the extension owner's, and a non-superuser has no USAGE on it unless granted.
    const fdw = serverWrapper(b.text);
    if (
      fdw !== undefined && target.globals?.has(globalKey("FOREIGN DATA WRAPPER", fdw)) &&
      target.usableWrappers !== undefined && !target.usableWrappers.has(fdw)
    ) {
      set("refuse", `${target.user} may not use its foreign data wrapper ${fdw} (no USAGE)`);
      o.grant = `GRANT USAGE ON FOREIGN DATA WRAPPER ${quoteIdent(fdw)} TO ${quoteIdent(target.user)};`;
      return;
    }
  }
  if (o.type === "ACCESS METHOD") {
    const n = amTables.get(b.name) ?? 0;
    if (target.superuser) return set("create", n ? `${n} table(s) use it` : "");
    if (n > 0) {
      return set(
        "refuse",
        `${n} table(s) use it, and only a superuser may create an access method (${target.user} is not)`,
      );
    }
    return set(
      "skip",
      `only a superuser may create an access method (${target.user} is not); no restored table uses it`,
    );
  }
  if (o.type === "FOREIGN DATA WRAPPER" && !target.superuser) {
    return set("refuse", `only a superuser may create a foreign data wrapper (${target.user} is not)`);
  }
  if (
    o.type === "PUBLICATION" && !target.superuser &&
    lexScript(b.text).some((p) =>
      p.kind === "statement" && /^CREATE PUBLICATION .* FOR ALL TABLES/s.test(p.text.trim())
    )
  ) {
    return set("skip", `FOR ALL TABLES needs a superuser (${target.user} is not): create it again as one`);
  }
  if (o.type === "DEFAULT ACL" && !target.superuser && !target.assumable.has(b.owner)) {
    return set("skip", `${target.user} may not act for role ${b.owner}`);
  }
  set("create", "");
}

/**
 * The refusal (exit 2) of a plan with database-level objects the restore needs and the target role
 * cannot create, before anything is written; undefined when there are none.
 */
export function catalogError(plan: CatalogPlan | undefined, target: TargetState): BackupError | undefined {
  const refused = plan?.objects.filter((o) => o.action === "refuse") ?? [];
  if (refused.length === 0) return undefined;
  const grants = refused.flatMap((o) => o.grant === undefined ? [] : [o.grant]);
  const message = `the restore needs ${
    refused.map((o) => `${describeObject(o)} (${o.reason})`).join(", ")
  }; nothing was written`;
  if (grants.length === refused.length) {
    return new BackupError(message, {
      exitCode: 2,
      hint: `have a superuser run ${
        grants.join(" ")
      } in the target, then run the restore again as ${target.user}`,
    });
  }
  return new BackupError(message, {
    exitCode: 2,
    hint: `restore as a superuser, or have a superuser create ${
      refused.length === 1 ? "it" : "them"
    } in the target first (as in the source), then run the restore again as ${target.user}`,
  });
}

/** The plan's lines about catalog.sql (for the plan text). */
export function formatCatalogPlan(plan: CatalogPlan | undefined): string[] {
  if (!plan) return [];
  const out = [`  definitions in catalog.sql's order (one dependency order across schemas)`];
  if (plan.objects.length > 0) out.push("  database-level objects (catalog.sql):");
  const words: Record<CatalogAction, string> = {
    create: "create",
    present: "in the target, left as it is",
    skip: "SKIPPED",
    refuse: "REFUSED",
  };
  for (const o of plan.objects) {
    const why = o.action === "present"
      ? (o.entries.length ? ` (${o.entries.length} of its table(s) or schema(s) added to it)` : "")
      : o.reason
      ? ` (${o.reason})`
      : "";
    out.push(`    ${describeObject(o)}: ${words[o.action]}${why}`);
  }
  if (plan.defaults.length > 0) out.push(`  the target's own default privileges (of the restoring role):`);
  for (const d of plan.defaults) {
    const where = d.schema === null ? "database-wide" : `in schema ${d.schema}`;
    out.push(
      `    ${where}, on ${DEFAULT_ACL_WORDS[d.type] ?? d.type} (to ${d.grantees.join(", ")}): ${
        d.source ? "replaced by the source's" : "REMOVED (the source had none)"
      }`,
    );
  }
  for (const n of plan.notes) out.push(`  note: ${n}`);
  return out;
}
