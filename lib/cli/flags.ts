/**
 * The command line: commands, flags with their environment variables, help text and parsing.
 *
 * This module is pure: it takes argv and an environment map and returns raw values, or throws a
 * usage {@link BackupError}. Each command's own module turns the raw values into typed options.
 * @module
 */
import { parseArgs } from "node:util";
import { usageError } from "../base/errors.ts";

/** The commands, in the order `--help` lists them. */
export const COMMANDS = ["backup", "restore", "verify", "prune", "list"] as const;
/** One of {@link COMMANDS}. */
export type Command = (typeof COMMANDS)[number];

/** One flag: its name, kind, environment variable, default and help line. */
export interface FlagSpec {
  name: string;
  short?: string;
  type: "string" | "boolean";
  /** May be given more than once. */
  multiple?: boolean;
  /** Environment variable used when the flag is absent. */
  env?: string;
  /** Default shown in help (the value applied by the command's option builder). */
  default?: string;
  /** Placeholder for the value in help, e.g. `URL`. */
  value?: string;
  help: string;
  commands: readonly Command[];
}

const ALL = COMMANDS;
const STORE: readonly Command[] = ["backup", "restore", "verify", "prune", "list"];
const RETENTION_HELP = "(backup prunes after a successful run)";

/** Every flag of every command. The source of `--help` and of docs/configuration.md. */
export const FLAGS: readonly FlagSpec[] = [
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
    default: "backup.config.json (if present)",
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
    commands: ["backup", "restore", "verify"],
  },
  // connection
  {
    name: "db-url",
    type: "string",
    value: "URL",
    env: "SUPABASE_DB_URL",
    help: "Source database, postgresql://user:pass@host:5432/db (session pooler on Supabase).",
    commands: ["backup"],
  },
  {
    name: "ipv4",
    type: "boolean",
    env: "BACKUP_IPV4",
    help: "Resolve the host to IPv4 and pass it as libpq hostaddr (host stays for TLS).",
    commands: ["backup", "restore", "verify"],
  },
  {
    name: "connect-timeout",
    type: "string",
    value: "SECONDS",
    env: "BACKUP_CONNECT_TIMEOUT",
    default: "10",
    help: "Seconds to wait for one connection attempt.",
    commands: ["backup", "restore", "verify"],
  },
  {
    name: "retries",
    type: "string",
    value: "N",
    env: "BACKUP_RETRIES",
    default: "4",
    help: "Connection attempts after the first on a transient fault (reset, timeout, refused).",
    commands: ["backup", "restore", "verify"],
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
    commands: ["backup", "restore"],
  },
  {
    name: "exclude-table",
    type: "string",
    multiple: true,
    value: "SCHEMA.TABLE",
    help: "Leave this table out (repeatable).",
    commands: ["backup"],
  },
  {
    name: "jobs",
    short: "j",
    type: "string",
    value: "N",
    env: "BACKUP_JOBS",
    default: "4",
    help: "Parallel pg_dump/pg_restore processes (1-16).",
    commands: ["backup", "restore", "verify"],
  },
  {
    name: "dry-run",
    type: "boolean",
    help: "Print the plan and change nothing.",
    commands: ["backup", "restore", "prune"],
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
    default: "local host name",
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
    type: "string",
    value: "N",
    help: `Keep the N newest archives ${RETENTION_HELP}.`,
    commands: ["backup", "prune"],
  },
  {
    name: "keep-daily",
    type: "string",
    value: "N",
    help: "Keep the newest archive of each of the last N days.",
    commands: ["backup", "prune"],
  },
  {
    name: "keep-weekly",
    type: "string",
    value: "N",
    help: "Keep the newest archive of each of the last N weeks.",
    commands: ["backup", "prune"],
  },
  {
    name: "keep-monthly",
    type: "string",
    value: "N",
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
    commands: ["restore", "verify"],
  },
  // restore / verify
  {
    name: "from",
    type: "string",
    value: "latest|ARCHIVE|PATH",
    default: "latest",
    help: "Backup to read: latest, an archive folder name, or a path.",
    commands: ["restore", "verify"],
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
  { name: "all", type: "boolean", help: "Verify latest and every archive.", commands: ["verify"] },
  {
    name: "drill",
    type: "boolean",
    help: "Restore into --target-url (an empty scratch database) and compare row counts.",
    commands: ["verify"],
  },
];

/** The exit-code table printed by `--help`. */
export const EXIT_CODES: readonly [number, string][] = [
  [0, "ok"],
  [1, "failed"],
  [2, "bad usage or input"],
  [3, "partial: some tables could not be read, the rest is backed up"],
  [130, "interrupted (SIGINT); 143 for SIGTERM"],
];

const SUMMARIES: Record<Command, string> = {
  backup: "Back up a database into <out>/latest, archiving the previous latest (default command).",
  restore: "Restore a backup, whole or by schema or table, into --target-url.",
  verify: "Check a backup's files against its manifest; --drill restores it and compares row counts.",
  prune: "Remove archives that a retention policy does not keep.",
  list: "List latest and the archives with time, source, size, status and table count.",
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
    options[f.name] = { type: f.type, multiple: f.multiple === true, ...(f.short ? { short: f.short } : {}) };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options, strict: true, allowPositionals: false });
  } catch (e) {
    throw usageError(describeParseError(e, command), `see 'backup.ts ${command} --help'`);
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
  return { command, values, origin, help: values.help === true };
}

function describeParseError(e: unknown, command: Command): string {
  const msg = e instanceof Error ? e.message : String(e);
  const unknown = msg.match(/Unknown option '([^']+)'/);
  if (unknown) return `unknown flag '${unknown[1]}' for '${command}'`;
  const missing = msg.match(/Option '(?:-\w, )?(--[\w-]+)[^']*' argument missing/);
  if (missing) return `flag '${missing[1]}' needs a value`;
  const positional = msg.match(/Unexpected argument '([^']+)'/);
  if (positional) return `unexpected argument '${positional[1]}'`;
  return msg.split("\n")[0];
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
    lines.push(`Usage: backup.ts ${command} [flags]`, "", SUMMARIES[command], "", "Flags:");
    for (const f of flagsOf(command)) {
      const name = `${f.short ? `-${f.short}, ` : "    "}--${f.name}${f.value ? ` ${f.value}` : ""}`;
      const extra = [
        f.multiple ? "repeatable" : "",
        f.default ? `default: ${f.default}` : "",
        f.env ? `env: $${f.env}` : "",
      ].filter(Boolean).join("; ");
      lines.push(`  ${name}`, `        ${f.help}${extra ? ` (${extra})` : ""}`);
    }
  }
  lines.push("", "Exit codes:");
  for (const [code, text] of EXIT_CODES) lines.push(`  ${String(code).padStart(3)}  ${text}`);
  lines.push("", "Precedence: flag, then environment variable, then config file.");
  return lines.join("\n") + "\n";
}

/**
 * Reads an integer flag; absent gives `fallback`. Throws a usage error naming the flag (or its
 * environment variable) when the value is not a whole number within [min, max].
 */
export function intValue(args: ParsedArgs, name: string, fallback: number, min: number, max: number): number;
export function intValue(
  args: ParsedArgs,
  name: string,
  fallback: undefined,
  min: number,
  max: number,
): number | undefined;
export function intValue(
  args: ParsedArgs,
  name: string,
  fallback: number | undefined,
  min: number,
  max: number,
): number | undefined {
  const raw = args.values[name];
  if (raw === undefined) return fallback;
  const text = String(raw).trim();
  const n = /^-?\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw usageError(
      `${args.origin[name] ?? `--${name}`} must be a whole number from ${min} to ${max}, got '${text}'`,
      `for example --${name} ${Math.max(min, Math.min(max, fallback ?? min))}`,
    );
  }
  return n;
}

/** Reads a string flag, or `fallback` when absent. */
export function stringValue(args: ParsedArgs, name: string, fallback?: string): string | undefined {
  const raw = args.values[name];
  return raw === undefined ? fallback : String(raw);
}

/** Reads a repeatable flag as a list (empty when absent). */
export function listValue(args: ParsedArgs, name: string): string[] {
  const raw = args.values[name];
  if (raw === undefined) return [];
  return Array.isArray(raw) ? raw : [String(raw)];
}

/** Reads a boolean flag (false when absent). */
export function boolValue(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}
