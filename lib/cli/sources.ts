/**
 * Which databases one `backup` run backs up, and where each connection string comes from.
 *
 * Sources, in order of precedence for each environment: the flags (`--db-url`, `--vault` with
 * `--secret-prod`/`--secret-dev`), then environment variables (`$SUPABASE_DB_URL_DEV` for dev,
 * `$SUPABASE_DB_URL`, `$AZURE_KEYVAULT_NAME`), then the config file (`databases.<env>.url`, `urlEnv`,
 * `secret`, or its `vault`). {@link planTargets} decides this as plain data, and says which question
 * to ask when a choice is missing on a terminal; {@link resolveTargets} asks it (dax prompts) and
 * reads the Key Vault secrets.
 * @module
 */
import { boolValue, flagDefault, type ParsedArgs } from "./flags.ts";
import { type BackupConfig, type DatabaseConfig, isEnvName, loadConfig } from "./config.ts";
import type { RetentionConfig } from "../store/retention.ts";
import { maskUrl } from "../pg/url.ts";
import { BackupError, ExitCode, usageError } from "../base/errors.ts";
import { abortSignal } from "../base/interrupt.ts";
import { stderrLine } from "../base/output.ts";
import type { S3Values } from "../store/s3.ts";
import {
  type AzRunner,
  readSecret,
  registerUrlSecrets,
  validateSecretName,
  validateVaultName,
} from "./keyvault.ts";

/** One database to back up. */
export interface BackupTarget {
  /** "prod", "dev", or a config name; undefined when no environment was chosen at all. */
  env?: string;
  /** The connection string. Secret: its password is registered for redaction. */
  url: string;
  /** Where the URL came from: `--db-url`, `$SUPABASE_DB_URL`, `Key Vault v/supabase-db-url-prod`, … */
  urlOrigin: string;
  /** The Key Vault the URL was read from (`--storage` reads the S3 keys there too). */
  vault?: string;
  scope?: "full" | "user";
  schemas?: string[];
  excludeTables?: string[];
  retention?: RetentionConfig;
  /**
   * Why its connection string could not be read (Key Vault), when several environments run: that
   * environment fails alone and the others are still backed up. Then `url` is empty.
   */
  error?: BackupError;
}

/** Where one environment's connection string comes from, before anything is read. */
export type TargetSource =
  | { kind: "url"; url: string; origin: string }
  | { kind: "vault"; vault: string; vaultOrigin: string; secret: string; secretOrigin: string };

/** One environment to back up, planned. */
export interface PlannedTarget {
  env?: string;
  source: TargetSource;
  /** The environment's config-file entry, for its selection and retention settings. */
  db?: DatabaseConfig;
}

/** Answers given at the prompts so far. */
export interface TargetAnswers {
  env?: string;
  vault?: string;
}

/** The result of {@link planTargets}: the targets, or the question to ask first. */
export type TargetPlan =
  | { kind: "ready"; targets: PlannedTarget[] }
  | { kind: "ask-env"; options: string[] }
  | { kind: "ask-vault" };

/** Default secret names (the defaults of `--secret-prod`/`--secret-dev`). */
export const DEFAULT_SECRETS: Record<string, string> = {
  prod: flagDefault("secret-prod"),
  dev: flagDefault("secret-dev"),
};

/** A value with where it came from. */
interface Setting {
  value: string;
  origin: string;
}

function setting(args: ParsedArgs, name: string): Setting | undefined {
  const v = args.values[name];
  if (typeof v !== "string" || v === "") return undefined;
  return { value: v, origin: args.origin[name] ?? `--${name}` };
}

const fromFlag = (s: Setting | undefined) => s !== undefined && s.origin.startsWith("--");
const fromEnvVar = (s: Setting | undefined) => s !== undefined && s.origin.startsWith("$");

/** The environments `choice` stands for: `both` is prod then dev. */
function expand(choice: string): string[] {
  return choice === "both" ? ["prod", "dev"] : [choice];
}

/** The choices offered at the environment prompt. */
function envOptions(config: BackupConfig | undefined, hasVault: boolean): string[] {
  const names = Object.keys(config?.databases ?? {});
  const base = hasVault || names.length === 0 ? ["prod", "dev"] : [];
  const all = [...new Set([...base, ...names])];
  if (all.includes("prod") && all.includes("dev")) all.push("both");
  return all;
}

/** `--secret-prod`/`--secret-dev` given on the command line make no sense without a vault. */
function checkSecretFlags(args: ParsedArgs, usedVault: boolean): void {
  if (usedVault) return;
  for (const flag of ["secret-prod", "secret-dev"]) {
    if (fromFlag(setting(args, flag))) {
      throw usageError(`--${flag} needs a Key Vault`, "pass --vault NAME (or set $AZURE_KEYVAULT_NAME)");
    }
  }
}

/**
 * Plans the targets of one run as plain data. Pure: `env` is the environment map, `config` the
 * loaded config file, `answers` what the user chose at earlier prompts. When `interactive`, a missing
 * choice is returned as a question (`ask-env`, `ask-vault`); otherwise the default applies (prod with
 * a vault) or a usage error (exit 2) names the flag to pass. Also throws usage errors for an unknown
 * environment, conflicting flags, or an environment without a source.
 */
export function planTargets(
  args: ParsedArgs,
  config: BackupConfig | undefined,
  env: Record<string, string | undefined>,
  opts: { interactive: boolean; answers?: TargetAnswers },
): TargetPlan {
  const answers = opts.answers ?? {};
  const dbUrl = setting(args, "db-url");
  let vault = setting(args, "vault");
  if (!vault && answers.vault) vault = { value: answers.vault, origin: "the vault prompt" };
  if (fromFlag(dbUrl) && fromFlag(vault)) {
    throw usageError(
      "--db-url and --vault exclude each other",
      "pass the connection string (--db-url) or read it from Azure Key Vault (--vault), not both",
    );
  }
  const configVault = config?.vault ? { value: config.vault, origin: `${config.path}: vault` } : undefined;
  const names = Object.keys(config?.databases ?? {});

  let choice = setting(args, "env");
  if (!choice && answers.env) choice = { value: answers.env, origin: "the environment prompt" };
  if (!choice && config?.env) choice = { value: config.env, origin: `${config.path}: env` };
  if (!choice) {
    const anyVault = vault ?? configVault;
    if (anyVault && !fromFlag(dbUrl)) {
      if (opts.interactive) return { kind: "ask-env", options: envOptions(config, true) };
      choice = { value: "prod", origin: "--env (default prod with a vault)" };
    } else if (dbUrl) {
      checkSecretFlags(args, false);
      return {
        kind: "ready",
        targets: [{ source: { kind: "url", url: dbUrl.value, origin: dbUrl.origin } }],
      };
    } else if (names.length === 1) {
      choice = { value: names[0], origin: `${config!.path}: databases` };
    } else if (names.length > 1) {
      if (opts.interactive) return { kind: "ask-env", options: envOptions(config, false) };
      throw usageError(
        `no --env given and ${config!.path} lists ${names.length} databases (${names.join(", ")})`,
        `pass --env ${envOptions(config, false).join("|")} (or set $BACKUP_ENV, or "env" in ${config!.path})`,
      );
    } else {
      if (opts.interactive) return { kind: "ask-vault" };
      throw usageError(
        "no database URL",
        "pass --db-url or set $SUPABASE_DB_URL (or read it from Azure Key Vault with --vault NAME --env prod|dev|both)",
      );
    }
  }

  const known = [...new Set(["prod", "dev", ...names])];
  if (!known.includes(choice.value) && choice.value !== "both") {
    throw usageError(
      `${choice.origin} names an unknown environment '${choice.value}'`,
      `use prod, dev or both${
        names.filter((n) => n !== "prod" && n !== "dev").length
          ? `, or a database of ${config!.path}: ${names.join(", ")}`
          : ", or add it under databases in backup.config.json"
      }`,
    );
  }
  if (!isEnvName(choice.value) && choice.value !== "both") {
    throw usageError(
      `${choice.origin} '${choice.value}' is not a usable environment name`,
      "use letters, digits, - and _",
    );
  }
  const envs = expand(choice.value);
  const single = envs.length === 1;
  const usedVault: boolean[] = [];

  const vaultSource = (name: string, v: Setting): TargetSource => {
    const db = config?.databases[name];
    const flag = name === "prod"
      ? setting(args, "secret-prod")
      : name === "dev"
      ? setting(args, "secret-dev")
      : undefined;
    const secret: Setting = flag ??
      (db?.secret ? { value: db.secret, origin: `${config!.path}: databases.${name}.secret` } : {
        value: DEFAULT_SECRETS[name] ?? `supabase-db-url-${name}`,
        origin: `the default secret name of ${name}`,
      });
    validateVaultName(v.value, v.origin);
    validateSecretName(secret.value, secret.origin);
    usedVault.push(true);
    return {
      kind: "vault",
      vault: v.value,
      vaultOrigin: v.origin,
      secret: secret.value,
      secretOrigin: secret.origin,
    };
  };

  const sourceFor = (name: string): TargetSource => {
    const db = config?.databases[name];
    const url = (value: string, origin: string): TargetSource => ({ kind: "url", url: value, origin });
    // 1. flags
    if (dbUrl && fromFlag(dbUrl) && (single || name === "prod")) return url(dbUrl.value, dbUrl.origin);
    if (vault && fromFlag(vault)) return vaultSource(name, vault);
    // 2. environment variables (and the vault typed at the prompt)
    if (name === "dev" && env.SUPABASE_DB_URL_DEV) {
      return url(env.SUPABASE_DB_URL_DEV, "$SUPABASE_DB_URL_DEV");
    }
    if (dbUrl && fromEnvVar(dbUrl) && (single || name === "prod")) return url(dbUrl.value, dbUrl.origin);
    if (vault) return vaultSource(name, vault);
    // 3. the config file
    if (db?.url) return url(db.url, `${config!.path}: databases.${name}.url`);
    if (db?.urlEnv) {
      const v = env[db.urlEnv];
      if (!v) {
        throw usageError(
          `${config!.path}: databases.${name}.urlEnv names $${db.urlEnv}, which is not set`,
          `export ${db.urlEnv}=postgresql://… or pass --db-url`,
        );
      }
      return url(v, `$${db.urlEnv} (${config!.path}: databases.${name}.urlEnv)`);
    }
    const dbVault = db?.vault
      ? { value: db.vault, origin: `${config!.path}: databases.${name}.vault` }
      : configVault;
    if (dbVault) return vaultSource(name, dbVault);
    if (db?.secret) {
      throw usageError(
        `${config!.path}: databases.${name}.secret needs a Key Vault`,
        `pass --vault NAME, or set "vault" in ${config!.path}`,
      );
    }
    throw usageError(
      `no database URL for environment '${name}'`,
      name === "dev"
        ? "set $SUPABASE_DB_URL_DEV, pass --vault NAME (secret supabase-db-url-dev), or add databases.dev to backup.config.json"
        : name === "prod" || single
        ? `pass --db-url or set $SUPABASE_DB_URL, pass --vault NAME, or add databases.${name} to backup.config.json`
        : `add databases.${name} with url, urlEnv or secret to backup.config.json, or pass --vault NAME`,
    );
  };

  const targets = envs.map((name): PlannedTarget => {
    const source = sourceFor(name);
    const db = config?.databases[name];
    return { env: name, source, ...(db ? { db } : {}) };
  });
  checkSecretFlags(args, usedVault.length > 0);
  return { kind: "ready", targets };
}

/** Dependencies of {@link resolveTargets}. */
export interface ResolveDeps {
  /** The environment map (`Deno.env.toObject()`). */
  env: Record<string, string | undefined>;
  /** Whether a person is at the terminal (stdin is a TTY); prompts only then, and never with --yes. */
  isTTY: boolean;
  /** Runs `az`; defaults to the real Azure CLI. */
  runAz?: AzRunner;
  /** The config file, when the caller already loaded it (`null`: none); else it is loaded here. */
  config?: BackupConfig | null;
  /** Directory in which backup.config.json is looked for; defaults to the working directory. */
  cwd?: string;
}

function cancelled(): BackupError {
  return new BackupError("cancelled at the prompt; nothing was backed up", {
    hint: "pass --env and --vault (or --db-url) with --yes to run without questions",
    exitCode: ExitCode.interrupted,
  });
}

/**
 * dax, for the prompts: loaded only when one is shown (it is the largest module the tool has, about
 * 9 MB of resident memory, which a backup without prompts would carry to its end).
 */
async function dax() {
  return (await import("dax")).default;
}

async function askEnv(options: string[]): Promise<string> {
  const $ = await dax();
  const picked = await $.maybeSelect({
    message: "Which environment do you want to back up? (--env)",
    options,
    noClear: true,
    signal: abortSignal,
  });
  if (picked === undefined) throw cancelled();
  return picked.value;
}

async function askVault(): Promise<string> {
  const $ = await dax();
  for (;;) {
    const name = await $.maybePrompt({
      message: "No database URL given. Azure Key Vault that holds it (--vault)",
      noClear: true,
      signal: abortSignal,
    });
    if (name === undefined) throw cancelled();
    try {
      validateVaultName(name.trim(), "the vault name");
      return name.trim();
    } catch (e) {
      $.logWarn((e as BackupError).message, (e as BackupError).hint ?? "");
    }
  }
}

/**
 * Resolves the databases to back up, in order (`--env both`: prod, then dev), reading Key Vault
 * secrets with the Azure CLI. On a terminal without `--yes`, asks for a missing environment (when a
 * vault is known) or vault (when no URL is known at all). Throws usage errors (exit 2) for a missing
 * or conflicting choice and for a bad config file, {@link BackupError}s (exit 1) from Key Vault, and
 * exit 130 when a prompt is cancelled.
 */
export async function resolveTargets(args: ParsedArgs, deps: ResolveDeps): Promise<BackupTarget[]> {
  const config = deps.config === null ? undefined : deps.config ?? await loadConfig(args, deps.cwd);
  const interactive = deps.isTTY && !boolValue(args, "yes");
  const answers: TargetAnswers = {};
  let plan = planTargets(args, config, deps.env, { interactive, answers });
  while (plan.kind !== "ready") {
    if (plan.kind === "ask-env") answers.env = await askEnv(plan.options);
    else answers.vault = await askVault();
    plan = planTargets(args, config, deps.env, { interactive, answers });
  }
  const cache = new Map<string, string>();
  const out: BackupTarget[] = [];
  for (const t of plan.targets) {
    let url: string;
    let urlOrigin: string;
    if (t.source.kind === "url") {
      url = t.source.url;
      registerUrlSecrets(url);
      urlOrigin = t.source.origin;
    } else {
      const { vault, secret } = t.source;
      const key = `${vault}/${secret}`;
      urlOrigin = `Key Vault ${key}`;
      try {
        url = cache.get(key) ?? await readSecret(vault, secret, {
          env: deps.env,
          runAz: deps.runAz,
          vaultOrigin: t.source.vaultOrigin,
          secretOrigin: t.source.secretOrigin,
        });
      } catch (e) {
        // With several environments, one unreadable secret fails only its own environment.
        if (plan.targets.length === 1 || !(e instanceof BackupError) || e.exitCode !== ExitCode.failed) {
          throw e;
        }
        out.push({ ...(t.env !== undefined ? { env: t.env } : {}), url: "", urlOrigin, error: e });
        continue;
      }
      cache.set(key, url);
    }
    const db = t.db;
    out.push({
      ...(t.env !== undefined ? { env: t.env } : {}),
      url,
      urlOrigin,
      ...(t.source.kind === "vault" ? { vault: t.source.vault } : {}),
      ...(db?.scope ? { scope: db.scope } : {}),
      ...(db?.schemas ? { schemas: db.schemas } : {}),
      ...(db?.excludeTables ? { excludeTables: db.excludeTables } : {}),
      ...(db?.retention ? { retention: db.retention } : {}),
    });
  }
  return out;
}

/** One line per target for the confirmation: environment, origin and the URL with its password masked. Pure. */
export function describeTargets(targets: BackupTarget[]): string[] {
  return targets.map((t) =>
    `${(t.env ?? "(no environment)").padEnd(8)} ${
      t.error ? "(cannot be read)" : maskUrl(t.url)
    }  (from ${t.urlOrigin})`
  );
}

/**
 * On a terminal without `--yes`, lists the targets on stderr and asks whether to go on; returns the
 * answer. Without a terminal, or with `--yes`, returns true without asking. Throws exit 130 when the
 * prompt is cancelled (ctrl+c).
 */
export async function confirmBackup(
  targets: BackupTarget[],
  deps: { isTTY: boolean; yes: boolean },
): Promise<boolean> {
  if (!deps.isTTY || deps.yes) return true;
  stderrLine("About to back up:");
  for (const line of describeTargets(targets)) stderrLine(`  ${line}`);
  const $ = await dax();
  const ok = await $.maybeConfirm({
    message: "Start the backup?",
    default: true,
    noClear: true,
    signal: abortSignal,
  });
  if (ok === undefined) throw cancelled();
  return ok;
}

/** The Key Vault secrets holding a project's S3 access key id and secret for environment `env`. Pure. */
export function storageKeySecrets(env: string): { accessKeyId: string; secretAccessKey: string } {
  return {
    accessKeyId: `supabase-s3-access-key-id-${env}`,
    secretAccessKey: `supabase-s3-secret-access-key-${env}`,
  };
}

/**
 * The S3 values of `backup --storage` for `target`: those given (flags, then environment
 * variables), and, when the access key id or the secret access key is not given and the target's
 * connection string came from Key Vault, that value read from the same vault
 * ({@link storageKeySecrets}: `supabase-s3-access-key-id-<env>`, `supabase-s3-secret-access-key-<env>`),
 * registered as a secret like the connection string. The endpoint and region are not secrets and
 * are never read from the vault. Throws a {@link BackupError} (exit 1) with a hint when `az` fails.
 */
export async function storageValuesFor(
  values: S3Values,
  target: BackupTarget,
  deps: { env: Record<string, string | undefined>; runAz?: AzRunner },
): Promise<S3Values> {
  const given = (v: string | undefined) => v !== undefined && v.trim() !== "";
  if (!target.vault || target.env === undefined) return values;
  if (given(values.accessKeyId) && given(values.secretAccessKey)) return values;
  const vault = target.vault;
  const names = storageKeySecrets(target.env);
  const read = async (secret: string, flag: string, env: string) =>
    await readSecret(vault, secret, {
      env: deps.env,
      runAz: deps.runAz,
      vaultOrigin: target.urlOrigin,
      secretOrigin: `the S3 key secret of ${target.env}`,
      holds: {
        notFound:
          `store the project's S3 key there (az keyvault secret set --vault-name ${vault} --name ${secret} --file key.txt), or pass ${flag} / set $${env}`,
        empty:
          `store the project's S3 key: az keyvault secret set --vault-name ${vault} --name ${secret} --file key.txt`,
      },
    });
  return {
    ...values,
    accessKeyId: given(values.accessKeyId)
      ? values.accessKeyId
      : await read(names.accessKeyId, "--storage-access-key-id", "SUPABASE_S3_ACCESS_KEY_ID"),
    secretAccessKey: given(values.secretAccessKey)
      ? values.secretAccessKey
      : await read(names.secretAccessKey, "--storage-secret-access-key", "SUPABASE_S3_SECRET_ACCESS_KEY"),
  };
}
