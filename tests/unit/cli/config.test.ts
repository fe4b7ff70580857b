import { deepStrictEqual as assertEquals, ok, rejects, throws } from "node:assert/strict";
import { parseCli } from "../../../lib/cli/flags.ts";
import { applyConfig, loadConfig, parseConfig } from "../../../lib/cli/config.ts";

const FILE = "backup.config.json";

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

const parse = (o: unknown) => parseConfig(JSON.stringify(o), FILE);

Deno.test("a full config file parses into typed settings, databases in file order", () => {
  const c = parse({
    out: "db-backups",
    vault: "acme-kv",
    env: "both",
    databases: {
      prod: {
        secret: "supabase-db-url-prod",
        scope: "full",
        retention: { keepLast: 3, keepDaily: 14, keepWeekly: 8, keepMonthly: 12, keepWithin: "36h" },
      },
      dev: { urlEnv: "$DEV_URL", scope: "user", schemas: ["public"], excludeTables: ["public.big_log"] },
      staging: { url: "postgresql://postgres:pw@localhost:5432/postgres", vault: "other-kv" },
    },
  });
  assertEquals(c, {
    path: FILE,
    out: "db-backups",
    vault: "acme-kv",
    env: "both",
    databases: {
      prod: {
        secret: "supabase-db-url-prod",
        scope: "full",
        retention: { keepLast: 3, keepDaily: 14, keepWeekly: 8, keepMonthly: 12, keepWithin: "36h" },
      },
      dev: { urlEnv: "DEV_URL", scope: "user", schemas: ["public"], excludeTables: ["public.big_log"] },
      staging: { url: "postgresql://postgres:pw@localhost:5432/postgres", vault: "other-kv" },
    },
  });
  assertEquals(Object.keys(c.databases), ["prod", "dev", "staging"]);
  assertEquals(parse({}), { path: FILE, databases: {} });
});

Deno.test("wrong types name the file and the key path (exit 2)", () => {
  throws(
    () => parse({ databases: { prod: { url: 5 } } }),
    usage("backup.config.json: databases.prod.url must be a string"),
  );
  throws(() => parse({ out: ["x"] }), usage("backup.config.json: out must be a string"));
  throws(() => parse({ out: " " }), usage("backup.config.json: out must not be empty"));
  throws(() => parse({ databases: [] }), usage("backup.config.json: databases must be an object"));
  throws(
    () => parse({ databases: { dev: "x" } }),
    usage("backup.config.json: databases.dev must be an object"),
  );
  throws(
    () => parse({ databases: { dev: { schemas: "public" } } }),
    usage("backup.config.json: databases.dev.schemas must be a list of strings"),
  );
  throws(
    () => parse({ databases: { dev: { schemas: ["public", 3] } } }),
    usage("backup.config.json: databases.dev.schemas[1] must be a string"),
  );
  throws(
    () => parse({ databases: { dev: { retention: { keepDaily: -1 } } } }),
    usage("backup.config.json: databases.dev.retention.keepDaily must be a whole number of 1 or more"),
  );
  throws(
    () => parse({ databases: { dev: { retention: { keepLast: 0 } } } }),
    usage("backup.config.json: databases.dev.retention.keepLast must be a whole number of 1 or more"),
  );
  throws(
    () => parse({ databases: { dev: { retention: { keepWithin: "0d" } } } }),
    usage(/databases\.dev\.retention\.keepWithin must be a duration like 36h/),
  );
  throws(
    () => parse({ databases: { dev: { retention: { keepLast: 1.5 } } } }),
    usage(/databases\.dev\.retention\.keepLast must be a whole number/),
  );
  throws(
    () => parse({ databases: { dev: { retention: { keepWithin: "2 weeks" } } } }),
    usage(/databases\.dev\.retention\.keepWithin must be a duration like 36h/),
  );
  throws(
    () => parse({ databases: { dev: { scope: "all" } } }),
    usage(`backup.config.json: databases.dev.scope must be "full" or "user", got 'all'`),
  );
  throws(
    () => parseConfig("[1]", FILE),
    usage("backup.config.json: (top level) must be an object", "docs/configuration.md"),
  );
});

Deno.test("unknown keys are errors, with a suggestion for a near miss", () => {
  throws(
    () => parse({ databases: { prod: { scop: "user" } } }),
    usage("backup.config.json: databases.prod.scop is not a known key", "did you mean 'scope'?"),
  );
  throws(
    () => parse({ vualt: "kv" }),
    usage("backup.config.json: vualt is not a known key", "did you mean 'vault'?"),
  );
  throws(
    () => parse({ databases: { prod: { retention: { keep_last: 3 } } } }),
    usage(
      "backup.config.json: databases.prod.retention.keep_last is not a known key",
      "did you mean 'keepLast'?",
    ),
  );
  throws(
    () => parse({ databases: { prod: { password: "x" } } }),
    usage("backup.config.json: databases.prod.password is not a known key", "keys here: url, urlEnv, secret"),
  );
});

Deno.test("sources, names and values are checked", () => {
  throws(
    () => parse({ databases: { prod: { url: "postgresql://h/db", secret: "s" } } }),
    usage("backup.config.json: databases.prod has url and secret; give only one"),
  );
  throws(
    () => parse({ databases: { prod: { url: "mysql://h/db" } } }),
    usage("backup.config.json: databases.prod.url must start with postgresql://"),
  );
  throws(
    () => parse({ databases: { prod: { urlEnv: "MY-URL" } } }),
    usage(/databases\.prod\.urlEnv must be an environment variable name, got 'MY-URL'/),
  );
  throws(
    () => parse({ databases: { prod: { secret: "db_url" } } }),
    usage("backup.config.json: databases.prod.secret 'db_url' is not a Key Vault secret name"),
  );
  throws(
    () => parse({ vault: "https://acme-kv.vault.azure.net/" }),
    usage(/^backup\.config\.json: vault 'https:.*' is not a Key Vault name$/, "acme-kv"),
  );
  throws(() => parse({ vault: "a--b" }), usage(/vault 'a--b' is not a Key Vault name/));
  throws(
    () => parse({ databases: { both: {} } }),
    usage("backup.config.json: databases.both is not a usable environment name"),
  );
  throws(
    () => parse({ databases: { "../x": {} } }),
    usage("backup.config.json: databases.../x is not a usable environment name"),
  );
  throws(
    () => parse({ databases: { prod: { excludeTables: ["orders"] } } }),
    usage("backup.config.json: databases.prod.excludeTables[0] 'orders' needs a schema: SCHEMA.TABLE"),
  );
  throws(
    () => parse({ env: "staging", databases: { prod: {} } }),
    usage("backup.config.json: env is 'staging', which is not an environment", "prod, dev, both"),
  );
  assertEquals(parse({ env: "staging", databases: { staging: {} } }).env, "staging");
});

Deno.test("invalid JSON is a usage error naming the file", () => {
  throws(
    () => parseConfig('{ "out": "x", }', "my.json"),
    usage(/^my\.json is not valid JSON: /, "trailing comma"),
  );
});

Deno.test("applyConfig fills out, vault and env only where flag and variable are absent", () => {
  const config = parse({ out: "cfg-out", vault: "cfg-kv", env: "dev", databases: {} });
  const a = applyConfig(parseCli(["backup", "--out", "flag-out"], { AZURE_KEYVAULT_NAME: "env-kv" }), config);
  assertEquals([a.values.out, a.origin.out], ["flag-out", "--out"]);
  assertEquals([a.values.vault, a.origin.vault], ["env-kv", "$AZURE_KEYVAULT_NAME"]);
  assertEquals([a.values.env, a.origin.env], ["dev", "backup.config.json: env"]);
  const b = applyConfig(parseCli(["backup"], {}), config);
  assertEquals([b.values.out, b.origin.out], ["cfg-out", "backup.config.json: out"]);
  assertEquals([b.values.vault, b.origin.vault], ["cfg-kv", "backup.config.json: vault"]);
  // list has --out and --env but no --vault
  const l = applyConfig(parseCli(["list"], {}), config);
  assertEquals([l.values.out, l.values.env, l.values.vault], ["cfg-out", "dev", undefined]);
  const same = parseCli(["list"], {});
  assertEquals(applyConfig(same, undefined), same);
});

Deno.test("storage: true in the file is backup's --storage (never restore's); anything else is refused", () => {
  const config = parse({ storage: true, databases: {} });
  assertEquals(config.storage, true);
  const b = applyConfig(parseCli(["backup"], {}), config);
  assertEquals([b.values.storage, b.origin.storage], [true, "backup.config.json: storage"]);
  assertEquals(applyConfig(parseCli(["restore"], {}), config).values.storage, undefined);
  assertEquals(applyConfig(parseCli(["backup"], {}), parse({ storage: false })).values.storage, undefined);
  throws(
    () => parse({ storage: "yes" }),
    usage("backup.config.json: storage must be true or false", "--storage"),
  );
  throws(() => parse({ storgae: true }), usage(/storgae is not a known key/, "did you mean 'storage'?"));
});

Deno.test("loadConfig: backup.config.json in the directory, --config and $BACKUP_CONFIG", async () => {
  const dir = await Deno.makeTempDir({ prefix: "config-test-" });
  try {
    assertEquals(await loadConfig(parseCli(["backup"], {}), dir), undefined);
    await Deno.writeTextFile(`${dir}/backup.config.json`, JSON.stringify({ out: "here" }));
    assertEquals((await loadConfig(parseCli(["backup"], {}), dir))?.out, "here");
    await Deno.writeTextFile(`${dir}/other.json`, JSON.stringify({ out: "other" }));
    const viaEnv = await loadConfig(parseCli(["backup"], { BACKUP_CONFIG: "other.json" }), dir);
    assertEquals([viaEnv?.out, viaEnv?.path], ["other", "other.json"]);
    const viaFlag = await loadConfig(parseCli(["backup", "--config", `${dir}/other.json`], {}), "/");
    assertEquals(viaFlag?.out, "other");
    await rejects(
      loadConfig(parseCli(["backup", "--config", "missing.json"], {}), dir),
      usage("config file 'missing.json' (--config) cannot be read: does not exist", "--config"),
    );
    await rejects(
      loadConfig(parseCli(["backup"], { BACKUP_CONFIG: "nope.json" }), dir),
      usage("config file 'nope.json' ($BACKUP_CONFIG) cannot be read: does not exist"),
    );
    await Deno.writeTextFile(
      `${dir}/backup.config.json`,
      JSON.stringify({ databases: { prod: { url: 1 } } }),
    );
    await rejects(
      loadConfig(parseCli(["backup"], {}), dir),
      usage("backup.config.json: databases.prod.url must be a string"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
