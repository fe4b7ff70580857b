/**
 * A stand-in for the Azure CLI (`az`), the one test double the project allows. {@link installFakeAz}
 * writes a POSIX shell script named `az` into a fresh temp dir; put {@link FakeAz.dir} first on PATH.
 * The script appends its argv as one JSON line per call to {@link FakeAz.log}, and answers
 * exactly `az keyvault secret show --vault-name V --name S --query value -o tsv` (any other arguments
 * fail as the real CLI's argument errors do, exit 2) the way the real CLI does:
 * the value and a newline on stdout (exit 0), or the real CLI's messages on stderr when nobody is
 * logged in (exit 1), the vault's host does not resolve (exit 1), the secret does not exist
 * (SecretNotFound, exit 3) or the account lacks the get permission (Forbidden, exit 1).
 *
 * With {@link FakeAzOptions.storageToken}, it also answers exactly
 * `az account get-access-token --resource https://storage.azure.com/ -o json` with the JSON the real
 * CLI prints (accessToken, expiresOn, expires_on, subscription, tenant, tokenType); any other
 * `az account` arguments fail as the real CLI's argument errors do (exit 2).
 * @module
 */

/** What the stand-in knows. */
export interface FakeAzOptions {
  /** False: every call fails with "Please run 'az login' to setup account." Default true. */
  loggedIn?: boolean;
  /** Existing vaults: their secrets, and whether reading is forbidden. Other vaults do not resolve. */
  vaults?: Record<string, { secrets?: Record<string, string>; forbidden?: boolean }>;
  /** The token `az account get-access-token` prints for Azure Storage, valid for `tokenSeconds` (default 3600). */
  storageToken?: string;
  tokenSeconds?: number;
}

/** An installed stand-in. */
export interface FakeAz {
  /** The directory holding `az`; put it first on PATH. */
  dir: string;
  /** The file of recorded calls, one JSON array of arguments a line. */
  log: string;
  /** The recorded calls so far. */
  calls(): Promise<string[][]>;
  /** Removes the directory. */
  cleanup(): Promise<void>;
}

function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

const SCRIPT = `#!/bin/sh
# Stand-in for the Azure CLI written by tests/support/fake_az.ts: records argv, answers like az.
dir=__DIR__
PATH="$PATH:/usr/bin:/bin"
{
  printf '['
  sep=''
  for a in "$@"; do
    printf '%s"%s"' "$sep" "$(printf '%s' "$a" | sed -e 's/\\\\/\\\\\\\\/g' -e 's/"/\\\\"/g')"
    sep=','
  done
  printf ']\\n'
} >> "$dir/calls.jsonl"
if [ -f "$dir/logged-out" ]; then
  echo "ERROR: Please run 'az login' to setup account." >&2
  exit 1
fi
if [ "$1" = account ]; then
  if [ "$*" = "account get-access-token --resource https://storage.azure.com/ -o json" ] && [ -f "$dir/token.json" ]; then
    cat "$dir/token.json"
    exit 0
  fi
  echo "ERROR: unrecognized arguments: $*" >&2
  exit 2
fi
# only the exact form the tool runs: keyvault secret show --vault-name V --name S --query value -o tsv
if [ "$#" -ne 11 ] || [ "$1 $2 $3 $4" != "keyvault secret show --vault-name" ] || [ "$6" != "--name" ] ||
  [ "$8 $9 \${10} \${11}" != "--query value -o tsv" ]; then
  echo "ERROR: unrecognized arguments: $*" >&2
  exit 2
fi
vault="$5"
name="$7"
if [ -z "$vault" ] || [ ! -d "$dir/vaults/$vault" ]; then
  echo "ERROR: <urllib3.connection.HTTPSConnection object at 0x7f3a2c1e5d90>: Failed to resolve '$vault.vault.azure.net' ([Errno -2] Name or service not known)" >&2
  exit 1
fi
if [ -f "$dir/vaults/$vault/.forbidden" ]; then
  msg="The user, group or application 'appid=04b07795-8ddb-461a-bbee-02f9e1bf7b46;oid=3f1b2c4d-0000-4000-8000-000000000001;iss=https://sts.windows.net/72f988bf-0000-4000-8000-000000000002/' does not have secrets get permission on key vault '$vault;location=westeurope'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287"
  printf 'ERROR: (Forbidden) %s\\nCode: Forbidden\\nMessage: %s\\nInner error: {\\n    "code": "AccessDenied"\\n}\\n' "$msg" "$msg" >&2
  exit 1
fi
if [ -z "$name" ] || [ ! -f "$dir/vaults/$vault/$name" ]; then
  msg="A secret with (name/id) $name was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
  printf 'ERROR: (SecretNotFound) %s\\nCode: SecretNotFound\\nMessage: %s\\n' "$msg" "$msg" >&2
  exit 3
fi
cat "$dir/vaults/$vault/$name"
echo
`;

/** Writes the stand-in `az` into a new temp dir. See the module doc for its behaviour. */
export async function installFakeAz(opts: FakeAzOptions = {}): Promise<FakeAz> {
  const dir = await Deno.makeTempDir({ prefix: "fake-az-" });
  const log = `${dir}/calls.jsonl`;
  await Deno.writeTextFile(log, "");
  if (opts.loggedIn === false) await Deno.writeTextFile(`${dir}/logged-out`, "");
  for (const [vault, v] of Object.entries(opts.vaults ?? {})) {
    await Deno.mkdir(`${dir}/vaults/${vault}`, { recursive: true });
    if (v.forbidden) await Deno.writeTextFile(`${dir}/vaults/${vault}/.forbidden`, "");
    for (const [name, value] of Object.entries(v.secrets ?? {})) {
      await Deno.writeTextFile(`${dir}/vaults/${vault}/${name}`, value);
    }
  }
  if (opts.storageToken) {
    const exp = Math.floor(Date.now() / 1000) + (opts.tokenSeconds ?? 3600);
    const local = new Date(exp * 1000).toISOString().replace("T", " ").replace("Z", "000");
    await Deno.writeTextFile(
      `${dir}/token.json`,
      JSON.stringify(
        {
          accessToken: opts.storageToken,
          expiresOn: local,
          expires_on: exp,
          subscription: "00000000-0000-4000-8000-000000000003",
          tenant: "72f988bf-0000-4000-8000-000000000002",
          tokenType: "Bearer",
        },
        null,
        2,
      ) + "\n",
    );
  }
  await Deno.writeTextFile(`${dir}/az`, SCRIPT.replace("__DIR__", shQuote(dir)), { mode: 0o755 });
  return {
    dir,
    log,
    async calls() {
      const text = await Deno.readTextFile(log);
      return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l) as string[]);
    },
    async cleanup() {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
