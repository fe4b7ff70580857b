import { deepStrictEqual as assertEquals, ok, rejects, throws } from "node:assert/strict";
import { parseCli } from "../../../lib/cli/flags.ts";
import { type BackupConfig, parseConfig } from "../../../lib/cli/config.ts";
import { redact } from "../../../lib/base/redact.ts";
import {
  describeTargets,
  planTargets,
  resolveTargets,
  storageValuesFor,
  type TargetPlan,
} from "../../../lib/cli/sources.ts";

const PROD = "postgresql://postgres.ref:prod-pw-123@aws-0-eu-west-1.pooler.supabase.com:5432/postgres";
const DEV = "postgresql://postgres.devref:dev-pw-456@aws-0-eu-west-1.pooler.supabase.com:5432/postgres";

/** Matches a usage error (exit 2) with exactly `message` and a hint containing `hint`. */
function usage(message: string | RegExp, hint?: string) {
  return (e: Error & { exitCode?: number; hint?: string }) => {
    const same = typeof message === "string" ? e.message === message : message.test(e.message);
    ok(same, `message was: ${e.message}`);
    assertEquals(e.exitCode, 2);
    ok(e.hint, `no hint for: ${e.message}`);
    if (hint) ok(e.hint!.includes(hint), `hint was: ${e.hint}`);
    return true;
  };
}

/** Plans with the real CLI parser; `env` feeds both the flags' variables and the lookups. */
function plan(
  argv: string[],
  env: Record<string, string> = {},
  config?: BackupConfig,
  interactive = false,
  answers = {},
): TargetPlan {
  return planTargets(parseCli(["backup", ...argv], env), config, env, { interactive, answers });
}

/** The ready plan as [env, source description] pairs. */
function summary(p: TargetPlan): [string | undefined, string][] {
  if (p.kind !== "ready") throw new Error(`expected a ready plan, got ${JSON.stringify(p)}`);
  return p.targets.map((t) => [
    t.env,
    t.source.kind === "url"
      ? `url ${t.source.origin}`
      : `vault ${t.source.vault}/${t.source.secret} (${t.source.vaultOrigin}; ${t.source.secretOrigin})`,
  ]);
}

const cfg = (o: unknown) => parseConfig(JSON.stringify(o), "backup.config.json");

Deno.test("no --env and no config: one target from --db-url or $SUPABASE_DB_URL, no environment", () => {
  assertEquals(summary(plan(["--db-url", PROD])), [[undefined, "url --db-url"]]);
  assertEquals(summary(plan([], { SUPABASE_DB_URL: PROD })), [[undefined, "url $SUPABASE_DB_URL"]]);
  const p = plan(["--db-url", PROD], { SUPABASE_DB_URL: DEV });
  assertEquals(p.kind === "ready" && p.targets[0].source.kind === "url" && p.targets[0].source.url, PROD);
});

Deno.test("no URL at all: a usage error naming --db-url and $SUPABASE_DB_URL, or the vault question", () => {
  throws(() => plan([]), usage("no database URL", "--db-url or set $SUPABASE_DB_URL"));
  throws(() => plan(["--yes"]), usage("no database URL"));
  assertEquals(plan([], {}, undefined, true), { kind: "ask-vault" });
  assertEquals(summary(plan([], {}, undefined, true, { vault: "typed-kv", env: "dev" })), [
    ["dev", "vault typed-kv/supabase-db-url-dev (the vault prompt; the default secret name of dev)"],
  ]);
});

Deno.test("--vault: prod by default, both is prod then dev, --secret-* rename the secrets", () => {
  assertEquals(summary(plan(["--vault", "acme-kv"])), [
    ["prod", "vault acme-kv/supabase-db-url-prod (--vault; the default secret name of prod)"],
  ]);
  assertEquals(summary(plan(["--vault", "acme-kv", "--env", "both", "--secret-dev", "dev-url"])), [
    ["prod", "vault acme-kv/supabase-db-url-prod (--vault; the default secret name of prod)"],
    ["dev", "vault acme-kv/dev-url (--vault; --secret-dev)"],
  ]);
  assertEquals(
    summary(plan(["--env", "dev"], { AZURE_KEYVAULT_NAME: "env-kv", BACKUP_SECRET_DEV: "d" })),
    [["dev", "vault env-kv/d ($AZURE_KEYVAULT_NAME; $BACKUP_SECRET_DEV)"]],
  );
  // on a terminal the environment is asked for
  assertEquals(plan(["--vault", "acme-kv"], {}, undefined, true), {
    kind: "ask-env",
    options: ["prod", "dev", "both"],
  });
  assertEquals(summary(plan(["--vault", "acme-kv"], {}, undefined, true, { env: "dev" })), [
    ["dev", "vault acme-kv/supabase-db-url-dev (--vault; the default secret name of dev)"],
  ]);
});

Deno.test("--env without a vault: URLs from flags and variables, $SUPABASE_DB_URL_DEV for dev", () => {
  const both = { SUPABASE_DB_URL: PROD, SUPABASE_DB_URL_DEV: DEV };
  assertEquals(summary(plan(["--env", "both"], both)), [
    ["prod", "url $SUPABASE_DB_URL"],
    ["dev", "url $SUPABASE_DB_URL_DEV"],
  ]);
  assertEquals(summary(plan(["--env", "dev"], both)), [["dev", "url $SUPABASE_DB_URL_DEV"]]);
  // a single environment may take $SUPABASE_DB_URL (the workflows map each GitHub environment to it)
  assertEquals(summary(plan(["--env", "dev"], { SUPABASE_DB_URL: DEV })), [["dev", "url $SUPABASE_DB_URL"]]);
  assertEquals(summary(plan(["--env", "dev", "--db-url", DEV], both)), [["dev", "url --db-url"]]);
  assertEquals(summary(plan([], { BACKUP_ENV: "prod", SUPABASE_DB_URL: PROD })), [[
    "prod",
    "url $SUPABASE_DB_URL",
  ]]);
  throws(
    () => plan(["--env", "both"], { SUPABASE_DB_URL: PROD }),
    usage("no database URL for environment 'dev'", "$SUPABASE_DB_URL_DEV"),
  );
  throws(() => plan(["--env", "prod"]), usage("no database URL for environment 'prod'", "--db-url"));
});

Deno.test("unknown environments and conflicting flags are usage errors", () => {
  throws(
    () => plan(["--env", "staging", "--db-url", PROD]),
    usage("--env names an unknown environment 'staging'", "prod, dev or both"),
  );
  throws(
    () => plan([], { BACKUP_ENV: "Prod", SUPABASE_DB_URL: PROD }),
    usage("$BACKUP_ENV names an unknown environment 'Prod'"),
  );
  throws(
    () => plan(["--db-url", PROD, "--vault", "acme-kv"]),
    usage("--db-url and --vault exclude each other"),
  );
  throws(
    () => plan(["--db-url", PROD, "--secret-prod", "x"]),
    usage("--secret-prod needs a Key Vault", "--vault"),
  );
  throws(
    () => plan(["--vault", "https://acme-kv.vault.azure.net"]),
    usage(/^--vault 'https:\/\/acme-kv.vault.azure.net' is not a Key Vault name$/, "not its URL: acme-kv"),
  );
  throws(
    () => plan(["--vault", "acme-kv", "--secret-prod", "db_url"]),
    usage("--secret-prod 'db_url' is not a Key Vault secret name"),
  );
});

Deno.test("config file: entries, urlEnv, per-database vault and secret, default env", () => {
  const config = cfg({
    vault: "acme-kv",
    databases: {
      prod: { secret: "prod-conn", scope: "full", retention: { keepDaily: 7 } },
      dev: { urlEnv: "MY_DEV_URL", scope: "user" },
      staging: { url: "postgresql://postgres:stage-pw@localhost:5432/postgres" },
      qa: { vault: "qa-kv" },
    },
  });
  assertEquals(summary(plan(["--env", "both"], { MY_DEV_URL: DEV }, config)), [
    [
      "prod",
      "vault acme-kv/prod-conn (backup.config.json: vault; backup.config.json: databases.prod.secret)",
    ],
    ["dev", "url $MY_DEV_URL (backup.config.json: databases.dev.urlEnv)"],
  ]);
  assertEquals(summary(plan(["--env", "staging"], {}, config)), [
    ["staging", "url backup.config.json: databases.staging.url"],
  ]);
  assertEquals(summary(plan(["--env", "qa"], {}, config)), [
    [
      "qa",
      "vault qa-kv/supabase-db-url-qa (backup.config.json: databases.qa.vault; the default secret name of qa)",
    ],
  ]);
  throws(
    () => plan(["--env", "dev"], {}, config),
    usage("backup.config.json: databases.dev.urlEnv names $MY_DEV_URL, which is not set"),
  );
  // flags and variables beat the file
  assertEquals(summary(plan(["--env", "staging", "--db-url", PROD], {}, config)), [[
    "staging",
    "url --db-url",
  ]]);
  assertEquals(summary(plan(["--env", "dev"], { SUPABASE_DB_URL_DEV: DEV }, config)), [
    ["dev", "url $SUPABASE_DB_URL_DEV"],
  ]);
  assertEquals(summary(plan(["--env", "prod", "--secret-prod", "flag-secret"], {}, config)), [
    ["prod", "vault acme-kv/flag-secret (backup.config.json: vault; --secret-prod)"],
  ]);
  // the file's vault makes prod the default environment
  assertEquals(summary(plan([], {}, config)), [
    [
      "prod",
      "vault acme-kv/prod-conn (backup.config.json: vault; backup.config.json: databases.prod.secret)",
    ],
  ]);
  const p = plan(["--env", "prod"], {}, config);
  assertEquals(p.kind === "ready" && p.targets[0].db, {
    secret: "prod-conn",
    scope: "full",
    retention: { keepDaily: 7 },
  });
});

Deno.test("config file without a vault: one database is the default, several need --env", () => {
  const one = cfg({ databases: { main: { url: PROD } } });
  assertEquals(summary(plan([], {}, one)), [["main", "url backup.config.json: databases.main.url"]]);
  const two = cfg({ databases: { prod: { urlEnv: "P" }, dev: { urlEnv: "D" } } });
  throws(
    () => plan([], { P: PROD, D: DEV }, two),
    usage("no --env given and backup.config.json lists 2 databases (prod, dev)", "--env prod|dev|both"),
  );
  assertEquals(plan([], {}, two, true), { kind: "ask-env", options: ["prod", "dev", "both"] });
  assertEquals(summary(plan([], { P: PROD, D: DEV }, two, true, { env: "both" })), [
    ["prod", "url $P (backup.config.json: databases.prod.urlEnv)"],
    ["dev", "url $D (backup.config.json: databases.dev.urlEnv)"],
  ]);
  assertEquals(summary(plan([], { P: PROD }, cfg({ env: "prod", databases: { prod: { urlEnv: "P" } } }))), [
    ["prod", "url $P (backup.config.json: databases.prod.urlEnv)"],
  ]);
  throws(
    () => plan(["--env", "prod"], {}, cfg({ databases: { prod: { secret: "s" } } })),
    usage("backup.config.json: databases.prod.secret needs a Key Vault", "--vault"),
  );
  // an explicit URL wins over choosing among the file's databases
  assertEquals(summary(plan([], { SUPABASE_DB_URL: PROD }, two)), [[undefined, "url $SUPABASE_DB_URL"]]);
});

Deno.test("resolveTargets (no prompts, no vault): targets carry the file's settings; passwords are registered", async () => {
  const config = cfg({
    databases: {
      prod: {
        urlEnv: "P",
        scope: "user",
        schemas: ["public"],
        excludeTables: ["public.log"],
        retention: { keepLast: 2 },
      },
      dev: {},
    },
  });
  const env = { P: PROD, SUPABASE_DB_URL_DEV: DEV };
  const targets = await resolveTargets(parseCli(["backup", "--env", "both"], env), {
    env,
    isTTY: false,
    config,
  });
  assertEquals(targets, [
    {
      env: "prod",
      url: PROD,
      urlOrigin: "$P (backup.config.json: databases.prod.urlEnv)",
      scope: "user",
      schemas: ["public"],
      excludeTables: ["public.log"],
      retention: { keepLast: 2 },
    },
    { env: "dev", url: DEV, urlOrigin: "$SUPABASE_DB_URL_DEV" },
  ]);
  ok(!redact(`x ${PROD} prod-pw-123 ${DEV} dev-pw-456`).includes("-pw-"), "passwords are redacted");
  // a terminal with --yes never prompts: the missing URL is an error
  await rejects(
    resolveTargets(parseCli(["backup", "--yes"], {}), { env: {}, isTTY: true, config: null }),
    usage("no database URL"),
  );
  assertEquals(
    describeTargets(targets)[1],
    `dev      ${DEV.replace("dev-pw-456", "****")}  (from $SUPABASE_DB_URL_DEV)`,
  );
});

Deno.test("storageValuesFor reads only the S3 keys not given, from the connection string's vault", async () => {
  const calls: string[][] = [];
  const runAz = (argv: string[]) => {
    calls.push(argv);
    return Promise.resolve({ code: 0, stdout: `value-of-${argv[6]}\n`, stderr: "" });
  };
  const given = { endpoint: "https://x.example/s3", region: "r", accessKeyId: "id" };
  const fromUrl = { env: "prod", url: "postgresql://h/db", urlOrigin: "--db-url" };
  assertEquals(await storageValuesFor(given, fromUrl, { env: {}, runAz }), given, "no vault: as given");
  const fromVault = { ...fromUrl, urlOrigin: "Key Vault kv-one/supabase-db-url-prod", vault: "kv-one" };
  assertEquals(await storageValuesFor({ ...given, secretAccessKey: "s" }, fromVault, { env: {}, runAz }), {
    ...given,
    secretAccessKey: "s",
  });
  ok(calls.length === 0, "both keys given: nothing read");
  assertEquals(await storageValuesFor(given, { ...fromVault, env: "dev" }, { env: {}, runAz }), {
    ...given,
    secretAccessKey: "value-of-supabase-s3-secret-access-key-dev",
  });
  assertEquals(calls.map((c) => c.slice(4, 7)), [["kv-one", "--name", "supabase-s3-secret-access-key-dev"]]);
  ok(
    redact("value-of-supabase-s3-secret-access-key-dev") === "****",
    "the key read is registered as a secret",
  );
});
