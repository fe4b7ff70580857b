/**
 * Flag readers that several commands share: the backup roots (`--out`, `--env`), the backup to read
 * (`--from`), the restore target (`--target-url`), connection settings, the git identity and retention
 * (`--keep-*`); encoding (`--compress`, `--encrypt-to`, `--recipients-file`) is in encoding.ts.
 *
 * Each turns {@link ParsedArgs} into the plain values that lib/ takes (defaults and ranges come from
 * the flag table), or throws a usage error (exit 2) naming the flag or its variable. Commands call
 * these; no module below lib/cli/ sees `ParsedArgs`.
 * @module
 */
import {
  boolValue,
  FLAGS,
  intValue,
  optionalInt,
  optionalString,
  type ParsedArgs,
  stringValue,
} from "./flags.ts";
import { usageError } from "../base/errors.ts";
import { stderrLine } from "../base/output.ts";
import { type DbUrl, parseDbUrl } from "../pg/url.ts";
import type { DbSettings } from "../pg/connect.ts";
import { withPgpass } from "../pg/pgpass.ts";
import { backupRoot } from "../store/rotation.ts";
import type { GitIdentity } from "../store/git.ts";
import { isEmptyPolicy, parseDuration, type RetentionPolicy } from "../store/retention.ts";
import { resolveFrom } from "../store/from.ts";
import type { ObjectStore } from "../store/object.ts";
import type { BackupSource } from "../store/reader.ts";

/**
 * The object store of `--store` (env BACKUP_STORE, config key `store`) for the environment of
 * `--env` (`<prefix>/<env>`; a backup passes its `target`'s environment), or undefined without it. Throws a usage error for a bad URL, for
 * `--store` with `--out`, `--env both`, or credentials that are missing (lib/store/awsconfig.ts).
 */
export async function storeFromArgs(
  args: ParsedArgs,
  env: Record<string, string | undefined>,
  opts: { log?: (line: string) => void; target?: { env?: string } } = {},
): Promise<ObjectStore | undefined> {
  const text = optionalString(args, "store");
  if (text === undefined) {
    if (
      optionalString(args, "store-endpoint") !== undefined &&
      args.origin["store-endpoint"] === "--store-endpoint"
    ) {
      throw usageError("--store-endpoint needs --store", "add --store s3://BUCKET/PREFIX");
    }
    return undefined;
  }
  const origin = args.origin.store ?? "--store";
  // The store clients (S3, Azure Blob) are loaded only for a command that uses one.
  const { environmentStore, openStore, parseStoreUrl } = await import("../store/remote.ts");
  const u = parseStoreUrl(text, origin);
  if (args.origin.out === "--out") {
    throw usageError(
      `--out and ${origin} exclude each other`,
      "back up to a folder (--out) or to an object store (--store), not both",
    );
  }
  const e = opts.target ? opts.target.env : optionalString(args, "env");
  if (e === "both") {
    throw usageError(
      `--env both cannot be used with ${origin}`,
      "run once with --env prod and once with --env dev",
    );
  }
  return await openStore(environmentStore(u, e), {
    endpoint: optionalString(args, "store-endpoint"),
    env,
    retries: intValue(args, "retries"),
    log: opts.log ?? stderrLine,
  });
}

/**
 * The backup `--from` names, in the object store of `--store` (read through its blobs) or under
 * the root of `--out`/`--env`, with its label. Throws a usage error when there is no such backup.
 */
export async function backupSource(
  args: ParsedArgs,
  env: Record<string, string | undefined>,
): Promise<{ dir: BackupSource; label: string }> {
  const store = await storeFromArgs(args, env);
  if (!store) return await backupFrom(args);
  const { openStoredBackup } = await import("../store/remoteread.ts");
  const { reader, label } = await openStoredBackup(store, stringValue(args, "from"));
  return { dir: reader, label };
}

/** One root a storage command works on. */
export interface RootChoice {
  root: string;
  env?: string;
}

/**
 * The roots named by `--out` and `--env` (`--env both` means prod and dev), with `out` itself.
 * Throws a usage error for an invalid environment name.
 */
export function rootsFromArgs(args: ParsedArgs): { out: string; roots: RootChoice[] } {
  const out = stringValue(args, "out");
  const env = optionalString(args, "env");
  const envs = env === "both" ? ["prod", "dev"] : env ? [env] : [];
  if (envs.length === 0) return { out, roots: [{ root: backupRoot(out) }] };
  return { out, roots: envs.map((e) => ({ root: backupRoot(out, e), env: e })) };
}

/** The one root of `--out` and `--env` (restore and verify read from one environment). */
export function rootFromArgs(args: ParsedArgs): string {
  return backupRoot(stringValue(args, "out"), optionalString(args, "env"));
}

/** The backup `--from` names (latest, an archive or a path), under the root of `--out`/`--env`. */
export async function backupFrom(args: ParsedArgs): Promise<{ dir: string; label: string }> {
  return await resolveFrom(rootFromArgs(args), stringValue(args, "from"));
}

/**
 * Reads --target-url (or $RESTORE_DB_URL), with a password from ~/.pgpass when the URL has none.
 * It never falls back to the source database: a missing target is a usage error (exit 2).
 */
export function targetUrl(args: ParsedArgs, env: Record<string, string | undefined>): Promise<DbUrl> {
  const raw = optionalString(args, "target-url");
  if (raw === undefined) {
    throw usageError(
      `'${args.command}' needs a target database: --target-url or $RESTORE_DB_URL`,
      "set $RESTORE_DB_URL (or --target-url) to an empty database, its password in ~/.pgpass or $PGPASSWORD; the source is never used",
    );
  }
  const origin = args.origin["target-url"] ?? "--target-url";
  return withPgpass(warnIfOnCommandLine(parseDbUrl(raw, origin, env), origin), env, stderrLine);
}

/**
 * `u` with a {@link DbUrl.warning} when its password was given in a command-line flag (`origin`
 * `--db-url`, `--target-url`), where every local user can read it (`ps`, /proc) and the shell keeps
 * it in its history. The warning, printed when the tool connects, names the flag's environment
 * variable; it never holds the URL. Pure.
 */
export function warnIfOnCommandLine(u: DbUrl, origin: string): DbUrl {
  if (!u.passwordInUrl || !origin.startsWith("--")) return u;
  const variable = FLAGS.find((f) => `--${f.name}` === origin)?.env;
  const instead = [
    variable ? `set $${variable} instead` : "",
    "leave it out of the URL and keep it in ~/.pgpass or $PGPASSWORD",
  ].filter(Boolean).join(", or ");
  return {
    ...u,
    warning: `warning: the password in ${origin} can be read by every user of this machine (ps); ${instead}`,
  };
}

/** How the tool's own connections are made: the flag part of {@link DbSettings}. */
export type ConnectionSettings = Required<Pick<DbSettings, "ipv4" | "connectTimeout" | "retries">>;

/** Reads `--ipv4`, `--connect-timeout` and `--retries`; throws a usage error for a value out of range. */
export function connectionSettings(args: ParsedArgs): ConnectionSettings {
  return {
    ipv4: boolValue(args, "ipv4"),
    connectTimeout: intValue(args, "connect-timeout"),
    retries: intValue(args, "retries"),
  };
}

/** The committer identity of `--git-name`/`--git-email` (used when git has none configured). */
export function gitIdentity(args: ParsedArgs): GitIdentity {
  return { name: stringValue(args, "git-name"), email: stringValue(args, "git-email") };
}

/**
 * Reads the `--keep-*` flags. Returns undefined when none is given. Throws a usage error naming
 * the flag when a count is not a whole number of at least 1, or a duration is not valid.
 */
export function policyFromArgs(args: ParsedArgs): RetentionPolicy | undefined {
  const policy: RetentionPolicy = {};
  const counts = [
    ["keep-last", "keepLast"],
    ["keep-daily", "keepDaily"],
    ["keep-weekly", "keepWeekly"],
    ["keep-monthly", "keepMonthly"],
  ] as const;
  for (const [flag, key] of counts) {
    const n = optionalInt(args, flag);
    if (n !== undefined) policy[key] = n;
  }
  const within = optionalString(args, "keep-within");
  if (within !== undefined) {
    policy.keepWithin = parseDuration(within, args.origin["keep-within"] ?? "--keep-within");
  }
  return isEmptyPolicy(policy) ? undefined : policy;
}
