/**
 * The config file: `backup.config.json` in the working directory, or the file named by `--config` /
 * `$BACKUP_CONFIG`. It lists the databases (environments) to back up and where each one's
 * connection string comes from, plus defaults for `--out`, `--vault` and `--env`.
 *
 * Validation is strict and pure ({@link parseConfig}): unknown keys are errors, so a typo cannot
 * silently change what is backed up, and each error names the file and the key path. Only
 * {@link loadConfig} touches the disk. See docs/configuration.md, section "The config file".
 * @module
 */
import { flagDefault, flagsOf, type ParsedArgs } from "./flags.ts";
import { usageError } from "../base/errors.ts";
import { validateSecretName, validateVaultName } from "./keyvault.ts";
import { parseQualifiedName } from "../pg/ident.ts";
import type { RetentionConfig } from "../store/retention.ts";

/** The file read from the working directory when no `--config` is given. */
export const DEFAULT_CONFIG_FILE = flagDefault("config");

/** One database (environment) of the config file. At most one of url, urlEnv and secret. */
export interface DatabaseConfig {
  /** The connection string itself (discouraged: it holds the password). */
  url?: string;
  /** Name of an environment variable holding the connection string. */
  urlEnv?: string;
  /** Key Vault secret holding the connection string. */
  secret?: string;
  /** Key Vault for this database, instead of the top-level `vault`. */
  vault?: string;
  scope?: "full" | "user";
  schemas?: string[];
  excludeTables?: string[];
  retention?: RetentionConfig;
}

/** A validated config file. */
export interface BackupConfig {
  /** The file it was read from, as given (used in messages). */
  path: string;
  /** Default for `--out`. */
  out?: string;
  /** Default for `--store`. */
  store?: string;
  /** Default for `--vault`. */
  vault?: string;
  /** Default for `--env`. */
  env?: string;
  /** `true`: `backup` backs up Storage files as with `--storage`. */
  storage?: boolean;
  /** Databases by environment name, in file order. */
  databases: Record<string, DatabaseConfig>;
}

/** The keys each object of the file may have. */
const TOP_KEYS = ["out", "vault", "env", "storage", "store", "databases"] as const;
const DB_KEYS = [
  "url",
  "urlEnv",
  "secret",
  "vault",
  "scope",
  "schemas",
  "excludeTables",
  "retention",
] as const;
const RETENTION_KEYS = ["keepLast", "keepDaily", "keepWeekly", "keepMonthly", "keepWithin"] as const;

/** Environment names that are a word of `--env` itself, not a database. */
const RESERVED_ENVS = ["both"];

/** True when `name` can be an environment (it becomes a directory name: `<out>/<name>`). Pure. */
export function isEnvName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/.test(name) && !RESERVED_ENVS.includes(name);
}

/** The edit distance of two short words (for "did you mean"). */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
    }
  }
  return d[a.length][b.length];
}

/** Validates one JSON object against the keys it may have, and returns it typed. */
class Checker {
  constructor(readonly file: string) {}

  fail(keyPath: string, what: string, hint: string): never {
    throw usageError(`${this.file}: ${keyPath} ${what}`, hint);
  }

  object(v: unknown, keyPath: string, keys: readonly string[]): Record<string, unknown> {
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      this.fail(keyPath, "must be an object", `write ${keyPath} as { … } (see docs/configuration.md)`);
    }
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (keys.includes(k)) continue;
      const near = keys.find((known) => distance(k, known) <= 2);
      this.fail(
        keyPath === "(top level)" ? k : `${keyPath}.${k}`,
        "is not a known key",
        `${near ? `did you mean '${near}'? ` : ""}keys here: ${keys.join(", ")}`,
      );
    }
    return o;
  }

  string(v: unknown, keyPath: string): string {
    if (typeof v !== "string") this.fail(keyPath, "must be a string", `write ${keyPath} as "…"`);
    if ((v as string).trim() === "") {
      this.fail(keyPath, "must not be empty", `remove ${keyPath} or give it a value`);
    }
    return v as string;
  }

  strings(v: unknown, keyPath: string): string[] {
    if (!Array.isArray(v)) this.fail(keyPath, "must be a list of strings", `write ${keyPath} as ["…", "…"]`);
    return (v as unknown[]).map((x, i) => this.string(x, `${keyPath}[${i}]`));
  }

  count(v: unknown, keyPath: string, min = 0): number {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
      this.fail(keyPath, `must be a whole number of ${min} or more`, `for example ${keyPath}: 7`);
    }
    return v as number;
  }
}

function parseRetention(c: Checker, v: unknown, keyPath: string): RetentionConfig {
  const o = c.object(v, keyPath, RETENTION_KEYS);
  const r: RetentionConfig = {};
  for (const k of ["keepLast", "keepDaily", "keepWeekly", "keepMonthly"] as const) {
    if (o[k] !== undefined) r[k] = c.count(o[k], `${keyPath}.${k}`, 1);
  }
  if (o.keepWithin !== undefined) {
    const w = c.string(o.keepWithin, `${keyPath}.keepWithin`).trim();
    if (!/^(\d+[hdwmy])+$/.test(w) || /^(0+[hdwmy])+$/.test(w)) {
      c.fail(
        `${keyPath}.keepWithin`,
        `must be a duration like 36h, 14d, 2w, 6m or 1y, got '${w}'`,
        "use a number and h, d, w, m or y",
      );
    }
    r.keepWithin = w;
  }
  return r;
}

function parseDatabase(c: Checker, v: unknown, keyPath: string): DatabaseConfig {
  const o = c.object(v, keyPath, DB_KEYS);
  const db: DatabaseConfig = {};
  const sources = (["url", "urlEnv", "secret"] as const).filter((k) => o[k] !== undefined);
  if (sources.length > 1) {
    c.fail(
      keyPath,
      `has ${sources.join(" and ")}; give only one`,
      "url, urlEnv and secret are three ways to give the same connection string",
    );
  }
  if (o.url !== undefined) {
    db.url = c.string(o.url, `${keyPath}.url`).trim();
    if (!/^postgres(ql)?:\/\//i.test(db.url)) {
      c.fail(
        `${keyPath}.url`,
        "must start with postgresql://",
        "or use urlEnv to name a variable that holds the URL",
      );
    }
  }
  if (o.urlEnv !== undefined) {
    db.urlEnv = c.string(o.urlEnv, `${keyPath}.urlEnv`).trim().replace(/^\$/, "");
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(db.urlEnv)) {
      c.fail(
        `${keyPath}.urlEnv`,
        `must be an environment variable name, got '${o.urlEnv}'`,
        'for example "urlEnv": "SUPABASE_DB_URL"',
      );
    }
  }
  if (o.secret !== undefined) {
    db.secret = c.string(o.secret, `${keyPath}.secret`).trim();
    validateSecretName(db.secret, `${c.file}: ${keyPath}.secret`);
  }
  if (o.vault !== undefined) {
    db.vault = c.string(o.vault, `${keyPath}.vault`).trim();
    validateVaultName(db.vault, `${c.file}: ${keyPath}.vault`);
  }
  if (o.scope !== undefined) {
    const s = c.string(o.scope, `${keyPath}.scope`);
    if (s !== "full" && s !== "user") {
      c.fail(
        `${keyPath}.scope`,
        `must be "full" or "user", got '${s}'`,
        '"full" backs up every schema, "user" leaves out the Supabase-managed ones',
      );
    }
    db.scope = s;
  }
  if (o.schemas !== undefined) db.schemas = c.strings(o.schemas, `${keyPath}.schemas`);
  if (o.excludeTables !== undefined) {
    db.excludeTables = c.strings(o.excludeTables, `${keyPath}.excludeTables`);
    db.excludeTables.forEach((t, i) => parseQualifiedName(t, `${c.file}: ${keyPath}.excludeTables[${i}]`));
  }
  if (o.retention !== undefined) db.retention = parseRetention(c, o.retention, `${keyPath}.retention`);
  return db;
}

/**
 * Parses and validates the text of a config file; `file` names it in messages. Pure.
 * Throws a usage error (exit 2) naming the file and the key path, e.g.
 * `backup.config.json: databases.prod.url must be a string`.
 */
export function parseConfig(text: string, file: string): BackupConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    const why = (e as Error).message.split("\n")[0];
    throw usageError(
      `${file} is not valid JSON: ${why}`,
      "check for a missing comma or quote, or a trailing comma",
    );
  }
  const c = new Checker(file);
  const o = c.object(raw, "(top level)", TOP_KEYS);
  const config: BackupConfig = { path: file, databases: {} };
  if (o.out !== undefined) config.out = c.string(o.out, "out");
  if (o.store !== undefined) config.store = c.string(o.store, "store");
  if (o.vault !== undefined) {
    config.vault = c.string(o.vault, "vault").trim();
    validateVaultName(config.vault, `${file}: vault`);
  }
  if (o.storage !== undefined) {
    if (typeof o.storage !== "boolean") {
      c.fail("storage", "must be true or false", '"storage": true backs up Storage files, as --storage does');
    }
    config.storage = o.storage as boolean;
  }
  if (o.databases !== undefined) {
    const dbs = c.object(o.databases, "databases", Object.keys(o.databases ?? {}));
    for (const [name, v] of Object.entries(dbs)) {
      if (!isEnvName(name)) {
        c.fail(
          `databases.${name}`,
          "is not a usable environment name",
          "use letters, digits, - and _ (it becomes the directory <out>/<name>); 'both' is reserved",
        );
      }
      config.databases[name] = parseDatabase(c, v, `databases.${name}`);
    }
  }
  if (o.env !== undefined) {
    config.env = c.string(o.env, "env").trim();
    const known = ["prod", "dev", "both", ...Object.keys(config.databases)];
    if (!known.includes(config.env)) {
      c.fail(
        "env",
        `is '${config.env}', which is not an environment`,
        `use one of ${[...new Set(known)].join(", ")}`,
      );
    }
  }
  return config;
}

/** Where the config file is: the explicit one (`--config`/`$BACKUP_CONFIG`), or the default. */
export function configLocation(args: ParsedArgs): { path: string; explicit: boolean; origin: string } {
  const given = args.values.config;
  if (typeof given === "string" && given !== "") {
    return { path: given, explicit: true, origin: args.origin.config ?? "--config" };
  }
  return { path: DEFAULT_CONFIG_FILE, explicit: false, origin: DEFAULT_CONFIG_FILE };
}

/**
 * Reads and validates the config file: the one named by `--config`/`$BACKUP_CONFIG` (relative to
 * `cwd`), else `backup.config.json` in `cwd` when it exists, else returns undefined. Throws a usage
 * error (exit 2) when a named file is missing or unreadable, or the file is invalid.
 */
export async function loadConfig(
  args: ParsedArgs,
  cwd: string = Deno.cwd(),
): Promise<BackupConfig | undefined> {
  const loc = configLocation(args);
  const full = loc.path.startsWith("/") ? loc.path : `${cwd}/${loc.path}`;
  let text: string;
  try {
    text = await Deno.readTextFile(full);
  } catch (e) {
    if (!loc.explicit && e instanceof Deno.errors.NotFound) return undefined;
    const why = e instanceof Deno.errors.NotFound ? "does not exist" : (e as Error).message.split(" (")[0];
    throw usageError(
      `config file '${loc.path}' (${loc.origin}) cannot be read: ${why}`,
      loc.explicit ? "check the path given to --config or $BACKUP_CONFIG" : `fix or remove ${loc.path}`,
    );
  }
  return parseConfig(text, loc.path);
}

/**
 * Returns `args` with the config file's `out`, `store`, `vault` and `env` filled in where neither the flag nor
 * its environment variable gave a value (precedence: flag, then variable, then file), and, for
 * `backup`, `storage: true` as `--storage`. Only flags the command has are filled. The origin of a
 * filled value is `<file>: <key>`. Pure.
 */
export function applyConfig(args: ParsedArgs, config: BackupConfig | undefined): ParsedArgs {
  if (!config) return args;
  const values = { ...args.values };
  const origin = { ...args.origin };
  const has = new Set(flagsOf(args.command).map((f) => f.name));
  for (const key of ["out", "store", "vault", "env"] as const) {
    const v = config[key];
    if (v !== undefined && values[key] === undefined && has.has(key)) {
      values[key] = v;
      origin[key] = `${config.path}: ${key}`;
    }
  }
  // restore --storage needs the target's keys: the file's `storage` is the backup's setting only
  if (config.storage === true && args.command === "backup" && values.storage === undefined) {
    values.storage = true;
    origin.storage = `${config.path}: storage`;
  }
  return { ...args, values, origin };
}
