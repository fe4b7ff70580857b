/**
 * Key Vault mode against a stand-in `az` (tests/support/fake_az.ts) that records its argv and answers
 * like the real Azure CLI: the exact command line, each failure's own message, hint and exit code,
 * masking in GitHub Actions, and `--env both` backing up two real databases into two roots.
 */
import { deepStrictEqual as assertEquals, ok, rejects } from "node:assert/strict";
import { parseCli } from "../lib/cli/flags.ts";
import { BackupError } from "../lib/base/errors.ts";
import { readSecret } from "../lib/cli/keyvault.ts";
import { redact } from "../lib/base/redact.ts";
import { resolveTargets } from "../lib/cli/sources.ts";
import { sharedCluster } from "./support/cluster.ts";
import { listFiles, PLAIN_PATH, runCli } from "./support/cli.ts";
import { installFakeAz } from "./support/fake_az.ts";
import { FIXTURE_PASSWORD, loadFixture } from "./support/fixture.ts";
import type { Manifest } from "../lib/store/manifest.ts";

const PROD_URL =
  "postgresql://postgres.prodref:Pr0d%23Secret!@aws-0-eu-west-1.pooler.supabase.com:5432/postgres";
const DEV_URL =
  "postgresql://postgres.devref:D3v-Secret-xyz@aws-0-eu-west-1.pooler.supabase.com:5432/postgres";

/** The exact argv the tool must give az for one secret. */
const show = (vault: string, secret: string) => [
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

/** Fails when any of `secrets` occurs in `text`. */
function assertNoSecret(text: string, secrets: string[], where: string) {
  for (const s of secrets) ok(!text.includes(s), `${where} contains a secret (${s.slice(0, 3)}…):\n${text}`);
}

Deno.test("--env both reads prod then dev with the exact az command line; values are registered", async () => {
  const az = await installFakeAz({
    vaults: { "acme-kv": { secrets: { "supabase-db-url-prod": PROD_URL, "dev-conn": DEV_URL } } },
  });
  try {
    const env = { PATH: `${az.dir}:${PLAIN_PATH}` };
    const args = parseCli([
      "backup",
      "--vault",
      "acme-kv",
      "--env",
      "both",
      "--secret-dev",
      "dev-conn",
      "--yes",
    ], env);
    const targets = await resolveTargets(args, { env, isTTY: false, config: null });
    assertEquals(targets, [
      { env: "prod", url: PROD_URL, urlOrigin: "Key Vault acme-kv/supabase-db-url-prod", vault: "acme-kv" },
      { env: "dev", url: DEV_URL, urlOrigin: "Key Vault acme-kv/dev-conn", vault: "acme-kv" },
    ]);
    assertEquals(await az.calls(), [show("acme-kv", "supabase-db-url-prod"), show("acme-kv", "dev-conn")]);
    assertEquals(redact(`a ${PROD_URL} b Pr0d#Secret! c D3v-Secret-xyz`), "a **** b **** c ****");
  } finally {
    await az.cleanup();
  }
});

Deno.test("each az failure has its own message and hint, exit 1, and never shows a value", async () => {
  const az = await installFakeAz({
    vaults: {
      "acme-kv": { secrets: { "supabase-db-url-prod": PROD_URL } },
      "locked-kv": { forbidden: true, secrets: { "supabase-db-url-prod": DEV_URL } },
    },
  });
  const loggedOut = await installFakeAz({ loggedIn: false });
  const empty = await Deno.makeTempDir({ prefix: "no-az-" });
  try {
    const cases: {
      name: string;
      path: string;
      vault: string;
      secret: string;
      message: RegExp;
      hint: RegExp;
    }[] = [
      {
        name: "not logged in",
        path: loggedOut.dir,
        vault: "acme-kv",
        secret: "supabase-db-url-prod",
        message:
          /^the Azure CLI is not logged in \(reading secret 'supabase-db-url-prod' in Key Vault 'acme-kv'\)$/,
        hint: /run 'az login'/,
      },
      {
        name: "secret not found",
        path: az.dir,
        vault: "acme-kv",
        secret: "supabase-db-url-dev",
        message: /^Key Vault secret 'supabase-db-url-dev' was not found in vault 'acme-kv'$/,
        hint: /az keyvault secret list --vault-name acme-kv/,
      },
      {
        name: "vault not found",
        path: az.dir,
        vault: "typo-kv",
        secret: "supabase-db-url-prod",
        message: /^Key Vault 'typo-kv' was not found or cannot be reached \(typo-kv\.vault\.azure\.net\)$/,
        hint: /check --vault .*az keyvault list/,
      },
      {
        name: "permission denied",
        path: az.dir,
        vault: "locked-kv",
        secret: "supabase-db-url-prod",
        message: /^no permission to read secret 'supabase-db-url-prod' in Key Vault 'locked-kv'$/,
        hint: /Key Vault Secrets User/,
      },
      {
        name: "az missing",
        path: empty,
        vault: "acme-kv",
        secret: "supabase-db-url-prod",
        message: /^the Azure CLI \(az\) is not installed or not on PATH$/,
        hint: /install-azure-cli/,
      },
    ];
    const hints = new Set<string>();
    for (const c of cases) {
      await rejects(readSecret(c.vault, c.secret, { env: { PATH: c.path } }), (e: BackupError) => {
        ok(e instanceof BackupError, `${c.name}: ${e}`);
        ok(c.message.test(e.message), `${c.name}: message was ${e.message}`);
        ok(c.hint.test(e.hint ?? ""), `${c.name}: hint was ${e.hint}`);
        assertEquals(e.exitCode, 1, c.name);
        assertNoSecret(`${e.message}\n${e.hint}\n${String(e.cause)}`, [
          PROD_URL,
          DEV_URL,
          "Pr0d",
          "D3v-Secret",
        ], c.name);
        hints.add(e.hint!);
        return true;
      });
    }
    assertEquals(hints.size, cases.length, "every failure has its own hint");
    assertEquals((await loggedOut.calls()).length, 1);
    assertEquals((await az.calls()).map((a) => a[4]), ["acme-kv", "typo-kv", "locked-kv"]);
  } finally {
    await az.cleanup();
    await loggedOut.cleanup();
    await Deno.remove(empty, { recursive: true });
  }
});

Deno.test("a malformed vault name is a usage error (exit 2) and az is never run", async () => {
  const az = await installFakeAz({ vaults: {} });
  try {
    const env = { PATH: `${az.dir}:${PLAIN_PATH}` };
    for (const vault of ["https://acme-kv.vault.azure.net", "kv", "acme_kv", "9lives"]) {
      const args = parseCli(["backup", "--vault", vault, "--yes"], env);
      await rejects(resolveTargets(args, { env, isTTY: false, config: null }), (e: BackupError) => {
        assertEquals(e.message, `--vault '${vault}' is not a Key Vault name`);
        assertEquals(e.exitCode, 2);
        ok(e.hint);
        return true;
      });
    }
    assertEquals(await az.calls(), []);
  } finally {
    await az.cleanup();
  }
});

Deno.test("CLI: Key Vault failures end the run with error/hint lines and exit 1, no secret in the output", async () => {
  const az = await installFakeAz({
    vaults: { "acme-kv": { secrets: { "supabase-db-url-prod": PROD_URL } } },
  });
  const out = await Deno.makeTempDir({ prefix: "kv-cli-" });
  try {
    const r = await runCli(
      ["backup", "--vault", "acme-kv", "--env", "both", "--yes", "--out", out],
      { PATH: `${az.dir}:${PLAIN_PATH}` },
    );
    assertEquals(r.code, 1, r.stderr);
    ok(
      r.stderr.includes(
        "error: [dev] Key Vault secret 'supabase-db-url-dev' was not found in vault 'acme-kv'",
      ),
      r.stderr,
    );
    ok(/^hint: check the secret name/m.test(r.stderr), r.stderr);
    // prod (an unreachable host here) was still tried: one environment's secret does not stop the other
    ok(r.stderr.includes("error: [prod] cannot resolve host"), r.stderr);
    assertNoSecret(r.stdout + r.stderr, [PROD_URL, "Pr0d%23Secret", "Pr0d#Secret"], "CLI output");
    assertEquals(await az.calls(), [
      show("acme-kv", "supabase-db-url-prod"),
      show("acme-kv", "supabase-db-url-dev"),
    ]);
    assertEquals(await listFiles(out), [], "nothing was written");

    const noAz = await runCli(["backup", "--vault", "acme-kv", "--yes", "--out", out], { PATH: out });
    assertEquals(noAz.code, 1, noAz.stderr);
    ok(noAz.stderr.includes("error: the Azure CLI (az) is not installed or not on PATH"), noAz.stderr);
    ok(noAz.stderr.includes("hint: install it"), noAz.stderr);

    const bad = await runCli(["backup", "--vault", "acme_kv", "--yes"], { PATH: `${az.dir}:${PLAIN_PATH}` });
    assertEquals(bad.code, 2, bad.stderr);
    ok(bad.stderr.includes("error: --vault 'acme_kv' is not a Key Vault name"), bad.stderr);
    assertEquals((await az.calls()).length, 2, "no az call for a malformed vault name");
  } finally {
    await az.cleanup();
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("CLI: --vault --env both backs up two real databases into <out>/prod and <out>/dev", async () => {
  const cluster = await sharedCluster(17);
  const prod = await loadFixture(cluster, await cluster.createDatabase(), { app: false });
  const dev = await loadFixture(cluster, await cluster.createDatabase(), { app: false });
  const az = await installFakeAz({
    vaults: { "acme-kv": { secrets: { "supabase-db-url-prod": prod.url, "supabase-db-url-dev": dev.url } } },
  });
  const out = await Deno.makeTempDir({ prefix: "kv-both-" });
  const secrets = [prod.url, dev.url, FIXTURE_PASSWORD, encodeURIComponent(FIXTURE_PASSWORD)];
  try {
    const env = { PATH: `${az.dir}:${PLAIN_PATH}`, GITHUB_ACTIONS: "true" };

    // dry run: both plans, nothing written
    const dry = await runCli([
      "backup",
      "--vault",
      "acme-kv",
      "--env",
      "both",
      "--yes",
      "--dry-run",
      "--out",
      out,
    ], env);
    assertEquals(dry.code, 0, dry.stderr);
    const masks = dry.stdout.split("\n").filter((l) => l.startsWith("::add-mask::"));
    ok(dry.stdout.startsWith("::add-mask::"), `the mask comes first:\n${dry.stdout.slice(0, 300)}`);
    ok(
      masks.includes(`::add-mask::${prod.url}`) && masks.includes(`::add-mask::${dev.url}`),
      "both values masked",
    );
    ok(masks.includes(`::add-mask::${encodeURIComponent(FIXTURE_PASSWORD)}`), "the password is masked too");
    const rest = dry.stdout.split("\n").filter((l) => !l.startsWith("::add-mask::")).join("\n");
    assertNoSecret(rest + dry.stderr, secrets, "dry-run output");
    ok(rest.includes(prod.db) && rest.includes(dev.db), `both databases are planned:\n${rest}`);
    assertEquals(await listFiles(out), [], "a dry run writes nothing");

    // the real run
    await Deno.writeTextFile(`${out}/.keep`, "");
    const r = await runCli(["backup", "--vault", "acme-kv", "--env", "both", "--yes", "--out", out], {
      PATH: env.PATH,
    });
    ok(r.code === 0 || r.code === 3, `exit ${r.code}\n${r.stderr}`);
    assertNoSecret(r.stdout + r.stderr, secrets, "backup output");
    ok(/Backup summary \(prod\)/.test(r.stdout) && /Backup summary \(dev\)/.test(r.stdout), r.stdout);
    ok(/^Total: 2 environments \(prod=\w+, dev=\w+\)/m.test(r.stdout), r.stdout);
    assertEquals(
      await az.calls(),
      [1, 2].flatMap(() => [show("acme-kv", "supabase-db-url-prod"), show("acme-kv", "supabase-db-url-dev")]),
    );
    for (const [name, fx] of [["prod", prod], ["dev", dev]] as const) {
      const m = JSON.parse(await Deno.readTextFile(`${out}/${name}/latest/manifest.json`)) as Manifest;
      assertEquals(
        [m.environment, m.database.name],
        [name, fx.db],
        `${name} root holds the ${name} database`,
      );
      ok(m.schemas.some((s) => s.tables.length > 0), `${name} backup has tables`);
    }
    for (const f of await listFiles(out)) {
      const bytes = await Deno.readFile(`${out}/${f}`);
      assertNoSecret(new TextDecoder().decode(bytes), secrets, f);
    }
  } finally {
    await az.cleanup();
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("CLI: --env both with the dev secret missing still backs up prod, then exits 1 naming dev", async () => {
  const cluster = await sharedCluster(17);
  const prod = await loadFixture(cluster, await cluster.createDatabase(), { app: false });
  const az = await installFakeAz({
    vaults: { "acme-kv": { secrets: { "supabase-db-url-prod": prod.url } } },
  });
  const out = await Deno.makeTempDir({ prefix: "kv-both-missing-" });
  try {
    const r = await runCli(["backup", "--vault", "acme-kv", "--env", "both", "--yes", "--out", out], {
      PATH: `${az.dir}:${PLAIN_PATH}`,
    });
    assertEquals(r.code, 1, r.stderr);
    ok(
      r.stderr.includes(
        "error: [dev] Key Vault secret 'supabase-db-url-dev' was not found in vault 'acme-kv'",
      ),
      r.stderr,
    );
    ok(/^Total: 2 environments \(prod=\w+, dev=failed\)/m.test(r.stdout), r.stdout);
    assertNoSecret(r.stdout + r.stderr, [prod.url, FIXTURE_PASSWORD], "output");
    const m = JSON.parse(await Deno.readTextFile(`${out}/prod/latest/manifest.json`)) as Manifest;
    assertEquals([m.environment, m.database.name], ["prod", prod.db]);
    assertEquals(await listFiles(`${out}/dev`).catch(() => []), []);
  } finally {
    await az.cleanup();
    await Deno.remove(out, { recursive: true });
  }
});
