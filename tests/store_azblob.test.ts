/**
 * The Azure Blob backend (`lib/store/azblob.ts`) against Azurite, the real emulator: the
 * object-store contract, the ways of giving credentials (a connection string with a key or a SAS,
 * an account key, the signed-in `az` account's bearer token over HTTPS), refused credentials and a
 * missing container, a conditional write whose answer
 * was lost recognised as the tool's own; then the CLI: the store matrix of tests/support/stores.ts
 * (backup, unchanged, changed, list, verify, restore, drill, encrypted, prune, kill) and the
 * credentials end to end. One Azurite serves the file, plus one HTTPS one for bearer tokens.
 * @module
 */
import { createHmac } from "node:crypto";
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { BackupError, ExitCode } from "../lib/base/errors.ts";
import { clearSecrets, redact } from "../lib/base/redact.ts";
import {
  AZ_TOKEN_ARGS,
  AzblobStore,
  azureSettings,
  openAzblob,
  type OpenAzblobOptions,
  parseConnectionString,
} from "../lib/store/azblob.ts";
import { azuriteMarkerMatches, expectedAzuriteMarker, nodeMajor } from "../dev/azuriteenv.ts";
import { openStore, parseStoreUrl } from "../lib/store/remote.ts";
import { clientBinDir } from "../dev/pgenv.ts";
import { PLAIN_PATH, runCli } from "./support/cli.ts";
import { sharedCluster } from "./support/cluster.ts";
import { storeMatrix } from "./support/stores.ts";
import { type Azurite, startAzurite } from "./support/azurite.ts";
import { installFakeAz } from "./support/fake_az.ts";
import { objectStoreContract, startFaultProxy } from "./support/object_contract.ts";

/** The store a `--store azblob://…` URL names, as the CLI opens it (plus test options). */
function openUrl(url: string, opts: OpenAzblobOptions): AzblobStore {
  const u = parseStoreUrl(url, "--store");
  return openAzblob(u.bucket, u.prefix, opts);
}

let shared: Promise<Azurite> | undefined;
const azurite = () => (shared ??= startAzurite());
globalThis.addEventListener("unload", () => {
  shared?.then((a) => a.stop());
});

let containers = 0;
/** A new container with a store on it. */
async function freshStore(
  a: Azurite,
  opts: ConstructorParameters<typeof AzblobStore>[2] = {},
): Promise<AzblobStore> {
  const s = new AzblobStore(parseConnectionString(a.connectionString), {
    container: `t${++containers}-${crypto.randomUUID().slice(0, 8)}`,
    prefix: "backups/prod/",
  }, opts);
  await s.createContainer();
  return s;
}

async function failure(p: Promise<unknown>): Promise<BackupError> {
  try {
    await p;
  } catch (e) {
    ok(e instanceof BackupError, `a BackupError, not ${e}`);
    return e;
  }
  throw new Error("expected a failure");
}

const enc = new TextEncoder();

Deno.test("azblob: the object-store contract against Azurite", async (t) => {
  const a = await azurite();
  const settings = parseConnectionString(a.connectionString);
  const container = "contract";
  await new AzblobStore(settings, { container, prefix: "" }).createContainer();
  let n = 0;
  await objectStoreContract(t, {
    port: a.port,
    partSize: 256 * 1024,
    make: (o) =>
      new AzblobStore(
        o.port
          ? { ...settings, endpoint: settings.endpoint.replace(`:${a.port}/`, `:${o.port}/`) }
          : settings,
        { container, prefix: `c${++n}/` },
        { pageSize: o.pageSize, partSize: o.partSize, retries: o.retries, log: o.log },
      ),
  });
});

Deno.test("azblob: connection string, account key and UseDevelopmentStorage all reach the account", async () => {
  const a = await azurite();
  const seed = await freshStore(a);
  ok((await seed.put("k", { bytes: enc.encode("v") })).ok);
  const url = `azblob://${seed.container}/backups/prod`;
  const envs: Record<string, string>[] = [
    { AZURE_STORAGE_CONNECTION_STRING: a.connectionString },
    { AZURE_STORAGE_ACCOUNT: a.account, AZURE_STORAGE_KEY: a.key },
  ];
  for (const env of envs) {
    const s = openUrl(url, { env, endpoint: env.AZURE_STORAGE_ACCOUNT ? a.endpoint : undefined });
    assertEquals(s.display, url);
    assertEquals((await s.head("k"))?.size, 1, JSON.stringify(Object.keys(env)));
  }
  // UseDevelopmentStorage means Azurite's default port, which this one is not: --store-endpoint moves it
  const dev = openUrl(url, {
    env: { AZURE_STORAGE_CONNECTION_STRING: "UseDevelopmentStorage=true" },
    endpoint: a.endpoint,
  });
  assertEquals(await new Response(await dev.get("k")).text(), "v");
});

Deno.test("azblob: a wrong key is a usage error naming the variables, never the key", async () => {
  const a = await azurite();
  const seed = await freshStore(a);
  const wrong = btoa("not the key at all, but base64 of the right shape!!");
  const s = openUrl(`azblob://${seed.container}/x`, {
    env: { AZURE_STORAGE_ACCOUNT: a.account, AZURE_STORAGE_KEY: wrong },
    endpoint: a.endpoint,
    retries: 0,
  });
  const e = await failure(s.put("k", { bytes: enc.encode("v") }));
  assertEquals(e.exitCode, ExitCode.usage);
  ok(/refused the credentials/.test(e.message), e.message);
  ok(/AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY/.test(e.hint ?? ""), e.hint);
  ok(!`${e.message} ${e.hint}`.includes(wrong));
  assertEquals(redact(`x ${wrong} y`), "x **** y", "the key is registered as a secret");
  clearSecrets();
});

Deno.test("azblob: a missing container says how to create it", async () => {
  const a = await azurite();
  const s = new AzblobStore(parseConnectionString(a.connectionString), { container: "nosuch", prefix: "" }, {
    retries: 0,
  });
  const e = await failure(s.put("k", { bytes: enc.encode("v") }));
  assertEquals(e.exitCode, ExitCode.usage);
  assertEquals(e.message, `Azure container 'nosuch' does not exist in storage account ${a.account}`);
  ok(e.hint?.includes("az storage container create --account-name devstoreaccount1 --name nosuch"), e.hint);
  assertEquals(await s.head("k").catch((e) => (e as BackupError).message), e.message);
});

/** An Entra ID-shaped access token for Azure Storage, valid for an hour (Azurite checks its claims, not its signature). */
function storageToken(): string {
  const b64 = (o: unknown) =>
    btoa(JSON.stringify(o)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    aud: "https://storage.azure.com",
    iss: "https://sts.windows.net/72f988bf-0000-4000-8000-000000000002/",
    iat: now - 60,
    nbf: now - 60,
    exp: now + 3600,
    oid: "3f1b2c4d-0000-4000-8000-000000000001",
  };
  return `${b64({ typ: "JWT", alg: "RS256" })}.${b64(claims)}.${b64("signature")}`;
}

let sharedTls: Promise<Azurite> | undefined;
/** The file's HTTPS Azurite with OAuth (bearer tokens need HTTPS), started on first use. */
const azuriteTls = () => (sharedTls ??= startAzurite({ https: true }));
globalThis.addEventListener("unload", () => {
  sharedTls?.then((a) => a.stop());
});

Deno.test("azblob: the signed-in az account's bearer token, over HTTPS", async () => {
  const a = await azuriteTls();
  const token = storageToken();
  const az = await installFakeAz({ storageToken: token });
  try {
    const env = { AZURE_STORAGE_ACCOUNT: a.account, PATH: `${az.dir}:${Deno.env.get("PATH")}` };
    const s = openUrl("azblob://viatoken/p", {
      env,
      endpoint: a.endpoint,
      client: a.client,
      transport: a.transport,
    });
    await s.createContainer();
    ok((await s.put("k", { bytes: enc.encode("v") }, { ifAbsent: true })).ok);
    assertEquals(await new Response(await s.get("k")).text(), "v");
    const listed = [];
    for await (const o of s.list("")) listed.push(o.key);
    assertEquals(listed, ["k"]);
    assertEquals(await az.calls(), [[...AZ_TOKEN_ARGS]], "one az call, with exactly these arguments");
    // a token that ends within 5 minutes is renewed before the next request
    const brief = await installFakeAz({ storageToken: token, tokenSeconds: 120 });
    try {
      const s3 = openUrl("azblob://viatoken/p", {
        env: { AZURE_STORAGE_ACCOUNT: a.account, PATH: `${brief.dir}:${Deno.env.get("PATH")}` },
        endpoint: a.endpoint,
        client: a.client,
        transport: a.transport,
      });
      assertEquals((await s3.head("k"))?.size, 1);
      assertEquals((await s3.head("k"))?.size, 1);
      assertEquals((await brief.calls()).length, 2, "renewed");
    } finally {
      await brief.cleanup();
    }
    assertEquals(redact(token), "****", "the token is registered as a secret");
    clearSecrets();

    const out = await installFakeAz({ loggedIn: false });
    try {
      const s2 = openUrl("azblob://viatoken/p", {
        env: { AZURE_STORAGE_ACCOUNT: a.account, PATH: `${out.dir}:${Deno.env.get("PATH")}` },
        endpoint: a.endpoint,
        client: a.client,
        transport: a.transport,
      });
      const e = await failure(s2.head("k"));
      assertEquals(e.exitCode, ExitCode.usage);
      ok(/az could not give a token for Azure Storage .*az login/.test(e.message), e.message);
      ok(e.hint?.startsWith("run 'az login'"), e.hint);
    } finally {
      await out.cleanup();
    }
    const noAz = openUrl("azblob://viatoken/p", {
      env: { AZURE_STORAGE_ACCOUNT: a.account, PATH: "/nonexistent" },
      endpoint: a.endpoint,
      client: a.client,
      transport: a.transport,
    });
    const e = await failure(noAz.head("k"));
    assertEquals(e.message, "the Azure CLI (az) is not installed or not on PATH");
  } finally {
    await az.cleanup();
  }
});

Deno.test("azblob: a conditional write whose answer was lost is recognised as ours on the retry", async () => {
  const a = await azurite();
  const seed = await freshStore(a);
  const proxy = startFaultProxy(a.port);
  try {
    const s = new AzblobStore(
      { ...seed.settings, endpoint: seed.settings.endpoint.replace(`:${a.port}/`, `:${proxy.port}/`) },
      { container: seed.container, prefix: seed.prefix },
    );
    // the service writes the blob, the answer never arrives; the retry then meets the blob
    proxy.cutResponse(0);
    const r = await s.put("manifest.json", { bytes: enc.encode("{}") }, { ifAbsent: true });
    assertEquals(proxy.cuts, 1);
    ok(r.ok, JSON.stringify(r));
    assertEquals(r.etag, (await s.head("manifest.json"))?.etag);
    // someone else's blob stays someone else's
    assertEquals(await s.put("manifest.json", { bytes: enc.encode("[]") }, { ifAbsent: true }), {
      ok: false,
      reason: "exists",
    });
  } finally {
    await proxy.close();
  }
});

Deno.test("azblob: settings come from the environment in the documented order", () => {
  const both = azureSettings({
    AZURE_STORAGE_CONNECTION_STRING: "AccountName=fromcs;AccountKey=a2V5;EndpointSuffix=core.windows.net",
    AZURE_STORAGE_ACCOUNT: "fromenv",
    AZURE_STORAGE_KEY: "b3RoZXI=",
  });
  assertEquals([both.account, both.source, both.endpoint], [
    "fromcs",
    "connection string",
    "https://fromcs.blob.core.windows.net",
  ]);
  clearSecrets();
});

Deno.test("azuriteenv: the marker and the Node.js version check", () => {
  ok(azuriteMarkerMatches(JSON.stringify(expectedAzuriteMarker())));
  ok(!azuriteMarkerMatches(JSON.stringify({ ...expectedAzuriteMarker(), package: "azurite@0.0.1" })));
  ok(!azuriteMarkerMatches("not json") && !azuriteMarkerMatches(undefined));
  assertEquals([nodeMajor("v20.20.2\n"), nodeMajor("20"), nodeMajor("")], [20, undefined, undefined]);
});

/** An account SAS for the Blob service, signed with the account key (Azure's "Create an account SAS"). */
function accountSas(account: string, key: string, permissions: string, expiry: Date): string {
  const se = expiry.toISOString().replace(/\.\d+Z$/, "Z");
  const sv = "2021-08-06";
  const toSign = [account, permissions, "b", "sco", "", se, "", "https,http", sv, "", ""].join("\n");
  const sig = createHmac("sha256", Buffer.from(key, "base64")).update(toSign, "utf8").digest("base64");
  return new URLSearchParams({ sv, ss: "b", srt: "sco", sp: permissions, se, spr: "https,http", sig })
    .toString();
}

Deno.test("azblob: a connection string with a SharedAccessSignature; the SAS is never shown", async () => {
  const a = await azurite();
  const seed = await freshStore(a);
  const sas = accountSas(a.account, a.key, "racwdl", new Date(Date.now() + 3600_000));
  const cs = `BlobEndpoint=${a.endpoint};SharedAccessSignature=${sas}`;
  const s = openUrl(`azblob://${seed.container}/viasas`, {
    env: { AZURE_STORAGE_CONNECTION_STRING: cs },
  });
  ok((await s.put("k", { bytes: enc.encode("v") }, { ifAbsent: true })).ok);
  assertEquals(await new Response(await s.get("k")).text(), "v");
  const listed = [];
  for await (const o of s.list("")) listed.push(o.key);
  assertEquals(listed, ["k"]);
  await s.delete("k");
  assertEquals(await s.head("k"), undefined);
  // read-only: writes are refused with a usage error that shows no part of the SAS
  const ro = accountSas(a.account, a.key, "rl", new Date(Date.now() + 3600_000));
  const r = openUrl(`azblob://${seed.container}/viasas`, {
    env: { AZURE_STORAGE_CONNECTION_STRING: `BlobEndpoint=${a.endpoint};SharedAccessSignature=${ro}` },
    retries: 0,
  });
  const e = await failure(r.put("k", { bytes: enc.encode("v") }));
  assertEquals(e.exitCode, ExitCode.usage);
  ok(/refused put viasas\/k: the SAS does not permit it/.test(e.message), e.message);
  ok(e.hint?.includes("sp=racwdl"), e.hint);
  const sig = new URLSearchParams(ro).get("sig")!;
  ok(!`${e.message} ${e.hint}`.includes(sig) && !`${e.message}`.includes(encodeURIComponent(sig)), e.message);
  clearSecrets();
});

// ---------------------------------------------------------------------------------------------
// The CLI on Azurite: the store matrix of tests/support/stores.ts, then credentials end to end

let matrixRuns = 0;
storeMatrix(async () => {
  const a = await azurite();
  await new AzblobStore(parseConnectionString(a.connectionString), { container: "matrix", prefix: "" })
    .createContainer();
  const env = { AZURE_STORAGE_CONNECTION_STRING: a.connectionString };
  return {
    name: "azblob",
    url: () => `azblob://matrix/run${++matrixRuns}`,
    env,
    endpointVia: (port: number) => ["--store-endpoint", `http://127.0.0.1:${port}/${a.account}`],
    port: a.port,
    open: (url: string) => openStore(parseStoreUrl(url, "--store"), { env, retries: 2 }),
    stop: async () => {}, // the file's Azurite stops when the file is done
  };
});

async function allKeys(s: AzblobStore): Promise<string[]> {
  const out: string[] = [];
  for await (const o of s.list("")) out.push(o.key);
  return out;
}

/** A small source database on the shared PostgreSQL 17 cluster. */
async function smallDb(): Promise<string> {
  const cluster = await sharedCluster(17);
  const db = await cluster.createDatabase();
  await cluster.sql(
    "create table public.notes (id int primary key, body text); insert into public.notes select g, 'n' || g from generate_series(1, 50) g",
    { db },
  );
  return cluster.url({ db });
}

Deno.test({
  name: "azblob CLI: backup and list as the signed-in az account, over HTTPS; signed out is exit 2",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const a = await azuriteTls();
    const token = storageToken();
    const az = await installFakeAz({ storageToken: token });
    const admin = new AzblobStore(parseConnectionString(a.connectionString), {
      container: "clitoken",
      prefix: "",
    }, {
      client: a.client,
      transport: a.transport,
    });
    await admin.createContainer();
    try {
      const env = {
        SUPABASE_DB_URL: await smallDb(),
        PG_BIN: clientBinDir(),
        AZURE_STORAGE_ACCOUNT: a.account,
        PATH: `${az.dir}:${PLAIN_PATH}`,
        DENO_CERT: a.caCertPath!, // trust Azurite's self-signed certificate
      };
      const args = ["--store", "azblob://clitoken/prod", "--store-endpoint", a.endpoint];
      const r = await runCli(["backup", ...args, "--yes"], env);
      ok(r.code === 0 || r.code === 3, r.stderr);
      const l = await runCli(["list", ...args, "--json"], env);
      assertEquals(l.code, 0, l.stderr);
      assertEquals(JSON.parse(l.stdout).roots[0].backups.length, 1);
      const calls = await az.calls();
      assertEquals(calls, [[...AZ_TOKEN_ARGS], [...AZ_TOKEN_ARGS]], "one token per run, exact arguments");
      ok(!(r.stdout + r.stderr + l.stdout + l.stderr).includes(token), "the token is never shown");
      const before = await allKeys(admin);
      const out = await installFakeAz({ loggedIn: false });
      try {
        const f = await runCli(["backup", ...args, "--yes"], { ...env, PATH: `${out.dir}:${PLAIN_PATH}` });
        assertEquals(f.code, 2, f.stderr);
        ok(/^error: az could not give a token for Azure Storage/m.test(f.stderr), f.stderr);
        ok(/^hint: run 'az login'/m.test(f.stderr), f.stderr);
        assertEquals(await allKeys(admin), before, "nothing written");
      } finally {
        await out.cleanup();
      }
    } finally {
      await az.cleanup();
    }
  },
});

Deno.test({
  name:
    "azblob CLI: a wrong key, a wrong connection string, a missing container: exit 2, a hint, nothing written",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const a = await azurite();
    const admin = await freshStore(a);
    const wrong = btoa("a key of the right shape that is not the key!");
    const env = {
      SUPABASE_DB_URL: await smallDb(),
      PG_BIN: clientBinDir(),
      AZURE_STORAGE_ACCOUNT: a.account,
      AZURE_STORAGE_KEY: wrong,
      BACKUP_DEBUG: "1", // the cause is printed too: it must not hold the key either
    };
    const url = `azblob://${admin.container}/prod`;
    const r = await runCli(["backup", "--store", url, "--store-endpoint", a.endpoint, "--yes"], env);
    assertEquals(r.code, 2, r.stderr);
    ok(/^error: Azure Blob Storage at 127\.0\.0\.1:\d+ refused the credentials/m.test(r.stderr), r.stderr);
    ok(/^hint: check AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY/m.test(r.stderr), r.stderr);
    ok(!(r.stdout + r.stderr).includes(wrong), "the key is not shown");
    // the store is read before the database is dumped: before, the whole dump ran first
    ok(!/^dumped /m.test(r.stderr), r.stderr);
    assertEquals(await allKeys(admin), []);
    const cs =
      `DefaultEndpointsProtocol=http;AccountName=${a.account};AccountKey=${wrong};BlobEndpoint=${a.endpoint};`;
    const c = await runCli(["list", "--store", url], { ...env, AZURE_STORAGE_CONNECTION_STRING: cs });
    assertEquals(c.code, 2, c.stderr);
    ok(/^hint: check AZURE_STORAGE_CONNECTION_STRING/m.test(c.stderr), c.stderr);
    ok(!(c.stdout + c.stderr).includes(wrong) && !(c.stdout + c.stderr).includes(cs), c.stderr);
    const m = await runCli(["backup", "--store", "azblob://nosuch/prod", "--yes"], {
      ...env,
      AZURE_STORAGE_CONNECTION_STRING: a.connectionString,
    });
    assertEquals(m.code, 2, m.stderr);
    ok(
      /^error: Azure container 'nosuch' does not exist in storage account devstoreaccount1$/m.test(m.stderr),
      m.stderr,
    );
    ok(/^hint: create it: az storage container create/m.test(m.stderr), m.stderr);
    ok(!/^dumped /m.test(m.stderr), m.stderr);
    const dry = await runCli(["backup", "--store", "azblob://nosuch/prod", "--dry-run"], {
      ...env,
      AZURE_STORAGE_CONNECTION_STRING: a.connectionString,
    });
    assertEquals(dry.code, 2, dry.stderr);
    ok(/^error: Azure container 'nosuch' does not exist/m.test(dry.stderr), dry.stderr);
  },
});
