/**
 * Azure Key Vault: reading one secret (a connection string, or a Storage S3 key) with the Azure CLI.
 *
 * The value is read by running exactly
 * `az keyvault secret show --vault-name <vault> --name <secret> --query value -o tsv`; it is
 * registered as a secret (and masked with `::add-mask::` inside GitHub Actions) before anything else
 * happens, and never appears in a message. A failed `az` becomes a {@link BackupError} whose hint
 * says how to fix it: install the CLI, `az login`, check the vault or secret name, or get permission.
 *
 * Name checks, the argument list and the failure classification are pure; only {@link runAzCli}
 * runs a program.
 * @module
 */
import { addMask } from "../base/actions.ts";
import { BackupError, ExitCode, usageError } from "../base/errors.ts";
import { abortSignal, interruption } from "../base/interrupt.ts";
import { redact, registerSecret } from "../base/redact.ts";

/** What one `az` run produced. */
export interface AzResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `az` with an argument list. {@link runAzCli} is the real one. */
export type AzRunner = (argv: string[]) => Promise<AzResult>;

/** Exit code of a shell for "command not found"; dax uses it too. */
const NOT_FOUND = 127;

/**
 * Checks an Azure Key Vault name: 3-24 letters, digits and hyphens, starting with a letter, ending
 * with a letter or digit, no two hyphens in a row. `origin` names where it came from (`--vault`,
 * `backup.config.json: vault`). Throws a usage error (exit 2).
 */
export function validateVaultName(name: string, origin: string): void {
  const ok = /^[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$/.test(name) && !name.includes("--");
  if (!ok) {
    const url = /^https?:\/\/([^./]+)\.vault\./i.exec(name);
    throw usageError(
      `${origin} '${name}' is not a Key Vault name`,
      url
        ? `give the vault's name, not its URL: ${url[1]}`
        : "a vault name has 3-24 letters, digits and hyphens and starts with a letter (az keyvault list --query [].name -o tsv)",
    );
  }
}

/**
 * Checks a Key Vault secret name: 1-127 letters, digits and hyphens. Throws a usage error (exit 2)
 * naming `origin`.
 */
export function validateSecretName(name: string, origin: string): void {
  if (!/^[A-Za-z0-9-]{1,127}$/.test(name)) {
    throw usageError(
      `${origin} '${name}' is not a Key Vault secret name`,
      "a secret name has 1-127 letters, digits and hyphens, e.g. supabase-db-url-prod",
    );
  }
}

/** The exact `az` arguments that print one secret's value. Pure. */
export function secretShowArgs(vault: string, secret: string): string[] {
  return [
    "keyvault",
    "secret",
    "show",
    "--vault-name",
    vault,
    "--name",
    secret,
    "--query",
    "value",
    "-o",
    "tsv",
  ];
}

/** The first `ERROR:` line of az's stderr (or its first line), masked and shortened. */
function firstErrorLine(stderr: string): string {
  const lines = stderr.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  const line = lines.find((l) => /^ERROR:/i.test(l)) ?? lines[0] ?? "";
  const text = redact(line.replace(/^ERROR:\s*/i, ""));
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}

/**
 * Turns a failed `az keyvault secret show` into a {@link BackupError} with a hint: the Azure CLI is
 * missing, nobody is logged in (or the login expired), the vault or the secret does not exist, or
 * the account may not read secrets. Exit code 1. Pure; never includes a secret value.
 */
export function azFailure(
  code: number,
  stderr: string,
  vault: string,
  secret: string,
  notFoundHint?: string,
): BackupError {
  const where = `secret '${secret}' in Key Vault '${vault}'`;
  if (code === NOT_FOUND && /command not found|not found|No such file/i.test(stderr)) {
    return new BackupError("the Azure CLI (az) is not installed or not on PATH", {
      hint:
        "install it (https://learn.microsoft.com/cli/azure/install-azure-cli; brew install azure-cli on macOS), then run 'az login'",
      cause: redact(stderr),
    });
  }
  if (/az login|AADSTS\d+|Interactive authentication is needed|No subscriptions found/i.test(stderr)) {
    return new BackupError(`the Azure CLI is not logged in (reading ${where})`, {
      hint:
        "run 'az login' (with an expired session: az login --scope https://vault.azure.net/.default), then try again",
      cause: redact(stderr),
    });
  }
  if (/SecretNotFound|secret with \(name\/id\)/i.test(stderr)) {
    return new BackupError(`Key Vault secret '${secret}' was not found in vault '${vault}'`, {
      hint: notFoundHint ??
        `check the secret name (--secret-prod, --secret-dev or databases.<env>.secret); list them with: az keyvault secret list --vault-name ${vault} --query [].name -o tsv`,
      cause: redact(stderr),
    });
  }
  if (
    /VaultNotFound|Failed to resolve|Max retries exceeded|Name or service not known|getaddrinfo|nodename nor servname|could not resolve/i
      .test(stderr)
  ) {
    return new BackupError(
      `Key Vault '${vault}' was not found or cannot be reached (${vault}.vault.azure.net)`,
      {
        hint:
          "check --vault (the vault's name, not its URL) and your network; list your vaults with: az keyvault list --query [].name -o tsv",
        cause: redact(stderr),
      },
    );
  }
  if (/Forbidden|does not have secrets get permission|not authorized|AccessDenied/i.test(stderr)) {
    return new BackupError(`no permission to read ${where}`, {
      hint:
        "ask for the 'Key Vault Secrets User' role on the vault (or a secret 'get' access policy); check the account with: az account show",
      cause: redact(stderr),
    });
  }
  const detail = firstErrorLine(stderr);
  return new BackupError(
    `az keyvault secret show failed for ${where} (exit ${code})${detail ? `: ${detail}` : ""}`,
    {
      hint:
        `run 'az keyvault secret show --vault-name ${vault} --name ${secret} --query id' to see the Azure CLI's own error`,
      cause: redact(stderr),
    },
  );
}

/**
 * Runs the real `az` with `argv`, capturing stdout and stderr; never throws for a non-zero exit.
 * `az` is looked up on `path` (a PATH value; default: this process's PATH). A missing `az` gives
 * exit code 127. Killed when the tool is interrupted.
 */
export async function runAzCli(argv: string[], path?: string): Promise<AzResult> {
  const { default: $ } = await import("dax");
  let cmd = $`az ${argv}`.stdin("null").stdout("piped").stderr("piped").noThrow().signal(abortSignal);
  if (path !== undefined) cmd = cmd.env({ PATH: path });
  const r = await cmd;
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

/** The password inside a connection string, if it has one (raw, maybe percent-encoded). Pure. */
export function urlPassword(url: string): string | undefined {
  const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)@/.exec(url.trim());
  if (!m) return undefined;
  const userinfo = m[1];
  const colon = userinfo.indexOf(":");
  return colon >= 0 && colon < userinfo.length - 1 ? userinfo.slice(colon + 1) : undefined;
}

/** Registers a connection string and the password inside it as secrets (see {@link registerSecret}). */
export function registerUrlSecrets(url: string): void {
  registerSecret(url);
  registerSecret(url.trim());
  registerSecret(urlPassword(url));
}

/** Options of {@link readSecret}. */
export interface ReadSecretDeps {
  /** The environment (for `GITHUB_ACTIONS`). */
  env: Record<string, string | undefined>;
  /** How to run `az`; defaults to {@link runAzCli} on the PATH of `env`. */
  runAz?: AzRunner;
  /** Where the vault name came from, for the error when it is malformed. */
  vaultOrigin?: string;
  /** Where the secret name came from. */
  secretOrigin?: string;
  /** What the secret holds, for the hints when it is missing or empty; default a connection string. */
  holds?: { notFound: string; empty: string };
}

/**
 * Reads one secret's value from Azure Key Vault with the Azure CLI and returns it without its
 * trailing newline. The value, and the password inside it when it is a connection string, are
 * registered with {@link registerSecret}; inside GitHub Actions they are first masked with
 * `::add-mask::` on stdout. Throws a usage error (exit 2) for a malformed vault or secret name, and a
 * {@link BackupError} (exit 1) with a hint when `az` fails or the secret is empty.
 */
export async function readSecret(vault: string, secret: string, deps: ReadSecretDeps): Promise<string> {
  validateVaultName(vault, deps.vaultOrigin ?? "--vault");
  validateSecretName(secret, deps.secretOrigin ?? "secret");
  const run = deps.runAz ?? ((argv: string[]) => runAzCli(argv, deps.env.PATH));
  let r: AzResult;
  try {
    r = await run(secretShowArgs(vault, secret));
  } catch (e) {
    const stopped = interruption();
    if (stopped) throw stopped;
    throw azFailure(NOT_FOUND, (e as Error)?.message ?? String(e), vault, secret, deps.holds?.notFound);
  }
  const stopped = interruption();
  if (stopped) throw stopped;
  const value = r.stdout.replace(/[\r\n]+$/, "");
  if (r.code === 0 && value) {
    addMask(value, deps.env);
    const pw = urlPassword(value);
    if (pw) addMask(pw, deps.env);
    registerUrlSecrets(value);
    return value;
  }
  if (r.code === 0) {
    throw new BackupError(`Key Vault secret '${secret}' in vault '${vault}' is empty`, {
      hint: deps.holds?.empty ??
        `store the connection string: az keyvault secret set --vault-name ${vault} --name ${secret} --file url.txt`,
      exitCode: ExitCode.failed,
    });
  }
  throw azFailure(r.code, r.stderr, vault, secret, deps.holds?.notFound);
}
