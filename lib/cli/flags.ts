/**
 * The command line: commands, flags with their environment variables, help text and parsing.
 *
 * This module is pure: it takes argv and an environment map and returns raw values, or throws a
 * usage {@link BackupError}. The readers ({@link intValue}, {@link stringValue}, …) turn raw values
 * into typed ones, with the defaults and ranges of the flag table; args.ts holds the readers that
 * several commands share.
 * @module
 */
import { parseArgs } from "node:util";
import { ExitCode, usageError } from "../base/errors.ts";
import { isSecretKey } from "../base/redact.ts";
import { maskUrl } from "../pg/url.ts";

/** The commands, in the order `--help` lists them. */
export const COMMANDS = ["backup", "restore", "verify", "diff", "history", "prune", "list"] as const;
/** One of {@link COMMANDS}. */
export type Command = (typeof COMMANDS)[number];

/** What every flag has: its name, environment variable, help line and commands. */
interface FlagCommon {
  name: string;
  short?: string;
  /** May be given more than once. */
  multiple?: boolean;
  /** Environment variable used when the flag is absent. */
  env?: string;
  /** Placeholder for the value in help, e.g. `URL`. */
  value?: string;
  /** The help line; an int flag's `{range}` becomes `min-max`. */
  help: string;
  commands: readonly Command[];
}

/** A flag without a value: present or not. */
export interface BoolFlag extends FlagCommon {
  type: "boolean";
}

/** A flag with a text value. */
export interface StringFlag extends FlagCommon {
  type: "string";
  /** The value a command gets when neither the flag nor its variable is given. */
  default?: string;
  /** Shown in help after the default, or alone for a default worked out at run time. */
  defaultNote?: string;
}

/** A flag with a whole-number value from `min` to `max`. */
export interface IntFlag extends FlagCommon {
  type: "int";
  /** The value a command gets when neither the flag nor its variable is given. */
  default?: number;
  min: number;
  max: number;
}

/** One flag of the table: its kind, its real default (and range), and its help. */
export type FlagSpec = BoolFlag | StringFlag | IntFlag;

const ALL = COMMANDS;
/** The commands that read or write a backup root, or instead an object store (`--store`). */
const STORE: readonly Command[] = ["backup", "restore", "verify", "diff", "history", "prune", "list"];
const RETENTION_HELP = "(backup prunes after a successful run)";
const MAX_KEEP = 1_000_000;

/**
 * Every flag of every command, with its real default and range: the source of parsing, of the
 * values commands get ({@link intValue}, {@link stringValue}), of `--help` and of
 * docs/configuration.md. No other module writes a flag's default. (Typed `as const` so that flag
 * names, and which flags have a default, are known to the type checker.)
 */
const TABLE = [
  { name: "help", short: "h", type: "boolean", help: "Show help for the command.", commands: ALL },
  { name: "json", type: "boolean", help: "Print the result as JSON on stdout.", commands: ALL },
  {
    name: "out",
    type: "string",
    value: "DIR",
    env: "BACKUP_DIR",
    default: "backups",
    help: "Backup root: holds latest/ and archive/ (or <env>/latest with --env).",
    commands: STORE,
  },
  {
    name: "store",
    type: "string",
    value: "URL",
    env: "BACKUP_STORE",
    help: "Object store instead of --out: s3://BUCKET/PREFIX or azblob://CONTAINER/PREFIX (docs/storage.md).",
    commands: STORE,
  },
  {
    name: "store-endpoint",
    type: "string",
    value: "URL",
    defaultNote: "$AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS",
    help: "Endpoint of --store: S3-compatible (R2, B2, Supabase's /storage/v1/s3; path-style) or Azure Blob.",
    commands: STORE,
  },
  {
    name: "env",
    type: "string",
    value: "NAME",
    env: "BACKUP_ENV",
    help: "Environment: its own root <out>/<env>. prod, dev, both, or a name from the config file.",
    commands: STORE,
  },
  {
    name: "config",
    type: "string",
    value: "FILE",
    env: "BACKUP_CONFIG",
    default: "backup.config.json",
    defaultNote: "(if present)",
    help: "Config file listing databases/environments.",
    commands: ALL,
  },
  {
    name: "yes",
    short: "y",
    type: "boolean",
    help: "Never prompt; a missing required value is an error.",
    commands: ALL,
  },
  {
    name: "pg-bin",
    type: "string",
    value: "DIR",
    env: "PG_BIN",
    help: "Directory holding pg_dump/pg_restore/psql to use first.",
    commands: ["backup", "restore", "verify", "diff"],
  },
  // connection
  {
    name: "db-url",
    type: "string",
    value: "URL",
    env: "SUPABASE_DB_URL",
    help: "Source database, postgresql://user:pass@host:5432/db (session pooler on Supabase).",
    commands: ["backup", "diff"],
  },
  {
    name: "ipv4",
    type: "boolean",
    env: "BACKUP_IPV4",
    help: "Resolve the host to IPv4 and pass it as libpq hostaddr (host stays for TLS).",
    commands: ["backup", "restore", "verify", "diff"],
  },
  {
    name: "connect-timeout",
    type: "int",
    value: "SECONDS",
    env: "BACKUP_CONNECT_TIMEOUT",
    default: 10,
    min: 1,
    max: 600,
    help: "Seconds to wait for one connection attempt.",
    commands: ["backup", "restore", "verify", "diff"],
  },
  {
    name: "retries",
    type: "int",
    value: "N",
    env: "BACKUP_RETRIES",
    default: 4,
    min: 0,
    max: 20,
    help: "Connection attempts after the first on a transient fault (reset, timeout, refused).",
    commands: STORE,
  },
  // selection
  {
    name: "scope",
    type: "string",
    value: "full|user",
    env: "BACKUP_SCOPE",
    default: "full",
    help:
      "full: every schema but PostgreSQL's own; user: also leave out auth, storage, realtime, extensions, graphql, graphql_public, vault, pgbouncer.",
    commands: ["backup"],
  },
  {
    name: "schema",
    short: "n",
    type: "string",
    multiple: true,
    value: "NAME",
    help: "Only this schema (repeatable).",
    commands: ["backup", "restore", "diff"],
  },
  {
    name: "exclude-table",
    type: "string",
    multiple: true,
    value: "SCHEMA.TABLE",
    help: "Leave this table out (repeatable).",
    commands: ["backup", "restore"],
  },
  {
    name: "exclude-schema",
    type: "string",
    multiple: true,
    value: "NAME",
    help: "Leave this schema out of the restore (repeatable).",
    commands: ["restore"],
  },
  {
    name: "jobs",
    short: "j",
    type: "int",
    value: "N",
    env: "BACKUP_JOBS",
    default: 4,
    min: 1,
    max: 16,
    help: "Parallel pg_dump/pg_restore processes, and --store transfers ({range}).",
    commands: ["backup", "restore", "verify", "diff", "prune"],
  },
  {
    name: "dry-run",
    type: "boolean",
    help: "Print the plan and change nothing.",
    commands: ["backup", "restore", "prune"],
  },
  // Storage files
  {
    name: "storage",
    type: "boolean",
    help:
      "backup: also back up the files of the Storage buckets; restore: also restore them (docs/storage-files.md).",
    commands: ["backup", "restore"],
  },
  {
    name: "storage-endpoint",
    type: "string",
    value: "URL",
    env: "SUPABASE_S3_ENDPOINT",
    help: "The source project's S3 endpoint, https://<ref>.storage.supabase.co/storage/v1/s3.",
    commands: ["backup"],
  },
  {
    name: "storage-region",
    type: "string",
    value: "REGION",
    env: "SUPABASE_S3_REGION",
    help: "The source project's region (shown with its S3 keys), e.g. eu-central-1.",
    commands: ["backup"],
  },
  {
    name: "storage-access-key-id",
    type: "string",
    value: "ID",
    env: "SUPABASE_S3_ACCESS_KEY_ID",
    help: "S3 access key id of the source project (Project Settings → Storage → S3 access keys).",
    commands: ["backup"],
  },
  {
    name: "storage-secret-access-key",
    type: "string",
    value: "SECRET",
    env: "SUPABASE_S3_SECRET_ACCESS_KEY",
    help: "Its secret access key.",
    commands: ["backup"],
  },
  {
    name: "bucket",
    type: "string",
    multiple: true,
    value: "NAME",
    help: "Only this Storage bucket's files (with --storage).",
    commands: ["backup", "restore"],
  },
  {
    name: "exclude-bucket",
    type: "string",
    multiple: true,
    value: "NAME",
    help: "Leave this Storage bucket's files out (with --storage).",
    commands: ["backup", "restore"],
  },
  {
    name: "storage-only",
    type: "boolean",
    help: "Restore only the Storage files (--target-url, when given, sets bucket limits and owners).",
    commands: ["restore"],
  },
  {
    name: "target-storage-endpoint",
    type: "string",
    value: "URL",
    env: "RESTORE_S3_ENDPOINT",
    help: "The TARGET project's S3 endpoint (restore; verify --drill's scratch buckets). Never the source's.",
    commands: ["restore", "verify"],
  },
  {
    name: "target-storage-region",
    type: "string",
    value: "REGION",
    env: "RESTORE_S3_REGION",
    help: "The target project's region.",
    commands: ["restore", "verify"],
  },
  {
    name: "target-storage-access-key-id",
    type: "string",
    value: "ID",
    env: "RESTORE_S3_ACCESS_KEY_ID",
    help: "S3 access key id of the target project.",
    commands: ["restore", "verify"],
  },
  {
    name: "target-storage-secret-access-key",
    type: "string",
    value: "SECRET",
    env: "RESTORE_S3_SECRET_ACCESS_KEY",
    help: "Its secret access key.",
    commands: ["restore", "verify"],
  },
  // storage
  {
    name: "no-archive",
    type: "boolean",
    help: "Replace latest/ without moving the previous backup to archive/.",
    commands: ["backup"],
  },
  {
    name: "max-file-size",
    type: "string",
    value: "SIZE",
    env: "BACKUP_MAX_FILE_SIZE",
    default: "95MB",
    help: "Split files above this size (50MB, 1GiB, …); GitHub rejects files over 100 MB.",
    commands: ["backup"],
  },
  {
    name: "compress",
    type: "string",
    value: "none|gzip|zstd",
    env: "BACKUP_COMPRESS",
    default: "none",
    help: "Compress per-table and roles files (for storage other than git).",
    commands: ["backup"],
  },
  {
    name: "source-repo",
    type: "string",
    value: "OWNER/REPO",
    env: "GITHUB_REPOSITORY",
    default: "local",
    help: "Source repository recorded in the manifest and the archive name.",
    commands: ["backup"],
  },
  {
    name: "event",
    type: "string",
    value: "NAME",
    env: "GITHUB_EVENT_NAME",
    defaultNote: "local host name",
    help: "Trigger event recorded in the manifest and the archive name.",
    commands: ["backup"],
  },
  {
    name: "sha",
    type: "string",
    value: "SHA",
    env: "GITHUB_SHA",
    default: "0000000",
    help: "Source commit recorded in the manifest and the archive name.",
    commands: ["backup"],
  },
  {
    name: "ref",
    type: "string",
    value: "REF",
    env: "GITHUB_REF_NAME",
    help: "Source branch or tag recorded in the manifest.",
    commands: ["backup"],
  },
  // retention
  {
    name: "keep-last",
    type: "int",
    value: "N",
    min: 1,
    max: MAX_KEEP,
    help: `Keep the N newest archives ${RETENTION_HELP}.`,
    commands: ["backup", "prune"],
  },
  {
    name: "keep-daily",
    type: "int",
    value: "N",
    min: 1,
    max: MAX_KEEP,
    help: "Keep the newest archive of each of the last N days.",
    commands: ["backup", "prune"],
  },
  {
    name: "keep-weekly",
    type: "int",
    value: "N",
    min: 1,
    max: MAX_KEEP,
    help: "Keep the newest archive of each of the last N weeks.",
    commands: ["backup", "prune"],
  },
  {
    name: "keep-monthly",
    type: "int",
    value: "N",
    min: 1,
    max: MAX_KEEP,
    help: "Keep the newest archive of each of the last N months.",
    commands: ["backup", "prune"],
  },
  {
    name: "keep-within",
    type: "string",
    value: "DURATION",
    help: "Keep every archive younger than this (e.g. 36h, 14d, 2w, 6m, 1y).",
    commands: ["backup", "prune"],
  },
  {
    name: "keep-all",
    type: "boolean",
    env: "BACKUP_KEEP_ALL",
    help:
      "Prune nothing. Without it or --keep-*, backup --commit keeps the 7 newest, 14 daily, 8 weekly and 12 monthly archives.",
    commands: ["backup"],
  },
  // git
  {
    name: "commit",
    type: "boolean",
    env: "BACKUP_COMMIT",
    help: "Commit the backup root to the git repository that holds it.",
    commands: ["backup", "prune"],
  },
  {
    name: "push",
    type: "boolean",
    env: "BACKUP_PUSH",
    help: "Push the commit; on a race, redo the rotation on the remote head and retry.",
    commands: ["backup", "prune"],
  },
  {
    name: "git-name",
    type: "string",
    value: "NAME",
    env: "BACKUP_GIT_NAME",
    default: "supabase-backup[bot]",
    help: "Committer name when git has none configured.",
    commands: ["backup", "prune"],
  },
  {
    name: "git-email",
    type: "string",
    value: "EMAIL",
    env: "BACKUP_GIT_EMAIL",
    default: "supabase-backup@users.noreply.github.com",
    help: "Committer email when git has none configured.",
    commands: ["backup", "prune"],
  },
  // key vault
  {
    name: "vault",
    type: "string",
    value: "NAME",
    env: "AZURE_KEYVAULT_NAME",
    help: "Azure Key Vault holding the connection strings (read with the az CLI).",
    commands: ["backup"],
  },
  {
    name: "secret-prod",
    type: "string",
    value: "NAME",
    env: "BACKUP_SECRET_PROD",
    default: "supabase-db-url-prod",
    help: "Key Vault secret holding the prod connection string.",
    commands: ["backup"],
  },
  {
    name: "secret-dev",
    type: "string",
    value: "NAME",
    env: "BACKUP_SECRET_DEV",
    default: "supabase-db-url-dev",
    help: "Key Vault secret holding the dev connection string.",
    commands: ["backup"],
  },
  // notification
  {
    name: "notify-webhook",
    type: "string",
    value: "URL",
    env: "BACKUP_WEBHOOK_URL",
    help: "POST a JSON summary here when the backup fails.",
    commands: ["backup"],
  },
  // encryption
  {
    name: "encrypt-to",
    type: "string",
    multiple: true,
    value: "RECIPIENT",
    help: "Encrypt every file but the manifest to this age recipient (repeatable).",
    commands: ["backup"],
  },
  {
    name: "recipients-file",
    type: "string",
    value: "FILE",
    env: "BACKUP_RECIPIENTS_FILE",
    help: "File of age recipients, one a line.",
    commands: ["backup"],
  },
  {
    name: "identity-file",
    type: "string",
    value: "FILE",
    env: "BACKUP_IDENTITY_FILE",
    help: "age identity file to decrypt an encrypted backup.",
    commands: ["restore", "verify", "diff"],
  },
  // restore / verify
  {
    name: "from",
    type: "string",
    value: "latest|ARCHIVE|PATH",
    default: "latest",
    help:
      "Backup to read: latest, an archive folder name, a path, or <rev>:<path>, a backup in a git commit (read with git cat-file).",
    commands: ["restore", "verify"],
  },
  {
    name: "as-of",
    type: "string",
    value: "TIME",
    help:
      "Restore the newest backup taken at or before TIME (2026-12-01, 2026-12-01T09:30Z, 36h, 2d): from latest/, archive/, git history or --store.",
    commands: ["restore"],
  },
  {
    name: "target-url",
    type: "string",
    value: "URL",
    env: "RESTORE_DB_URL",
    help: "Database to restore into. Never defaults to the source.",
    commands: ["restore", "verify"],
  },
  {
    name: "table",
    short: "t",
    type: "string",
    multiple: true,
    value: "SCHEMA.TABLE",
    help: "Only this table (repeatable).",
    commands: ["restore", "diff", "history"],
  },
  {
    name: "into",
    type: "string",
    value: "SCHEMA.NEW_NAME",
    help:
      "Restore the one --table under this new name, beside the live table: indexes and constraints renamed, no foreign keys or triggers.",
    commands: ["restore"],
  },
  { name: "roles", type: "boolean", help: "Also restore roles.sql.", commands: ["restore"] },
  {
    name: "data-only",
    type: "boolean",
    help: "Restore data only, into existing tables.",
    commands: ["restore"],
  },
  { name: "schema-only", type: "boolean", help: "Restore definitions only, no data.", commands: ["restore"] },
  {
    name: "clean",
    type: "boolean",
    help: "Drop and recreate selected tables that already exist in the target.",
    commands: ["restore"],
  },
  {
    name: "strict",
    type: "boolean",
    help:
      "Fail instead of warning when a Supabase-managed table with rows cannot be restored into the target.",
    commands: ["restore"],
  },
  { name: "all", type: "boolean", help: "Verify latest and every archive.", commands: ["verify"] },
  // diff / history
  {
    name: "rows",
    type: "boolean",
    help: "Also print the changed rows: SQL that turns FROM's rows into TO's (JSON rows with --json).",
    commands: ["diff"],
  },
  {
    name: "drill",
    type: "boolean",
    help: "Restore into --target-url (an empty scratch database) and compare row counts.",
    commands: ["verify"],
  },
] as const satisfies readonly FlagSpec[];

/** Every flag of every command (the table above), for help, docs and tests. */
export const FLAGS: readonly FlagSpec[] = TABLE;

/** The exit-code table printed by `--help`. */
export const EXIT_CODES: readonly [number, string][] = exitCodeRows({
  ok: "ok",
  failed: "failed",
  usage: "bad usage or input",
  partial: "partial: some tables could not be read or objects not captured; the rest is backed up",
  interrupted: `interrupted (SIGINT); ${ExitCode.terminated} for SIGTERM`,
});

/** The rows of {@link EXIT_CODES}: each {@link ExitCode} but `terminated`, which shares a row. */
function exitCodeRows(meaning: Record<Exclude<keyof typeof ExitCode, "terminated">, string>) {
  return (Object.keys(meaning) as (keyof typeof meaning)[]).map((k): [number, string] => [
    ExitCode[k],
    meaning[k],
  ]);
}

const SUMMARIES: Record<Command, string> = {
  backup: "Back up a database into <out>/latest, archiving the previous latest (default command).",
  restore: "Restore a backup, whole or by schema or table, into --target-url.",
  verify: "Check a backup's files against its manifest; --drill restores it and compares row counts.",
  prune: "Remove archives that a retention policy does not keep.",
  list: "List latest and the archives with time, source, size, status and table count.",
  diff: "Compare two backups, or a backup and --db-url: per table, schema changes and rows by key.",
  history: "List the backups in which --table changed, with its row count and size.",
};

/** Commands that take positional arguments: how many at most, and their usage text. */
const POSITIONALS: Partial<Record<Command, { max: number; usage: string }>> = {
  diff: { max: 2, usage: "[FROM] [TO]" },
};

/** The flags one command accepts. */
export function flagsOf(command: Command): FlagSpec[] {
  return FLAGS.filter((f) => f.commands.includes(command));
}

/** Raw values of one invocation: flags by name (env applied), plus positionals. */
export interface ParsedArgs {
  command: Command;
  values: Record<string, string | boolean | string[] | undefined>;
  /** Where each value came from, for error messages: `--db-url` or `$SUPABASE_DB_URL`. */
  origin: Record<string, string>;
  help: boolean;
  /** Positional arguments, for the commands that take them (diff). */
  positionals?: string[];
}

const TRUE_WORDS = new Set(["1", "true", "yes", "on"]);

/**
 * Parses argv into a command and its raw flag values; absent flags take their environment variable.
 * Throws a usage error (exit 2) for an unknown command or flag, or a missing value.
 */
export function parseCli(argv: string[], env: Record<string, string | undefined>): ParsedArgs {
  let command: Command = "backup";
  let rest = argv;
  if (argv.length > 0 && !argv[0].startsWith("-")) {
    if (!(COMMANDS as readonly string[]).includes(argv[0])) {
      throw usageError(`unknown command '${argv[0]}'`, `commands: ${COMMANDS.join(", ")}; see --help`);
    }
    command = argv[0] as Command;
    rest = argv.slice(1);
  }
  const specs = flagsOf(command);
  const options: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> = {};
  for (const f of specs) {
    options[f.name] = {
      type: f.type === "boolean" ? "boolean" : "string",
      multiple: f.multiple === true,
      ...(f.short ? { short: f.short } : {}),
    };
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options,
      strict: true,
      allowPositionals: POSITIONALS[command] !== undefined,
    });
  } catch (e) {
    throw usageError(describeParseError(e, command), `see 'backup.ts ${command} --help'`);
  }
  const positional = POSITIONALS[command];
  if (positional && parsed.positionals.length > positional.max) {
    throw usageError(
      `unexpected argument '${parsed.positionals[positional.max]}'`,
      `usage: backup.ts ${command} ${positional.usage} [flags]; see 'backup.ts ${command} --help'`,
    );
  }
  const values: ParsedArgs["values"] = {};
  const origin: Record<string, string> = {};
  for (const f of specs) {
    const v = (parsed.values as Record<string, unknown>)[f.name];
    if (v !== undefined) {
      values[f.name] = v as string | boolean | string[];
      origin[f.name] = `--${f.name}`;
    } else if (f.env && env[f.env] !== undefined && env[f.env] !== "") {
      const raw = env[f.env] as string;
      values[f.name] = f.type === "boolean" ? TRUE_WORDS.has(raw.toLowerCase()) : raw;
      origin[f.name] = `$${f.env}`;
    }
  }
  return {
    command,
    values,
    origin,
    help: values.help === true,
    ...(positional ? { positionals: parsed.positionals } : {}),
  };
}

/**
 * A parseArgs failure as one line that names the flag (`unknown flag '--x' for 'backup'`); `what` is
 * the command (or bench task) being parsed. Pure.
 */
export function describeParseError(e: unknown, what: string): string {
  const msg = e instanceof Error ? e.message : String(e);
  const unknown = msg.match(/Unknown option '([^']+)'/);
  if (unknown) return `unknown flag '${unknown[1]}' for '${what}'`;
  const missing = msg.match(/Option '(?:-\w, )?(--[\w-]+)[^']*' argument missing/);
  if (missing) return `flag '${missing[1]}' needs a value`;
  const positional = msg.match(/Unexpected argument '([^']+)'/);
  if (positional) return `unexpected argument ${shownArgument(positional[1])}`;
  return msg.split("\n")[0];
}

/**
 * A stray argument as an error may quote it: a secret key is not shown, a URL's password is masked
 * (a connection string passed without its flag). Pure.
 */
export function shownArgument(arg: string): string {
  return isSecretKey(arg) ? "(a secret key, not shown)" : `'${maskUrl(arg)}'`;
}

/** The help text of one command, or of the tool when `command` is undefined. */
export function helpText(command?: Command): string {
  const lines: string[] = [];
  if (!command) {
    lines.push("supabase-backup: back up a Supabase (PostgreSQL) database into a git repository.", "");
    lines.push("Usage: backup.ts [command] [flags]", "", "Commands:");
    for (const c of COMMANDS) lines.push(`  ${c.padEnd(9)}${SUMMARIES[c]}`);
    lines.push("", "Run 'backup.ts <command> --help' for its flags.");
  } else {
    const positional = POSITIONALS[command] ? `${POSITIONALS[command].usage} ` : "";
    lines.push(`Usage: backup.ts ${command} ${positional}[flags]`, "", SUMMARIES[command], "", "Flags:");
    for (const f of flagsOf(command)) {
      const name = `${f.short ? `-${f.short}, ` : "    "}--${f.name}${f.value ? ` ${f.value}` : ""}`;
      const extra = [
        f.multiple ? "repeatable" : "",
        defaultText(f) ? `default: ${defaultText(f)}` : "",
        f.env ? `env: $${f.env}` : "",
      ].filter(Boolean).join("; ");
      lines.push(`  ${name}`, `        ${flagHelp(f)}${extra ? ` (${extra})` : ""}`);
    }
  }
  lines.push("", "Exit codes:");
  for (const [code, text] of EXIT_CODES) lines.push(`  ${String(code).padStart(3)}  ${text}`);
  lines.push("", "Precedence: flag, then environment variable, then config file.");
  return lines.join("\n") + "\n";
}

/** The help line of a flag, its range filled in. Pure. */
export function flagHelp(f: FlagSpec): string {
  return f.type === "int" ? f.help.replaceAll("{range}", `${f.min}-${f.max}`) : f.help;
}

/** The default as help and docs show it (empty when the flag has none). Pure. */
export function defaultText(f: FlagSpec): string {
  if (f.type === "boolean") return "";
  if (f.type === "int") return f.default === undefined ? "" : String(f.default);
  return [f.default, f.defaultNote].filter(Boolean).join(" ");
}

type Flag = (typeof TABLE)[number];
type NameOf<T> = Extract<Flag, T>["name"];
/** The name of a flag of {@link FLAGS}. */
export type FlagName = Flag["name"];
/** An int flag with a default. */
export type IntWithDefault = NameOf<{ type: "int"; default: number }>;
/** An int flag without a default. */
export type IntWithoutDefault = Exclude<NameOf<{ type: "int" }>, IntWithDefault>;
/** A string flag with a default. */
export type StringWithDefault = NameOf<{ type: "string"; default: string }>;
/** A string flag without a default (one given once). */
export type StringWithoutDefault = Exclude<NameOf<{ type: "string" }>, StringWithDefault | ListFlag>;
/** A repeatable string flag. */
export type ListFlag = NameOf<{ type: "string"; multiple: true }>;
/** A boolean flag. */
export type BoolFlagName = NameOf<{ type: "boolean" }>;

const BY_NAME = new Map(FLAGS.map((f) => [f.name, f]));

/** The table entry of a flag. */
export function flagSpec(name: FlagName): FlagSpec {
  return BY_NAME.get(name)!;
}

/** The default of a flag that has one, from the table. */
export function flagDefault(name: StringWithDefault): string;
export function flagDefault(name: IntWithDefault): number;
export function flagDefault(name: StringWithDefault | IntWithDefault): string | number {
  return (flagSpec(name) as StringFlag | IntFlag).default!;
}

function readInt(args: ParsedArgs, spec: IntFlag): number | undefined {
  const raw = args.values[spec.name];
  if (raw === undefined) return spec.default;
  const text = String(raw).trim();
  const n = /^-?\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < spec.min || n > spec.max) {
    throw usageError(
      `${
        args.origin[spec.name] ?? `--${spec.name}`
      } must be a whole number from ${spec.min} to ${spec.max}, ` +
        `got '${text}'`,
      `for example --${spec.name} ${Math.max(spec.min, Math.min(spec.max, spec.default ?? spec.min))}`,
    );
  }
  return n;
}

/**
 * Reads an int flag; absent gives its default from the table. Throws a usage error naming the flag
 * (or its environment variable) when the value is not a whole number within the table's range.
 */
export function intValue(args: ParsedArgs, name: IntWithDefault): number {
  return readInt(args, flagSpec(name) as IntFlag)!;
}

/** Reads an int flag that has no default (undefined when absent); throws like {@link intValue}. */
export function optionalInt(args: ParsedArgs, name: IntWithoutDefault): number | undefined {
  return readInt(args, flagSpec(name) as IntFlag);
}

/** Reads a string flag; absent gives its default from the table. */
export function stringValue(args: ParsedArgs, name: StringWithDefault): string {
  const raw = args.values[name];
  return raw === undefined ? flagDefault(name) : String(raw);
}

/** Reads a string flag that has no default (undefined when absent). */
export function optionalString(args: ParsedArgs, name: StringWithoutDefault): string | undefined {
  const raw = args.values[name];
  return raw === undefined ? undefined : String(raw);
}

/** Reads a repeatable flag as a list (empty when absent). */
export function listValue(args: ParsedArgs, name: ListFlag): string[] {
  const raw = args.values[name];
  if (raw === undefined) return [];
  return Array.isArray(raw) ? raw : [String(raw)];
}

/** Reads a boolean flag (false when absent). */
export function boolValue(args: ParsedArgs, name: BoolFlagName): boolean {
  return args.values[name] === true;
}
