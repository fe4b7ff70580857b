/**
 * The S3 protocol client for a Supabase project's Storage (`https://<ref>.storage.supabase.co/storage/v1/s3`,
 * path-style, the project's S3 access keys): SigV4 signing by lib/store/sigv4.ts. Requests without a body
 * go over `fetch`; every request with one (PutObject, UploadPart, CompleteMultipartUpload) over the
 * upload transport (lib/store/http.ts), which streams it with its exact Content-Length, never
 * chunked, and is signed with the body's SHA-256 as the payload hash (never `UNSIGNED-PAYLOAD`:
 * the service then checks the bytes it got, also over plain HTTP). Only the calls a backup and a restore need:
 * list buckets (also the check of endpoint and keys), create a bucket, head/get/put an object.
 * The backup store of `--store s3://…` (lib/store/s3store.ts) also lists by prefix, deletes and
 * uploads large files in parts (multipart upload).
 *
 * Retries: a transient failure (network error, HTTP 429 or 5xx) before a response body is used is
 * retried with exponential backoff and jitter, up to `retries` times. Errors are
 * {@link BackupError}s naming the endpoint and the flags to fix, never a key.
 *
 * Key encoding ({@link encodeKey}) and error classification ({@link s3Failure}) are pure.
 * @module
 */
import { createHash } from "node:crypto";
import { BackupError, ExitCode, usageError } from "../base/errors.ts";
import { abortSignal } from "../base/interrupt.ts";
import { redact, registerSecret } from "../base/redact.ts";
import { answerWithin, type HttpBody, type HttpTransport, httpTransport } from "./http.ts";
import type { RangeAnswer, ResumeOptions } from "./resume.ts";
import { SigV4Signer } from "./sigv4.ts";

/** Where and how to reach one project's S3 endpoint. */
export interface S3Settings {
  /** `https://<ref>.storage.supabase.co/storage/v1/s3` (no trailing slash). */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The flags that set these, for messages: e.g. `--storage` or `--target-storage`. */
  flagPrefix: string;
  /** The environment prefix, for messages: `SUPABASE_S3` or `RESTORE_S3`. */
  envPrefix: string;
  /** A temporary credential's session token (`AWS_SESSION_TOKEN`). */
  sessionToken?: string;
  /** Virtual-hosted addressing: the endpoint's host already names the bucket (AWS without an endpoint). */
  bucketInHost?: boolean;
  /**
   * The hints of refused keys, of an unreachable endpoint and of a server that kept failing (HTTP
   * 5xx on every try), when not the Storage ones.
   */
  hints?: { keys: string; endpoint: string; server: string };
}

/** What a HEAD or GET says about an object. */
export interface ObjectHead {
  etag: string;
  size: number;
  contentType?: string;
  cacheControl?: string;
  /** `x-amz-meta-*` headers, names without the prefix (lower case). */
  metadata: Record<string, string>;
}

/** What {@link S3Client.put} sends besides the bytes. */
export interface PutOptions {
  size: number;
  /** The sha256 (hex) of the bytes: signed as the payload hash. */
  sha256: string;
  contentType?: string;
  cacheControl?: string;
  metadata?: Record<string, string>;
}

/**
 * Encodes an object name for the URL path the way SigV4 canonicalises it: each `/`-separated
 * segment percent-encoded except the RFC 3986 unreserved characters. Pure.
 */
export function encodeKey(name: string): string {
  return name.split("/").map((seg) =>
    encodeURIComponent(seg).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  ).join("/");
}

/** The S3 error code and message of an XML error body, when there is one. Pure. */
export function parseS3Error(body: string): { code?: string; message?: string } {
  const tag = (name: string) => {
    const m = body.match(new RegExp(`<${name}>([^<]*)</${name}>`));
    return m ? m[1].trim() : undefined;
  };
  return { code: tag("Code"), message: tag("Message") };
}

/** Whether an HTTP status is worth retrying (throttling, server errors). Pure. */
export function isTransientStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/** The wait before retry `attempt` (1-based): 250 ms doubling, capped at 8 s, times `jitter` in [0.5, 1]. Pure. */
export function backoffMs(attempt: number, jitter: number): number {
  return Math.round(Math.min(8000, 250 * 2 ** (attempt - 1)) * (0.5 + jitter / 2));
}

/**
 * Checks an endpoint given by `origin` and returns it without a trailing slash. Throws a usage
 * error (exit 2) for anything but an http(s) URL without credentials, query or fragment. Pure.
 */
export function parseEndpoint(text: string, origin: string): string {
  return parseServiceEndpoint(
    text,
    origin,
    "give the project's S3 endpoint, https://<ref>.storage.supabase.co/storage/v1/s3",
  );
}

/**
 * Checks a service endpoint (S3, Azure Blob) given by `origin` and returns it without a trailing
 * slash; throws a usage error with `hint` for anything but an http(s) URL without credentials,
 * query or fragment. Pure.
 */
export function parseServiceEndpoint(text: string, origin: string, hint: string): string {
  let u: URL;
  try {
    u = new URL(text.trim());
  } catch {
    throw usageError(`${origin} is not a URL`, hint);
  }
  if ((u.protocol !== "https:" && u.protocol !== "http:") || u.username || u.password || u.search || u.hash) {
    throw usageError(`${origin} must be an http(s) URL without credentials or query`, hint);
  }
  return u.toString().replace(/\/+$/, "");
}

/** The endpoint without its path, for messages and the manifest: `https://host`. Pure. */
export function endpointHost(endpoint: string): string {
  const u = new URL(endpoint);
  return `${u.protocol}//${u.host}`;
}

/** What a failed call's hint adds on the source side (a backup's): that latest/ is as it was. Pure. */
function latestUnchanged(s: Pick<S3Settings, "flagPrefix">): string {
  return s.flagPrefix === S3_SIDES.source.flagPrefix ? "; latest/ is unchanged" : "";
}

/**
 * The error for a failed S3 call: refused keys (401/403) and a wrong endpoint (404 on the bucket
 * list, not S3) are usage errors (exit 2), the rest failures (exit 1). Pure.
 */
export function s3Failure(
  s: Pick<S3Settings, "endpoint" | "flagPrefix" | "envPrefix" | "hints">,
  what: string,
  status: number,
  body: string,
): BackupError {
  const { code, message } = parseS3Error(body);
  const detail = `HTTP ${status}${code ? ` ${code}` : ""}${message ? `: ${message}` : ""}`;
  const where = endpointHost(s.endpoint);
  if (
    status === 401 || status === 403 &&
      (!code || /InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied|InvalidToken|Unauthorized/i.test(code))
  ) {
    return new BackupError(`${where} refused the S3 keys (${detail})`, {
      hint: s.hints?.keys ??
        `check ${s.flagPrefix}-access-key-id, ${s.flagPrefix}-secret-access-key and ${s.flagPrefix}-region ($${s.envPrefix}_*); create keys under Project Settings → Storage → S3 access keys`,
      exitCode: ExitCode.usage,
    });
  }
  if (what === "list buckets" && (status === 404 || status === 400 && !code)) {
    return new BackupError(`${s.endpoint} is not an S3 endpoint (${detail})`, {
      hint: `check ${s.flagPrefix}-endpoint: https://<ref>.storage.supabase.co/storage/v1/s3`,
      exitCode: ExitCode.usage,
    });
  }
  if (status >= 500) {
    return new BackupError(`S3 ${what} at ${where} failed (${detail})`, {
      hint: s.hints?.server ??
        `Storage failed on every try; check the project's Storage status and run again${latestUnchanged(s)}`,
    });
  }
  return new BackupError(`S3 ${what} at ${where} failed (${detail})`, {
    hint: "check the project's Storage status and run again",
  });
}

/** Whether an error thrown by fetch is a network failure (worth a retry). */
function isNetworkError(e: unknown): boolean {
  return e instanceof TypeError ||
    (e instanceof Error && /connect|reset|closed|timed out|EOF|broken pipe/i.test(e.message));
}

/** Errors of calls that failed transiently (worth another try by a caller that can repeat the call). */
const transientErrors = new WeakSet<Error>();

/** Waits `ms`, or less when `signal` aborts first (the caller checks it). */
export const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });

function headOf(res: Response): ObjectHead {
  const metadata: Record<string, string> = {};
  for (const [k, v] of res.headers) if (k.startsWith("x-amz-meta-")) metadata[k.slice(11)] = v;
  return {
    etag: res.headers.get("etag") ?? "",
    size: Number(res.headers.get("content-length") ?? "NaN"),
    ...(res.headers.get("content-type") ? { contentType: res.headers.get("content-type")! } : {}),
    ...(res.headers.get("cache-control") ? { cacheControl: res.headers.get("cache-control")! } : {}),
    metadata,
  };
}

/** One request as {@link S3Client} sends it: a body goes over the upload transport. */
interface SendInit {
  method: string;
  headers?: Record<string, string>;
  /** Sent with its length; the headers then carry its SHA-256 as `x-amz-content-sha256`. */
  body?: HttpBody;
}

/** What {@link S3Client.put} sends: bytes, a stream of `opts.size` bytes, or a file range. */
export type PutBody = Uint8Array | ReadableStream<Uint8Array> | HttpBody;

/** A signed S3 client for one endpoint (see the module doc). */
export class S3Client {
  readonly settings: S3Settings;
  #signer: SigV4Signer;
  #transport: HttpTransport;
  #retries: number;
  #signal: AbortSignal;
  #log: (line: string) => void;

  /** Registers both keys as secrets, so that no output shows them. */
  constructor(
    settings: S3Settings,
    opts: {
      retries: number;
      signal?: AbortSignal;
      log?: (line: string) => void;
      /** The upload transport (default: the process's {@link httpTransport}). */
      transport?: HttpTransport;
    },
  ) {
    registerSecret(settings.secretAccessKey);
    registerSecret(settings.accessKeyId);
    if (settings.sessionToken) registerSecret(settings.sessionToken);
    this.settings = settings;
    this.#signer = new SigV4Signer({
      accessKeyId: settings.accessKeyId,
      secretAccessKey: settings.secretAccessKey,
      ...(settings.sessionToken ? { sessionToken: settings.sessionToken } : {}),
      service: "s3",
      region: settings.region,
    });
    this.#transport = opts.transport ?? httpTransport;
    this.#retries = opts.retries;
    this.#signal = opts.signal ?? abortSignal;
    this.#log = opts.log ?? (() => {});
  }

  #url(bucket?: string, key?: string): string {
    let u = this.settings.endpoint;
    if (bucket !== undefined && !this.settings.bucketInHost) u += `/${encodeKey(bucket)}`;
    else if (bucket !== undefined && key === undefined) u += "/";
    if (key !== undefined) u += `/${encodeKey(key)}`;
    return u;
  }

  /**
   * Sends one request, retrying transient failures; `ok` statuses (and 404 when `allow404`, and
   * the statuses in `allow`) are returned with the body unread, anything else becomes a
   * {@link s3Failure}.
   */
  async #send(
    what: string,
    url: string,
    init: () => SendInit,
    opts: { allow404?: boolean; allow?: number[]; once?: boolean } = {},
  ): Promise<Response> {
    const retries = opts.once ? 0 : this.#retries;
    for (let attempt = 1;; attempt++) {
      if (this.#signal.aborted) throw this.#signal.reason ?? new BackupError("interrupted");
      let res: Response | undefined;
      let failure: unknown;
      try {
        const i = init();
        res = i.body !== undefined ? await this.#upload(url, i) : await answerWithin(
          endpointHost(this.settings.endpoint),
          this.#transport.idleTimeoutMs,
          this.#signal,
          (signal) => fetch(url, { method: i.method, headers: this.#signed(url, i), signal }),
        );
      } catch (e) {
        if (this.#signal.aborted) throw this.#signal.reason ?? e;
        if (!isNetworkError(e)) throw e;
        failure = e;
      }
      if (res && (res.ok || (opts.allow404 && res.status === 404) || opts.allow?.includes(res.status))) {
        return res;
      }
      const transient = res ? isTransientStatus(res.status) : true;
      const body = res ? await res.text().catch(() => "") : "";
      if (!transient || attempt > retries) {
        const err = res
          ? s3Failure(this.settings, what, res.status, body)
          : this.#unreachable(what, failure, attempt);
        if (transient) transientErrors.add(err);
        throw err;
      }
      const wait = backoffMs(attempt, Math.random());
      const why = res ? `HTTP ${res.status}` : redact(String((failure as Error).message).split("\n")[0]);
      this.#log(`S3 ${what} failed (${why}); retry ${attempt}/${retries} in ${wait} ms`);
      await sleep(wait, this.#signal);
    }
  }

  /** The headers of a request, with its signature (for a GET without `x-amz-content-sha256`: unsigned payload). */
  #signed(url: string, i: SendInit): Record<string, string> {
    return this.#signer.sign({ method: i.method, url, ...(i.headers ? { headers: i.headers } : {}) }).headers;
  }

  /** Signs a request with a body (its hash in `x-amz-content-sha256`) and sends it over the transport. */
  async #upload(url: string, i: SendInit): Promise<Response> {
    return await this.#transport.request(url, {
      method: i.method,
      headers: this.#signed(url, i),
      body: i.body,
      signal: this.#signal,
    });
  }

  #unreachable(what: string, e: unknown, attempts: number): BackupError {
    const why = redact(String((e as Error)?.message ?? e).split("\n")[0]);
    return new BackupError(
      `cannot reach the S3 endpoint ${
        endpointHost(this.settings.endpoint)
      } (${what}, ${attempts} attempt(s)): ${why}`,
      {
        hint: this.settings.hints?.endpoint ??
          `check ${this.settings.flagPrefix}-endpoint ($${this.settings.envPrefix}_ENDPOINT) and the network${
            latestUnchanged(this.settings)
          }`,
        cause: e,
      },
    );
  }

  /**
   * Lists the bucket names: also the check that the endpoint is S3 and the keys work. Throws a
   * usage error (exit 2) for refused keys, an endpoint that is not S3 or one that cannot be reached.
   */
  async listBuckets(): Promise<string[]> {
    let res: Response;
    try {
      res = await this.#send("list buckets", `${this.settings.endpoint}/`, () => ({ method: "GET" }));
    } catch (e) {
      if (e instanceof BackupError && e.message.startsWith("cannot reach")) {
        throw new BackupError(e.message, { hint: e.hint, exitCode: ExitCode.usage, cause: e.cause });
      }
      throw e;
    }
    const text = await res.text();
    if (!text.includes("ListAllMyBucketsResult")) {
      throw new BackupError(
        `${this.settings.endpoint} is not an S3 endpoint (no bucket list in its answer)`,
        {
          hint: `check ${this.settings.flagPrefix}-endpoint: https://<ref>.storage.supabase.co/storage/v1/s3`,
          exitCode: ExitCode.usage,
        },
      );
    }
    return [...text.matchAll(/<Name>([^<]*)<\/Name>/g)].map((m) => decodeXml(m[1]));
  }

  /**
   * Lists a bucket's objects (ListObjectsV2, 1000 a page): key, ETag and size of each. Used only to
   * see what a restore target already has; a backup's file list comes from the database.
   */
  async *listObjects(
    bucket: string,
    prefix = "",
    pageSize = 1000,
  ): AsyncGenerator<{ key: string; etag: string; size: number; lastModified?: Date }> {
    let token: string | undefined;
    do {
      const q = `list-type=2&max-keys=${pageSize}${prefix ? `&prefix=${encodeURIComponent(prefix)}` : ""}${
        token ? `&continuation-token=${encodeURIComponent(token)}` : ""
      }`;
      const res = await this.#send(`list ${bucket}`, `${this.#url(bucket)}?${q}`, () => ({ method: "GET" }));
      const xml = await res.text();
      for (const m of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
        const tag = (t: string) => m[1].match(new RegExp(`<${t}>([^<]*)</${t}>`))?.[1] ?? "";
        const modified = tag("LastModified");
        yield {
          key: decodeXml(tag("Key")),
          etag: decodeXml(tag("ETag")),
          size: Number(tag("Size")),
          ...(modified ? { lastModified: new Date(modified) } : {}),
        };
      }
      const next = xml.match(/<NextContinuationToken>([^<]*)<\/NextContinuationToken>/)?.[1];
      token = /<IsTruncated>true<\/IsTruncated>/.test(xml) && next ? decodeXml(next) : undefined;
    } while (token);
  }

  /**
   * Whether the object's bytes can be read (a one-byte ranged GET, of `size` bytes in all). A row without its file (as a
   * database restore leaves) lists and heads like a file, but this fails: that is what it is for.
   */
  async readable(bucket: string, key: string, size: number): Promise<boolean> {
    let res: Response;
    try {
      // an empty file has no byte 0 to ask for (416): read it whole
      const headers: Record<string, string> = size > 0 ? { range: "bytes=0-0" } : {};
      res = await this.#send(
        `get ${bucket}/${key}`,
        this.#url(bucket, key),
        () => ({ method: "GET", headers }),
        {
          allow404: true,
          once: true,
        },
      );
    } catch (e) {
      if (e instanceof BackupError && e.exitCode === ExitCode.usage) throw e;
      return false;
    }
    await res.body?.cancel();
    return res.ok;
  }

  /** Creates a bucket (`public-read` when `isPublic`). Throws on failure. */
  async createBucket(bucket: string, isPublic: boolean): Promise<void> {
    const res = await this.#send("create bucket", this.#url(bucket), () => ({
      method: "PUT",
      headers: (isPublic ? { "x-amz-acl": "public-read" } : {}) as Record<string, string>,
    }));
    await res.body?.cancel();
  }

  /** Removes an empty bucket (no error when it is already gone). Throws on failure. */
  async deleteBucket(bucket: string): Promise<void> {
    const res = await this.#send("delete bucket", this.#url(bucket), () => ({ method: "DELETE" }), {
      allow404: true,
    });
    await res.body?.cancel();
  }

  /** The object's head, or undefined when it does not exist. */
  async head(bucket: string, key: string): Promise<ObjectHead | undefined> {
    const res = await this.#send(
      `head ${bucket}/${key}`,
      this.#url(bucket, key),
      () => ({ method: "HEAD" }),
      {
        allow404: true,
      },
    );
    await res.body?.cancel();
    return res.status === 404 ? undefined : headOf(res);
  }

  /**
   * Starts a download: the head and the body stream, or undefined when the object does not exist.
   * Retries happen before the body is handed out; the caller retries a body that breaks.
   */
  async get(
    bucket: string,
    key: string,
  ): Promise<{ head: ObjectHead; body: ReadableStream<Uint8Array> } | undefined> {
    const res = await this.#send(`get ${bucket}/${key}`, this.#url(bucket, key), () => ({ method: "GET" }), {
      allow404: true,
    });
    if (res.status === 404) {
      await res.body?.cancel();
      return undefined;
    }
    return { head: headOf(res), body: res.body ?? new Blob([]).stream() };
  }

  /**
   * The bytes of an object from `offset` to its end, asked for with `If-Match: etag` (a resumed
   * download, lib/store/resume.ts, which checks the answer: a service may ignore the condition).
   */
  async getRange(bucket: string, key: string, offset: number, etag: string): Promise<RangeAnswer> {
    const headers = { range: `bytes=${offset}-`, "if-match": etag };
    const res = await this.#send(
      `get ${bucket}/${key}`,
      this.#url(bucket, key),
      () => ({ method: "GET", headers }),
      {
        allow404: true,
        allow: [412],
      },
    );
    return {
      status: res.status,
      etag: res.headers.get("etag") ?? "",
      contentRange: res.headers.get("content-range") ?? undefined,
      body: res.body,
    };
  }

  /** How downloads resume after a break ({@link resumableBody}): the client's retries, signal and log. */
  get resumption(): Pick<ResumeOptions, "retries" | "signal" | "log"> {
    return { retries: this.#retries, signal: this.#signal, log: this.#log };
  }

  /**
   * Uploads an object from `open()` (called again for each retry): bytes, a file range, or a
   * stream of exactly `opts.size` bytes, always sent with that Content-Length (never chunked),
   * signing `opts.sha256` as the payload hash. Returns the ETag the server gives. Throws on
   * failure (a stream's own error when it fails): a {@link PreconditionFailed} when a condition of
   * `opts.headers` (`if-none-match`, `if-match`) failed (HTTP 412).
   */
  async put(
    bucket: string,
    key: string,
    open: () => Promise<PutBody>,
    opts: PutOptions & { headers?: Record<string, string> },
  ): Promise<string> {
    const headers: Record<string, string> = { "x-amz-content-sha256": opts.sha256, ...opts.headers };
    if (opts.contentType) headers["content-type"] = opts.contentType;
    if (opts.cacheControl) headers["cache-control"] = opts.cacheControl;
    for (const [k, v] of Object.entries(opts.metadata ?? {})) headers[`x-amz-meta-${k}`] = v;
    const what = `put ${bucket}/${key}`;
    for (let attempt = 1;; attempt++) {
      const opened: PutBody = opts.size === 0 ? new Uint8Array(0) : await open();
      const body: HttpBody = opened instanceof Uint8Array
        ? { bytes: opened }
        : opened instanceof ReadableStream
        ? { stream: opened, length: opts.size }
        : opened;
      try {
        // A stream is sent once: #send does not retry it, this loop reopens it.
        const res = await this.#send(what, this.#url(bucket, key), () => ({ method: "PUT", headers, body }), {
          once: true,
          allow: [412],
        });
        await res.body?.cancel();
        if (res.status === 412) throw new PreconditionFailed(`S3 ${what}: the condition failed`);
        return res.headers.get("etag") ?? "";
      } catch (e) {
        if ("stream" in body) await body.stream.cancel().catch(() => {});
        if (attempt > this.#retries || !transientErrors.has(e as Error)) throw e;
        const wait = backoffMs(attempt, Math.random());
        this.#log(`S3 ${what} failed; retry ${attempt}/${this.#retries} in ${wait} ms`);
        await sleep(wait, this.#signal);
      }
    }
  }

  /** Removes an object (no error when it is already gone). Throws on failure. */
  async delete(bucket: string, key: string): Promise<void> {
    const res = await this.#send(
      `delete ${bucket}/${key}`,
      this.#url(bucket, key),
      () => ({ method: "DELETE" }),
      {
        allow404: true,
      },
    );
    await res.body?.cancel();
  }

  /** Starts a multipart upload; returns its upload id. Throws on failure. */
  async createMultipart(bucket: string, key: string, contentType?: string): Promise<string> {
    const headers: Record<string, string> = contentType ? { "content-type": contentType } : {};
    const res = await this.#send(
      `start upload ${bucket}/${key}`,
      `${this.#url(bucket, key)}?uploads=`,
      () => ({ method: "POST", headers }),
    );
    const id = (await res.text()).match(/<UploadId>([^<]*)<\/UploadId>/)?.[1];
    if (!id) {
      throw new BackupError(
        `S3 start upload ${bucket}/${key} at ${endpointHost(this.settings.endpoint)} gave no UploadId`,
        {
          hint: "the service does not support multipart uploads; report it",
        },
      );
    }
    return decodeXml(id);
  }

  /**
   * Uploads part `n` (1-based) of a multipart upload from bytes or a file range (re-read for a
   * retry) whose SHA-256 is `sha256`; returns its ETag.
   */
  async uploadPart(
    bucket: string,
    key: string,
    uploadId: string,
    n: number,
    body: Uint8Array | { path: string; offset: number; length: number },
    sha256: string,
  ): Promise<string> {
    const url = `${this.#url(bucket, key)}?partNumber=${n}&uploadId=${encodeURIComponent(uploadId)}`;
    const res = await this.#send(`upload part ${n} of ${bucket}/${key}`, url, () => ({
      method: "PUT",
      headers: { "x-amz-content-sha256": sha256 },
      body: body instanceof Uint8Array ? { bytes: body } : body,
    }));
    await res.body?.cancel();
    return res.headers.get("etag") ?? "";
  }

  /** Completes a multipart upload from its parts' ETags, in order; returns the object's ETag. */
  async completeMultipart(
    bucket: string,
    key: string,
    uploadId: string,
    etags: readonly string[],
  ): Promise<string> {
    const bytes = new TextEncoder().encode(completeMultipartXml(etags));
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    const res = await this.#send(
      `complete upload ${bucket}/${key}`,
      `${this.#url(bucket, key)}?uploadId=${encodeURIComponent(uploadId)}`,
      () => ({
        method: "POST",
        headers: { "content-type": "application/xml", "x-amz-content-sha256": sha256 },
        body: { bytes },
      }),
    );
    const text = await res.text();
    // a 200 can still carry an error (AWS documents this for CompleteMultipartUpload)
    if (/<Error>/.test(text)) throw s3Failure(this.settings, `complete upload ${bucket}/${key}`, 500, text);
    return decodeXml(text.match(/<ETag>([^<]*)<\/ETag>/)?.[1] ?? res.headers.get("etag") ?? "");
  }

  /** Abandons a multipart upload (its parts are freed). Errors are ignored: it is a clean-up. */
  async abortMultipart(bucket: string, key: string, uploadId: string): Promise<void> {
    const url = `${this.#url(bucket, key)}?uploadId=${encodeURIComponent(uploadId)}`;
    await this.#send(`abort upload ${bucket}/${key}`, url, () => ({ method: "DELETE" }), {
      allow404: true,
      once: true,
    })
      .then((r) => r.body?.cancel()).catch(() => {});
  }
}

/** A conditional upload's condition failed (HTTP 412): the object exists, or has another ETag. */
export class PreconditionFailed extends BackupError {}

/** Escapes text for an XML element. Pure. */
function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The body of CompleteMultipartUpload for parts 1..n with these ETags. Pure. */
export function completeMultipartXml(etags: readonly string[]): string {
  const parts = etags.map((e, i) =>
    `<Part><PartNumber>${i + 1}</PartNumber><ETag>${escapeXml(e)}</ETag></Part>`
  );
  return `<CompleteMultipartUpload>${parts.join("")}</CompleteMultipartUpload>`;
}

/** Decodes XML character entities (named and numeric). Pure. */
export function decodeXml(s: string): string {
  const named: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };
  return s.replace(/&(#x[0-9a-fA-F]+|#\d+|lt|gt|amp|quot|apos);/g, (all, e: string) => {
    if (e.startsWith("#x")) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith("#")) return String.fromCodePoint(parseInt(e.slice(1), 10));
    return named[e] ?? all;
  });
}

/** The raw values of one side's S3 flags (undefined: not given). */
export interface S3Values {
  endpoint?: string;
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
}

/** The flag and environment prefixes of each side. */
export const S3_SIDES = {
  source: { flagPrefix: "--storage", envPrefix: "SUPABASE_S3" },
  target: { flagPrefix: "--target-storage", envPrefix: "RESTORE_S3" },
} as const;

/**
 * Checks one side's S3 values and returns the settings. Throws a usage error (exit 2) naming the
 * flag and variable of the first missing or bad value; the target never borrows the source's.
 * Pure.
 */
export function s3Settings(v: S3Values, side: keyof typeof S3_SIDES): S3Settings {
  const { flagPrefix, envPrefix } = S3_SIDES[side];
  const need = (value: string | undefined, flag: string, env: string, what: string): string => {
    if (value === undefined || value.trim() === "") {
      throw usageError(
        `${
          side === "source" ? "--storage" : "restore --storage"
        } needs ${what}: ${flagPrefix}-${flag} or $${envPrefix}_${env}`,
        side === "source"
          ? "the project's S3 endpoint, region and keys are under Project Settings → Storage → S3 access keys (with --vault, the keys can be Key Vault secrets: docs/storage-files.md#keys)"
          : "give the TARGET project's S3 endpoint, region and keys (the source's are never used for a restore)",
      );
    }
    return value.trim();
  };
  const endpoint = parseEndpoint(
    need(v.endpoint, "endpoint", "ENDPOINT", "the S3 endpoint"),
    `${flagPrefix}-endpoint`,
  );
  return {
    endpoint,
    region: need(v.region, "region", "REGION", "the region"),
    accessKeyId: need(v.accessKeyId, "access-key-id", "ACCESS_KEY_ID", "the S3 access key id"),
    secretAccessKey: need(
      v.secretAccessKey,
      "secret-access-key",
      "SECRET_ACCESS_KEY",
      "the S3 secret access key",
    ),
    flagPrefix,
    envPrefix,
  };
}
