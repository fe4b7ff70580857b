/**
 * The Azure Blob Storage backend of `--store azblob://CONTAINER/PREFIX`: an {@link ObjectStore} over
 * the Blob service's REST API with `fetch`, SharedKey signing written here (HMAC-SHA256 over Azure's
 * documented string-to-sign, {@link stringToSign}), so no SDK is loaded and every request is visible.
 *
 * Credentials ({@link azureSettings}), in this order:
 * 1. `AZURE_STORAGE_CONNECTION_STRING`: `AccountName` + `AccountKey` (SharedKey), or
 *    `SharedAccessSignature`, with `BlobEndpoint` or `DefaultEndpointsProtocol` + `EndpointSuffix`;
 *    `UseDevelopmentStorage=true` is Azurite on 127.0.0.1:10000.
 * 2. `AZURE_STORAGE_ACCOUNT` + `AZURE_STORAGE_KEY` (SharedKey).
 * 3. `AZURE_STORAGE_ACCOUNT` alone: the signed-in Azure CLI account, a bearer token from exactly
 *    `az account get-access-token --resource https://storage.azure.com/ -o json`, renewed before it
 *    expires.
 * Keys, signatures, SAS tokens, bearer tokens and the connection string are registered with
 * {@link registerSecret} and never appear in a message.
 *
 * Uploads go over the upload transport (lib/store/http.ts), which streams each body with its
 * exact Content-Length, never chunked (Put Block refuses a chunked body), so no part is held in
 * memory; every other request goes over `fetch`. A body of at most one part is one Put Blob; a
 * larger file is streamed by ranges as Put Block calls in parallel and committed by one Put Block
 * List. Each part carries its Content-MD5 (a file range is hashed in one pass before it is sent),
 * which the service checks, so a file that changed between the two reads is refused. Block IDs carry a random nonce per upload, so two uploads racing to one name never mix
 * their blocks. Conditions (`ifAbsent`: `If-None-Match: *`, `ifMatch`: `If-Match`) go on the Put
 * Blob or the Put Block List, which is what makes a blob visible. A transient failure (network
 * error, 429, 5xx) is retried with backoff; when a conditional write fails its condition after
 * such a retry, the blob's `upload` metadata tells whether the lost first attempt was ours.
 *
 * Downloads stream; a body that breaks is resumed with a ranged GET pinned to the same ETag.
 *
 * The URL, key and connection-string parsing, signing, XML and failure classification are pure.
 * @module
 */
import { createHash, createHmac, randomBytes } from "node:crypto";
import { BackupError, ExitCode, usageError } from "../base/errors.ts";
import { abortSignal } from "../base/interrupt.ts";
import { runPool } from "../base/pool.ts";
import { runProgram } from "../base/proc.ts";
import { redact, registerSecret } from "../base/redact.ts";
import {
  answerWithin,
  bodyLength,
  digestRange,
  type HttpBody,
  type HttpTransport,
  httpTransport,
} from "./http.ts";
import type { ObjectBody, ObjectInfo, ObjectStore, PutObjectOptions, PutResult } from "./object.ts";
import { resumableBody } from "./resume.ts";
import {
  backoffMs,
  decodeXml,
  encodeKey,
  isTransientStatus,
  parseS3Error,
  parseServiceEndpoint,
  sleep,
} from "./s3.ts";

/** The REST API version every request asks for (`x-ms-version`). */
export const AZURE_API_VERSION = "2025-01-05";

/** The part size of block uploads, and the largest body sent as one Put Blob: 8 MiB. */
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;

/** Parts of one file uploaded at a time. */
export const DEFAULT_CONCURRENCY = 4;

/** The most blocks a block blob can have. */
const MAX_BLOCKS = 50_000;

/** Azurite's well-known development account (its README; also what `UseDevelopmentStorage=true` means). */
export const DEV_ACCOUNT = "devstoreaccount1";
/** Azurite's well-known development key (public, in Azurite's README). */
export const DEV_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/** The exact `az` arguments that print a bearer token for Azure Storage. */
export const AZ_TOKEN_ARGS: readonly string[] = [
  "account",
  "get-access-token",
  "--resource",
  "https://storage.azure.com/",
  "-o",
  "json",
];

const CREDENTIALS_HINT =
  "set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY, or AZURE_STORAGE_ACCOUNT after 'az login'";

// ---------------------------------------------------------------------------------------------
// Pure parts

/** Where in an account a store is: its container and blob-name prefix. */
export interface AzblobLocation {
  container: string;
  /** The blob-name prefix, `""` or ending in `/`. */
  prefix: string;
}

/**
 * The blob name of `key` under `prefix`. Throws an Error for a key that is empty, starts with
 * `/`, or has an empty, `.` or `..` segment (a URL would resolve those elsewhere). Pure.
 */
export function blobName(prefix: string, key: string): string {
  const segs = key.split("/");
  if (!key || segs.some((s, i) => s === "." || s === ".." || (s === "" && i < segs.length - 1))) {
    throw new Error(`invalid object key '${key}'`);
  }
  const name = prefix + key;
  if (new TextEncoder().encode(name).length > 1024) throw new Error(`object key too long: '${key}'`);
  return name;
}

/** How requests are authorised. */
export type AzureAuth =
  | { kind: "sharedKey"; key: string }
  | { kind: "sas"; token: string }
  | { kind: "cli" };

/** Where and how to reach one storage account's Blob service. */
export interface AzureSettings {
  /** The Blob service URL without a trailing slash: `https://ACCOUNT.blob.core.windows.net`, or Azurite's `http://127.0.0.1:10000/devstoreaccount1`. */
  endpoint: string;
  account: string;
  auth: AzureAuth;
  /** Which variables gave the credentials, for hints. */
  source: "connection string" | "account key" | "az login";
}

/** The fields of a connection string (`Key=Value;…`; names case-insensitive, values may hold `=`). Pure. */
export function connectionStringFields(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(";")) {
    const t = part.trim();
    if (!t) continue;
    const eq = t.indexOf("=");
    if (eq <= 0) continue;
    out[t.slice(0, eq).trim().toLowerCase()] = t.slice(eq + 1).trim();
  }
  return out;
}

/** Checks an endpoint URL and drops a trailing slash; throws a usage error naming `origin`. Pure. */
export function parseBlobEndpoint(text: string, origin: string): string {
  return parseServiceEndpoint(
    text,
    origin,
    "give the Blob service URL, https://ACCOUNT.blob.core.windows.net",
  );
}

/**
 * The account a Blob service URL names: the first path segment of a path-style URL (an IP address
 * or localhost, as Azurite serves), else the first label of the host name. Pure.
 */
export function accountOfEndpoint(endpoint: string): string {
  const u = new URL(endpoint);
  const pathStyle = /^(\d+\.\d+\.\d+\.\d+|\[.*\]|localhost)$/.test(u.hostname);
  return pathStyle ? u.pathname.split("/").filter(Boolean)[0] ?? "" : u.hostname.split(".")[0];
}

/**
 * The settings of a connection string. Throws a usage error (exit 2) that never quotes the
 * string when it has neither a key nor a SAS, or no account name. Pure.
 */
export function parseConnectionString(text: string): AzureSettings {
  const f = connectionStringFields(text);
  const origin = "AZURE_STORAGE_CONNECTION_STRING";
  if (/^true$/i.test(f.usedevelopmentstorage ?? "")) {
    const proxy = f.developmentstorageproxyuri;
    return {
      endpoint: proxy
        ? `${parseBlobEndpoint(proxy, origin)}:10000/${DEV_ACCOUNT}`
        : `http://127.0.0.1:10000/${DEV_ACCOUNT}`,
      account: DEV_ACCOUNT,
      auth: { kind: "sharedKey", key: DEV_KEY },
      source: "connection string",
    };
  }
  const account = f.accountname;
  const sas = f.sharedaccesssignature?.replace(/^\?/, "");
  if (!account && !(sas && f.blobendpoint)) {
    throw usageError(
      `${origin} has no AccountName`,
      "copy the whole string: az storage account show-connection-string --name ACCOUNT --query connectionString -o tsv",
    );
  }
  const auth: AzureAuth | undefined = f.accountkey
    ? { kind: "sharedKey", key: f.accountkey }
    : sas
    ? { kind: "sas", token: sas }
    : undefined;
  if (!auth) {
    throw usageError(
      `${origin} has neither AccountKey nor SharedAccessSignature`,
      "copy the whole string: az storage account show-connection-string --name ACCOUNT --query connectionString -o tsv",
    );
  }
  if (auth.kind === "sharedKey" && !/^[A-Za-z0-9+/]+={0,2}$/.test(auth.key)) {
    throw usageError(
      `${origin} has an AccountKey that is not base64`,
      "copy the key again from the storage account's Access keys",
    );
  }
  const endpoint = f.blobendpoint
    ? parseBlobEndpoint(f.blobendpoint, `${origin}'s BlobEndpoint`)
    : `${f.defaultendpointsprotocol === "http" ? "http" : "https"}://${account}.blob.${
      f.endpointsuffix || "core.windows.net"
    }`;
  return {
    endpoint,
    account: account ?? accountOfEndpoint(endpoint),
    auth,
    source: "connection string",
  };
}

/** Checks a storage account name: 3-24 lower-case letters and digits. Throws a usage error. Pure. */
export function validateAccountName(name: string, origin: string): void {
  if (!/^[a-z0-9]{3,24}$/.test(name)) {
    throw usageError(
      `${origin} is not a storage account name`,
      "a storage account name has 3-24 lower-case letters and digits (az storage account list --query [].name -o tsv)",
    );
  }
}

/**
 * The settings from the environment (see the module doc for the order); `endpoint` (from
 * `--store-endpoint`) replaces the account's default Blob service URL. Registers every key, SAS
 * and connection string as a secret. Throws a usage error (exit 2) when nothing usable is set. Pure
 * apart from registering secrets.
 */
export function azureSettings(env: Record<string, string | undefined>, endpoint?: string): AzureSettings {
  const cs = env.AZURE_STORAGE_CONNECTION_STRING?.trim();
  if (cs) {
    registerSecret(cs);
    const f = connectionStringFields(cs);
    registerSecret(f.accountkey);
    registerSecret(f.sharedaccesssignature);
    const s = parseConnectionString(cs);
    return endpoint ? { ...s, endpoint: parseBlobEndpoint(endpoint, "--store-endpoint") } : s;
  }
  const account = env.AZURE_STORAGE_ACCOUNT?.trim();
  const key = env.AZURE_STORAGE_KEY?.trim();
  registerSecret(key);
  if (!account) {
    throw usageError(
      key
        ? "AZURE_STORAGE_KEY is set without AZURE_STORAGE_ACCOUNT"
        : "azblob:// needs Azure Storage credentials",
      CREDENTIALS_HINT,
    );
  }
  validateAccountName(account, "AZURE_STORAGE_ACCOUNT");
  const url = endpoint
    ? parseBlobEndpoint(endpoint, "--store-endpoint")
    : `https://${account}.blob.core.windows.net`;
  if (key) {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(key)) {
      throw usageError(
        "AZURE_STORAGE_KEY is not base64",
        "copy the key again from the storage account's Access keys",
      );
    }
    return { endpoint: url, account, auth: { kind: "sharedKey", key }, source: "account key" };
  }
  return { endpoint: url, account, auth: { kind: "cli" }, source: "az login" };
}

/** Headers of one request, names in lower case. */
export type HeaderMap = Record<string, string>;

/**
 * Azure's SharedKey string-to-sign for the Blob service (version 2015-02-21 and later): the verb,
 * eleven standard headers (Content-Length empty when zero), the `x-ms-*` headers sorted, and the
 * canonicalized resource `/ACCOUNT/PATH` with each query parameter on its own line (names in
 * lower case and sorted, values decoded, several values sorted and joined by commas). Pure.
 */
export function stringToSign(method: string, url: string, account: string, headers: HeaderMap): string {
  const h = (name: string) => headers[name] ?? "";
  const length = h("content-length") === "0" ? "" : h("content-length");
  const standard = [
    method.toUpperCase(),
    h("content-encoding"),
    h("content-language"),
    length,
    h("content-md5"),
    h("content-type"),
    h("date"),
    h("if-modified-since"),
    h("if-match"),
    h("if-none-match"),
    h("if-unmodified-since"),
    h("range"),
  ];
  const ms = Object.keys(headers).filter((k) => k.startsWith("x-ms-")).sort()
    .map((k) => `${k}:${headers[k].replace(/\s+/g, " ").trim()}\n`).join("");
  const u = new URL(url);
  let resource = `/${account}${u.pathname}`;
  const params = new Map<string, string[]>();
  for (const [k, v] of u.searchParams) {
    const name = k.toLowerCase();
    params.set(name, [...(params.get(name) ?? []), v]);
  }
  for (const name of [...params.keys()].sort()) resource += `\n${name}:${params.get(name)!.sort().join(",")}`;
  return standard.join("\n") + "\n" + ms + resource;
}

/** The `Authorization` header value for a string-to-sign and a base64 account key. Pure. */
export function sharedKeyAuthorization(account: string, key: string, toSign: string): string {
  const sig = createHmac("sha256", Buffer.from(key, "base64")).update(toSign, "utf8").digest("base64");
  return `SharedKey ${account}:${sig}`;
}

/** A block ID: base64 of `nonce-index` with the index zero-padded, so all IDs of an upload have one length. Pure. */
export function blockId(nonce: string, index: number): string {
  return btoa(`${nonce}-${String(index).padStart(6, "0")}`);
}

/** The body of Put Block List committing `ids` in order. Pure. */
export function blockListXml(ids: readonly string[]): string {
  return `<?xml version="1.0" encoding="utf-8"?><BlockList>${
    ids.map((id) => `<Latest>${id}</Latest>`).join("")
  }</BlockList>`;
}

/** The part size for a file of `size` bytes: `partSize`, or larger when it would need more than 50,000 blocks. Pure. */
export function partSizeFor(size: number, partSize: number): number {
  return Math.max(partSize, Math.ceil(size / MAX_BLOCKS));
}

/** One entry of a List Blobs page. */
export interface ListedBlob {
  name: string;
  size: number;
  etag: string;
  lastModified?: Date;
}

/**
 * The blobs and the next marker of one List Blobs answer. Names marked `Encoded="true"` (they hold
 * characters XML cannot) are percent-decoded. Pure.
 */
export function parseBlobList(xml: string): { blobs: ListedBlob[]; next?: string } {
  const blobs: ListedBlob[] = [];
  for (const m of xml.matchAll(/<Blob>([\s\S]*?)<\/Blob>/g)) {
    const body = m[1];
    const tag = (t: string) => body.match(new RegExp(`<${t}>([^<]*)</${t}>`))?.[1];
    const nm = body.match(/<Name( Encoded="true")?>([^<]*)<\/Name>/);
    if (!nm) continue;
    const raw = decodeXml(nm[2]);
    const modified = tag("Last-Modified");
    blobs.push({
      name: nm[1] ? decodeURIComponent(raw) : raw,
      size: Number(tag("Content-Length") ?? "0"),
      etag: unquote(decodeXml(tag("Etag") ?? "")),
      ...(modified ? { lastModified: new Date(modified) } : {}),
    });
  }
  const next = xml.match(/<NextMarker>([^<]+)<\/NextMarker>/)?.[1];
  return { blobs, ...(next ? { next: decodeXml(next) } : {}) };
}

/** An ETag without its quotes. Pure. */
export function unquote(etag: string): string {
  return etag.replace(/^W\//, "").replace(/^"(.*)"$/, "$1");
}

/** The hint that says how to fix refused credentials from `source`. Pure. */
function credentialsHint(s: Pick<AzureSettings, "source" | "account">): string {
  switch (s.source) {
    case "connection string":
      return "check AZURE_STORAGE_CONNECTION_STRING (az storage account show-connection-string --name ACCOUNT --query connectionString -o tsv)";
    case "account key":
      return `check AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY (az storage account keys list --account-name ${s.account} --query [0].value -o tsv)`;
    case "az login":
      return "run 'az login' again (the session may have ended) and check AZURE_STORAGE_ACCOUNT";
  }
}

/**
 * The error for a failed Blob call: refused credentials, a missing role and a missing container
 * are usage errors (exit 2), the rest failures (exit 1). Never quotes a credential. Pure.
 */
export function azureFailure(
  s: Pick<AzureSettings, "endpoint" | "account" | "source"> & { sas?: boolean },
  container: string,
  what: string,
  status: number,
  code: string | undefined,
  message: string | undefined,
): BackupError {
  const first = message?.split("\n")[0].trim();
  const detail = redact(`HTTP ${status}${code ? ` ${code}` : ""}${first ? `: ${first}` : ""}`);
  const host = new URL(s.endpoint).host;
  if (code === "AuthorizationPermissionMismatch" && s.sas) {
    return new BackupError(
      `Azure Blob Storage at ${host} refused ${what}: the SAS does not permit it (${detail})`,
      {
        hint:
          `make a SAS with read, add, create, write, delete and list permissions (sp=racwdl) on container ${container}`,
        exitCode: ExitCode.usage,
      },
    );
  }
  if (
    code === "AuthorizationPermissionMismatch" || code === "AuthorizationFailure" && s.source === "az login"
  ) {
    return new BackupError(
      `Azure Blob Storage at ${host} denied ${what} to the signed-in account (${detail})`,
      {
        hint:
          `ask for the 'Storage Blob Data Contributor' role on storage account ${s.account} or container ${container} (az role assignment create)`,
        exitCode: ExitCode.usage,
      },
    );
  }
  if (status === 401 || status === 403) {
    return new BackupError(`Azure Blob Storage at ${host} refused the credentials (${detail})`, {
      hint: credentialsHint(s),
      exitCode: ExitCode.usage,
    });
  }
  if (code === "ContainerNotFound") {
    return new BackupError(`Azure container '${container}' does not exist in storage account ${s.account}`, {
      hint:
        `create it: az storage container create --account-name ${s.account} --name ${container} --auth-mode login`,
      exitCode: ExitCode.usage,
    });
  }
  return new BackupError(`Azure Blob ${what} at ${host} failed (${detail})`, {
    hint: "check the storage account's status in the Azure portal and run again",
  });
}

/** The token and its expiry from `az account get-access-token -o json`; throws on other output. Pure. */
export function parseAzToken(stdout: string, now: number): { token: string; expiresAt: number } {
  let j: { accessToken?: unknown; expires_on?: unknown; expiresOn?: unknown };
  try {
    j = JSON.parse(stdout);
  } catch {
    throw new Error("az account get-access-token printed no JSON");
  }
  if (typeof j.accessToken !== "string" || !j.accessToken) {
    throw new Error("az account get-access-token printed no accessToken");
  }
  const epoch = Number(j.expires_on);
  const expiresAt = Number.isFinite(epoch) && epoch > 0 ? epoch * 1000 : now + 5 * 60_000;
  return { token: j.accessToken, expiresAt };
}

/**
 * Turns a failed `az account get-access-token` into a {@link BackupError} with a hint: install
 * the CLI, or `az login`. Pure; the stderr is masked and only its first error line quoted.
 */
export function azTokenFailure(code: number, stderr: string): BackupError {
  if (code === 127) {
    return new BackupError("the Azure CLI (az) is not installed or not on PATH", {
      hint:
        "install it (https://learn.microsoft.com/cli/azure/install-azure-cli), run 'az login', or set AZURE_STORAGE_KEY or AZURE_STORAGE_CONNECTION_STRING",
    });
  }
  const line = redact(
    stderr.split("\n").find((l) => /ERROR:/.test(l)) ?? stderr.split("\n").find((l) => l.trim()) ?? "",
  ).replace(/^ERROR:\s*/, "").slice(0, 200);
  return new BackupError(
    `az could not give a token for Azure Storage (exit ${code}${line ? `: ${line}` : ""})`,
    {
      hint:
        "run 'az login' (az login --scope https://storage.azure.com/.default when the session expired), or set AZURE_STORAGE_KEY",
      exitCode: ExitCode.usage,
    },
  );
}

// ---------------------------------------------------------------------------------------------
// The client

/** Runs `az` with arguments; returns exit code, stdout and stderr. */
export type AzRun = (args: readonly string[]) => Promise<{ code: number; stdout: string; stderr: string }>;

/** Options of {@link AzblobStore}. */
export interface AzblobOptions {
  /** Retries of a transient failure per request (default 4). */
  retries?: number;
  /** Part size of block uploads and the largest single Put Blob (default {@link DEFAULT_PART_SIZE}). */
  partSize?: number;
  /** Parts uploaded at a time per file (default {@link DEFAULT_CONCURRENCY}). */
  concurrency?: number;
  /** Blobs per List Blobs page (default 5000, the service's maximum). */
  pageSize?: number;
  /** Stops requests (default: the interrupt signal). */
  signal?: AbortSignal;
  /** Where retry notes go. */
  log?: (line: string) => void;
  /** The HTTP client of requests without a body (for a private CA in tests). */
  client?: Deno.HttpClient;
  /** The transport of uploads (default: the process's {@link httpTransport}; tests: a private CA). */
  transport?: HttpTransport;
  /** Runs `az`; default: the Azure CLI on `path`. */
  runAz?: AzRun;
  /** PATH for `az` (default: this process's). */
  path?: string;
}

function isNetworkError(e: unknown): boolean {
  return e instanceof TypeError ||
    (e instanceof Error && /connect|reset|closed|timed out|EOF|broken pipe|body/i.test(e.message));
}

function md5(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("base64");
}

function defaultAz(path?: string): AzRun {
  return async (args) => {
    const r = await runProgram({
      path: "az",
      args: [...args],
      env: path !== undefined ? { PATH: path } : undefined,
      what: "az account get-access-token",
      hint: () => "run 'az login'",
      notStarted: () => azTokenFailure(127, ""),
      mask: redact,
    });
    return { code: r.code, stdout: r.stdout, stderr: r.stderr };
  };
}

/** A 404 that means "no such blob" (not "no such container", which is an error). */
const absent = (status: number, code: string | undefined) => status === 404 && code !== "ContainerNotFound";

/** One request's outcome inside the client. */
interface Sent {
  res: Response;
  /** An earlier attempt failed in a way that may have reached the service. */
  retried: boolean;
}

/** An {@link ObjectStore} on one Azure Blob container under one prefix (see the module doc). */
export class AzblobStore implements ObjectStore {
  readonly display: string;
  readonly settings: AzureSettings;
  readonly container: string;
  readonly prefix: string;
  #retries: number;
  #partSize: number;
  #concurrency: number;
  #pageSize: number;
  #signal: AbortSignal;
  #log: (line: string) => void;
  #client?: Deno.HttpClient;
  #transport: HttpTransport;
  #runAz: AzRun;
  #token?: Promise<{ token: string; expiresAt: number }>;

  /** Registers the credentials as secrets (the settings from {@link azureSettings} already are). */
  constructor(settings: AzureSettings, location: AzblobLocation, opts: AzblobOptions = {}) {
    if (settings.auth.kind === "sharedKey") registerSecret(settings.auth.key);
    if (settings.auth.kind === "sas") {
      registerSecret(settings.auth.token);
      const sig = new URLSearchParams(settings.auth.token).get("sig");
      registerSecret(sig ?? undefined);
      if (sig) registerSecret(encodeURIComponent(sig));
    }
    this.settings = settings;
    this.container = location.container;
    this.prefix = location.prefix;
    this.display = `azblob://${location.container}/${location.prefix}`.replace(/\/$/, "");
    this.#retries = opts.retries ?? 4;
    this.#partSize = opts.partSize ?? DEFAULT_PART_SIZE;
    this.#concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
    this.#pageSize = Math.min(5000, opts.pageSize ?? 5000);
    this.#signal = opts.signal ?? abortSignal;
    this.#log = opts.log ?? (() => {});
    this.#client = opts.client;
    this.#transport = opts.transport ?? httpTransport;
    this.#runAz = opts.runAz ?? defaultAz(opts.path);
  }

  #url(name?: string, query = ""): string {
    let u = `${this.settings.endpoint}/${this.container}`;
    if (name !== undefined) u += `/${encodeKey(name)}`;
    if (this.settings.auth.kind === "sas") {
      query = query ? `${query}&${this.settings.auth.token}` : this.settings.auth.token;
    }
    return query ? `${u}?${query}` : u;
  }

  async #bearer(): Promise<string> {
    const now = Date.now();
    let t = this.#token ? await this.#token.catch(() => undefined) : undefined;
    if (!t || t.expiresAt - now < 5 * 60_000) {
      this.#token = (async () => {
        const r = await this.#runAz(AZ_TOKEN_ARGS);
        if (r.code !== 0) throw azTokenFailure(r.code, r.stderr);
        let parsed;
        try {
          parsed = parseAzToken(r.stdout, Date.now());
        } catch (e) {
          throw new BackupError(`az could not give a token for Azure Storage (${(e as Error).message})`, {
            hint:
              "run 'az login' (az login --scope https://storage.azure.com/.default when the session expired), or set AZURE_STORAGE_KEY",
            exitCode: ExitCode.usage,
          });
        }
        registerSecret(parsed.token);
        return parsed;
      })();
      t = await this.#token;
    }
    return t.token;
  }

  /**
   * Signs and sends one request (headers in lower case; `body` re-sent, a file range re-read, on a
   * retry): one with a body over the upload transport, the rest over `fetch`.
   */
  async #fetch(method: string, url: string, headers: HeaderMap, body?: HttpBody): Promise<Response> {
    const h: HeaderMap = {
      ...headers,
      "x-ms-date": new Date().toUTCString(),
      "x-ms-version": AZURE_API_VERSION,
    };
    if (body !== undefined) h["content-length"] = String(bodyLength(body));
    const auth = this.settings.auth;
    if (auth.kind === "sharedKey") {
      h.authorization = sharedKeyAuthorization(
        this.settings.account,
        auth.key,
        stringToSign(method, url, this.settings.account, h),
      );
    } else if (auth.kind === "cli") h.authorization = `Bearer ${await this.#bearer()}`;
    if (body !== undefined) {
      return await this.#transport.request(url, { method, headers: h, body, signal: this.#signal });
    }
    return await answerWithin(
      new URL(url).host,
      this.#transport.idleTimeoutMs,
      this.#signal,
      (signal) =>
        fetch(url, { method, headers: h, signal, ...(this.#client ? { client: this.#client } : {}) }),
    );
  }

  /**
   * Sends a request with retries of transient failures. Statuses in `accept` come back with the
   * body unread; any other becomes an {@link azureFailure}.
   */
  async #send(
    what: string,
    method: string,
    url: string,
    headers: HeaderMap,
    body: HttpBody | undefined,
    accept: (status: number, code: string | undefined) => boolean,
  ): Promise<Sent> {
    let retried = false;
    for (let attempt = 1;; attempt++) {
      if (this.#signal.aborted) throw this.#signal.reason ?? new BackupError("interrupted");
      let res: Response | undefined;
      let failure: unknown;
      try {
        res = await this.#fetch(method, url, headers, body);
      } catch (e) {
        if (this.#signal.aborted) throw this.#signal.reason ?? e;
        if (e instanceof BackupError || !isNetworkError(e)) throw e;
        failure = e;
      }
      const code = res?.headers.get("x-ms-error-code") ?? undefined;
      if (res && (res.ok || accept(res.status, code))) return { res, retried };
      const transient = res ? isTransientStatus(res.status) : true;
      const text = res ? await res.text().catch(() => "") : "";
      if (!transient || attempt > this.#retries) {
        if (!res) {
          const why = redact(String((failure as Error)?.message ?? failure).split("\n")[0]);
          throw new BackupError(
            `cannot reach Azure Blob Storage at ${
              new URL(this.settings.endpoint).host
            } (${what}, ${attempt} attempt(s)): ${why}`,
            {
              hint:
                "check the account name or the connection string's BlobEndpoint (or --store-endpoint) and the network",
              cause: failure,
            },
          );
        }
        const parsed = parseS3Error(text);
        // on a 403, Azure says what exactly was wrong (signature, expiry, scheme) in its own element
        const why = text.match(/<AuthenticationErrorDetail>([^<]+)<\/AuthenticationErrorDetail>/)?.[1];
        throw azureFailure(
          { ...this.settings, sas: this.settings.auth.kind === "sas" },
          this.container,
          what,
          res.status,
          code ?? parsed.code,
          why ? decodeXml(why) : parsed.message,
        );
      }
      retried = true;
      const wait = backoffMs(attempt, Math.random());
      const why = res ? `HTTP ${res.status}` : redact(String((failure as Error).message).split("\n")[0]);
      this.#log(`Azure Blob ${what} failed (${why}); retry ${attempt}/${this.#retries} in ${wait} ms`);
      await sleep(wait, this.#signal);
    }
  }

  /** Creates the container (no error when it exists). For set-up scripts and tests. */
  async createContainer(): Promise<void> {
    const { res } = await this.#send(
      `create container ${this.container}`,
      "PUT",
      this.#url(undefined, "restype=container"),
      {},
      { bytes: new Uint8Array(0) },
      (s, code) => s === 409 && code === "ContainerAlreadyExists",
    );
    await res.body?.cancel();
  }

  /** See {@link ObjectStore.head}. */
  async head(key: string): Promise<ObjectInfo | undefined> {
    const name = blobName(this.prefix, key);
    const { res } = await this.#send(
      `head ${name}`,
      "HEAD",
      this.#url(name),
      {},
      undefined,
      absent,
    );
    await res.body?.cancel();
    if (res.status === 404) return undefined;
    return this.#info(key, res);
  }

  #info(key: string, res: Response): ObjectInfo {
    const modified = res.headers.get("last-modified");
    return {
      key,
      size: Number(res.headers.get("content-length") ?? "0"),
      etag: unquote(res.headers.get("etag") ?? ""),
      ...(modified ? { lastModified: new Date(modified) } : {}),
    };
  }

  /**
   * See {@link ObjectStore.get}: a body that breaks is resumed where it stopped, pinned to the blob's
   * ETag and checked (lib/store/resume.ts).
   */
  async get(key: string): Promise<ReadableStream<Uint8Array> | undefined> {
    const name = blobName(this.prefix, key);
    const what = `get ${name}`;
    const first = await this.#send(what, "GET", this.#url(name), {}, undefined, absent);
    if (first.res.status === 404) {
      await first.res.body?.cancel();
      return undefined;
    }
    return resumableBody({
      etag: first.res.headers.get("etag") ?? "",
      size: Number(first.res.headers.get("content-length") ?? "NaN"),
      body: first.res.body,
    }, {
      what: `Azure Blob ${what}`,
      retries: this.#retries,
      signal: this.#signal,
      log: this.#log,
      rangeFrom: async (offset, etag) => {
        const { res } = await this.#send(
          what,
          "GET",
          this.#url(name),
          { "x-ms-range": `bytes=${offset}-`, "if-match": etag },
          undefined,
          (status) => status === 412,
        );
        return {
          status: res.status,
          etag: res.headers.get("etag") ?? "",
          contentRange: res.headers.get("content-range") ?? undefined,
          body: res.body,
        };
      },
    });
  }

  /** See {@link ObjectStore.put}. */
  async put(key: string, body: ObjectBody, opts: PutObjectOptions = {}): Promise<PutResult> {
    const name = blobName(this.prefix, key);
    const nonce = randomBytes(8).toString("hex");
    const cond: HeaderMap = {};
    if (opts.ifAbsent) cond["if-none-match"] = "*";
    if (opts.ifMatch !== undefined) cond["if-match"] = `"${unquote(opts.ifMatch)}"`;
    const meta: HeaderMap = { "x-ms-meta-upload": nonce };
    const size = "bytes" in body ? body.bytes.length : body.size;
    const partSize = partSizeFor(size, this.#partSize);
    const conflict = (s: number, code: string | undefined) =>
      s === 412 || (s === 409 && code === "BlobAlreadyExists") ||
      (opts.ifMatch !== undefined && s === 404 && code === "BlobNotFound");
    // a body and its Content-MD5: bytes from memory, a file range streamed after one hashing pass
    const part = async (off: number, len: number): Promise<{ body: HttpBody; md5: string }> => {
      if ("bytes" in body) {
        const bytes = body.bytes.subarray(off, off + len);
        return { body: { bytes }, md5: md5(bytes) };
      }
      const range = { path: body.path, offset: off, length: len };
      return { body: range, md5: await digestRange(body.path, off, len, "md5", "base64") };
    };
    let sent: Sent;
    if (size <= partSize) {
      const headers: HeaderMap = { ...cond, ...meta, "x-ms-blob-type": "BlockBlob" };
      if (opts.contentType) headers["content-type"] = opts.contentType;
      const one = await part(0, size);
      if (size > 0) headers["content-md5"] = one.md5;
      sent = await this.#send(`put ${name}`, "PUT", this.#url(name), headers, one.body, conflict);
    } else {
      const count = Math.ceil(size / partSize);
      const ids = Array.from({ length: count }, (_, i) => blockId(nonce, i));
      const ctl = new AbortController();
      await runPool(
        ids.map((id, i) => async () => {
          if (ctl.signal.aborted) return;
          const off = i * partSize;
          const block = await part(off, Math.min(partSize, size - off));
          const { res } = await this.#send(
            `put block ${i + 1}/${count} of ${name}`,
            "PUT",
            this.#url(name, `comp=block&blockid=${encodeURIComponent(id)}`),
            { "content-md5": block.md5 },
            block.body,
            () => false,
          );
          await res.body?.cancel();
        }),
        this.#concurrency,
        () => ctl.abort(),
      );
      const headers: HeaderMap = { ...cond, ...meta, "content-type": "application/xml" };
      if (opts.contentType) headers["x-ms-blob-content-type"] = opts.contentType;
      sent = await this.#send(
        `put block list of ${name}`,
        "PUT",
        this.#url(name, "comp=blocklist"),
        headers,
        { bytes: new TextEncoder().encode(blockListXml(ids)) },
        conflict,
      );
    }
    const { res, retried } = sent;
    await res.body?.cancel();
    if (res.ok) return { ok: true, etag: unquote(res.headers.get("etag") ?? "") };
    if (retried) {
      // A lost answer to our own first attempt looks like a lost race: the metadata tells.
      const got = await this.#send(`head ${name}`, "HEAD", this.#url(name), {}, undefined, absent);
      await got.res.body?.cancel();
      if (got.res.ok && got.res.headers.get("x-ms-meta-upload") === nonce) {
        return { ok: true, etag: unquote(got.res.headers.get("etag") ?? "") };
      }
    }
    return { ok: false, reason: opts.ifAbsent ? "exists" : "changed" };
  }

  /** See {@link ObjectStore.list}: List Blobs pages, `pageSize` at a time, following the marker. */
  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const full = this.prefix + prefix;
    let marker: string | undefined;
    do {
      let q = `restype=container&comp=list&maxresults=${this.#pageSize}`;
      if (full) q += `&prefix=${encodeURIComponent(full)}`;
      if (marker) q += `&marker=${encodeURIComponent(marker)}`;
      const { res } = await this.#send(
        `list ${full || "/"}`,
        "GET",
        this.#url(undefined, q),
        {},
        undefined,
        () => false,
      );
      const page = parseBlobList(await res.text());
      for (const b of page.blobs) {
        if (!b.name.startsWith(this.prefix)) continue;
        yield {
          key: b.name.slice(this.prefix.length),
          size: b.size,
          etag: b.etag,
          ...(b.lastModified ? { lastModified: b.lastModified } : {}),
        };
      }
      marker = page.next;
    } while (marker);
  }

  /** See {@link ObjectStore.delete}. */
  async delete(key: string): Promise<void> {
    const name = blobName(this.prefix, key);
    const { res } = await this.#send(
      `delete ${name}`,
      "DELETE",
      this.#url(name),
      { "x-ms-delete-snapshots": "include" },
      undefined,
      absent,
    );
    await res.body?.cancel();
  }
}

/** Options of {@link openAzblob}. */
export interface OpenAzblobOptions extends AzblobOptions {
  /** The environment holding the credentials (see {@link azureSettings}). */
  env: Record<string, string | undefined>;
  /** `--store-endpoint`: the Blob service URL instead of the account's default one. */
  endpoint?: string;
}

/**
 * The store of container `container` under `prefix` (no slash at either end; may be empty), as
 * `--store azblob://CONTAINER/PREFIX` names it (lib/store/remote.ts parses the URL), with
 * credentials from the environment. Throws a usage error (exit 2) for missing or malformed
 * credentials; nothing is sent before the first call.
 */
export function openAzblob(container: string, prefix: string, opts: OpenAzblobOptions): AzblobStore {
  const settings = azureSettings(opts.env, opts.endpoint);
  return new AzblobStore(settings, { container, prefix: prefix ? `${prefix}/` : "" }, {
    path: opts.env.PATH,
    ...opts,
  });
}
