/**
 * The one HTTP transport for uploads to object stores (issue 14), on `node:http` / `node:https`.
 * Deno's `fetch` cannot be used for them: it copies a body given as bytes and frees the copies
 * late (an 8 MiB part in flight cost 60-80 MiB of RSS), and a body given as a stream goes out
 * chunked without its Content-Length, which AWS S3's PutObject / UploadPart and Azure's Put Block
 * refuse. Here a body is a file range, bytes or a stream of a known length, always sent with its
 * exact `Content-Length` and never chunked, in chunks of {@link CHUNK_BYTES}: the next chunk is
 * read only when the request has taken the last, so a request holds about two chunks. A chunk
 * handed to the request is never refilled: Deno passes it to the socket writer without a copy,
 * and the write callback can come before the bytes left.
 *
 * The answer is a standard `Response` whose body streams from the socket (with back-pressure),
 * so a GET works too. Connections are kept alive and reused. A request fails with an
 * {@link HttpNetworkError} (a `TypeError`, as `fetch`'s network failures are) when the
 * connection fails or stays silent for the idle timeout; a body that cannot be read fails it
 * with that reader's own error; the run's signal aborts it with the signal's reason. Signing and
 * retries belong to the callers (lib/store/s3.ts, lib/store/azblob.ts): node:http's own retry of a
 * request whose kept-alive connection failed is turned off ({@link noHiddenRetry}), and every
 * failure settles the request here, whatever node:http emits after it.
 *
 * Behind a proxy (`HTTPS_PROXY` / `HTTP_PROXY` naming one for the URL, {@link proxyFor}), a request
 * goes over `fetch` through that proxy instead, as every upload did before this transport: a file
 * range is read into memory first, and a stream body goes chunked.
 * @module
 */
import { createHash } from "node:crypto";
import http from "node:http";
import https from "node:https";

/**
 * Bytes read from a file and written to the request at a time (a new buffer each: see the module
 * doc). 64 KiB: a 320 MB file in 8 MiB parts, 4 at a time, peaked at 70 MiB of RSS with them,
 * against 107 MiB with 256 KiB chunks (and 55 MiB with one reused buffer, which is not safe).
 */
export const CHUNK_BYTES = 64 << 10;

/** Bytes read from a file at a time to hash it (one reused buffer: hashing copies nothing). */
const HASH_BYTES = 256 << 10;

/** How long a request may see no bytes either way before it fails (120 s). */
export const IDLE_TIMEOUT_MS = 120_000;

/** The bytes of one request: in memory, a range of a local file (re-readable), or a stream of known length. */
export type HttpBody =
  | { bytes: Uint8Array }
  | { path: string; offset: number; length: number }
  | { stream: ReadableStream<Uint8Array>; length: number };

/** The length a body is sent with. Pure. */
export function bodyLength(body: HttpBody): number {
  return "bytes" in body ? body.bytes.length : body.length;
}

/**
 * The digest of `length` bytes of the file at `path` from `offset` (read through one buffer of
 * 256 KiB): what a request signs or declares before its body is streamed. Throws when
 * the file is shorter.
 */
export async function digestRange(
  path: string,
  offset: number,
  length: number,
  algorithm: "sha256" | "md5",
  encoding: "hex" | "base64",
): Promise<string> {
  const hash = createHash(algorithm);
  const f = await Deno.open(path, { read: true });
  try {
    await f.seek(offset, Deno.SeekMode.Start);
    const buf = new Uint8Array(Math.max(1, Math.min(HASH_BYTES, length)));
    for (let left = length; left > 0;) {
      const n = await f.read(buf.subarray(0, Math.min(buf.length, left)));
      if (n === null) {
        throw new Error(`${path} ended at ${offset + length - left} bytes while it was being hashed`);
      }
      hash.update(buf.subarray(0, n));
      left -= n;
    }
  } finally {
    f.close();
  }
  return hash.digest(encoding);
}

/** One request. */
export interface HttpInit {
  method: string;
  /** Header names in any case; `content-length`, `transfer-encoding` and `host` are set here. */
  headers?: Record<string, string>;
  body?: HttpBody;
  /** Aborts the request, or the response body still streaming, with the signal's reason. */
  signal?: AbortSignal;
}

/** Options of {@link HttpTransport}. */
export interface HttpTransportOptions {
  /** PEM certificates to trust for HTTPS instead of the default ones (tests with a private CA). */
  caCerts?: string[];
  /** See {@link IDLE_TIMEOUT_MS}. */
  idleTimeoutMs?: number;
  /** See {@link CHUNK_BYTES}. */
  chunkBytes?: number;
  /** The variables {@link proxyFor} reads (default: this process's environment, read on first use). */
  env?: Record<string, string | undefined>;
}

/** The connection failed, closed early or stayed silent too long: worth a retry. */
export class HttpNetworkError extends TypeError {}

/** The headers a request goes out with: the caller's, less the framing ones, plus its exact length. Pure. */
export function requestHeaders(init: Pick<HttpInit, "method" | "headers" | "body">): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(init.headers ?? {})) {
    const name = k.toLowerCase();
    if (name !== "content-length" && name !== "transfer-encoding" && name !== "host") out[name] = v;
  }
  if (init.body !== undefined || /^(PUT|POST|PATCH)$/i.test(init.method)) {
    out["content-length"] = String(init.body ? bodyLength(init.body) : 0);
  }
  return out;
}

/**
 * The proxy a request to `url` goes through, as `fetch` picks it: `HTTPS_PROXY` for https and
 * `HTTP_PROXY` for http (either case), unless `NO_PROXY` (either case, comma-separated) has `*`,
 * the host, or a domain the host is in (`example.com` or `.example.com`; a `:port` is ignored).
 * Pure.
 */
export function proxyFor(url: URL, env: Record<string, string | undefined>): string | undefined {
  const get = (name: string) => (env[name] ?? env[name.toLowerCase()])?.trim() || undefined;
  const proxy = get(url.protocol === "https:" ? "HTTPS_PROXY" : "HTTP_PROXY");
  if (!proxy) return undefined;
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  for (const raw of (get("NO_PROXY") ?? "").split(",")) {
    const entry = raw.trim().toLowerCase().replace(/^\[(.*)\](:\d+)?$/, "$1").replace(/:\d+$/, "");
    if (!entry) continue;
    if (entry === "*") return undefined;
    const domain = entry.replace(/^\*?\./, "");
    if (host === domain || host.endsWith(`.${domain}`)) return undefined;
  }
  return proxy;
}

/** Statuses whose response has no body whatever the headers say. */
const NO_BODY = new Set([204, 205, 304]);

/** Keep-alive connections to any number of hosts, and requests over them (see the module doc). */
export class HttpTransport {
  #http: http.Agent;
  #https: https.Agent;
  #idle: number;
  #chunk: number;
  #caCerts?: string[];
  #env?: Record<string, string | undefined>;
  /** `fetch` clients through each proxy used so far. */
  #proxied = new Map<string, Deno.HttpClient>();

  constructor(opts: HttpTransportOptions = {}) {
    this.#http = new http.Agent({ keepAlive: true });
    this.#https = new https.Agent({ keepAlive: true, ...(opts.caCerts ? { ca: opts.caCerts } : {}) });
    this.#idle = opts.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
    this.#chunk = opts.chunkBytes ?? CHUNK_BYTES;
    this.#caCerts = opts.caCerts;
    this.#env = opts.env;
  }

  /**
   * Sends one request and resolves with the answer once its status and headers are in (any
   * status). Rejects with an {@link HttpNetworkError} when the connection fails, with the body's
   * own error when the body cannot be read or does not have its length, and with the signal's
   * reason when aborted. Never retries, and never waits longer than the idle timeout for a
   * byte either way.
   */
  request(url: string | URL, init: HttpInit): Promise<Response> {
    const u = new URL(url);
    if (u.protocol !== "http:" && u.protocol !== "https:") {
      return Promise.reject(new TypeError(`not an http(s) URL: ${u.protocol}`));
    }
    const signal = init.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const proxy = proxyFor(u, this.#env ??= Deno.env.toObject());
    if (proxy) return this.#viaProxy(u, init, proxy);
    const secure = u.protocol === "https:";
    const method = init.method.toUpperCase();
    const options = { method, headers: requestHeaders(init), agent: secure ? this.#https : this.#http };
    return new Promise<Response>((resolve, reject) => {
      const req = secure ? https.request(u, options) : http.request(u, options);
      noHiddenRetry(req);
      let settled = false;
      let bodyDone = init.body === undefined;
      /** Ends a body write the request will never take (it failed, or was answered). */
      const dead = new AbortController();
      // settles here, not on the request's events: the request is failed whatever node:http emits
      const fail = (e: unknown) => {
        idle.disarm();
        dead.abort();
        if (settled) return;
        settled = true;
        unlisten();
        reject(e);
        req.destroy(e instanceof Error ? e : new Error(String(e)));
      };
      const onAbort = () => {
        const reason = signal?.reason ?? new Error("aborted");
        if (!settled) return fail(reason);
        req.destroy(reason instanceof Error ? reason : new Error(String(reason))); // the answer's body
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      const unlisten = () => signal?.removeEventListener("abort", onAbort);
      // no progress either way for the idle time: the request fails (Deno's req.setTimeout counts
      // from the start, whatever is sent, so a long upload would be cut)
      const idle = new IdleTimer(this.#idle, () => {
        const e = new HttpNetworkError(`no progress with ${u.host} for ${this.#idle / 1000} s (timed out)`);
        if (settled) req.destroy(e); // the answer's body stalled: its stream fails
        else fail(e);
      });
      idle.arm();
      req.on("error", (e: Error) => fail(signal?.aborted ? signal.reason : networkError(e)));
      req.on("response", (res: http.IncomingMessage) => {
        idle.disarm();
        if (settled) return res.destroy();
        settled = true;
        // an answer before the whole body went (a refusal): the rest is not sent, and the
        // connection is not reused
        if (!bodyDone) {
          dead.abort();
          res.on("end", () => req.destroy());
        }
        res.on("close", unlisten);
        try {
          resolve(toResponse(res, method, idle, signal));
        } catch (e) {
          res.destroy();
          reject(networkError(e));
        }
      });
      if (init.body === undefined) {
        req.end();
        return;
      }
      writeBody(req, init.body, this.#chunk, dead.signal, () => idle.arm()).then(() => {
        bodyDone = true;
        if (!dead.signal.aborted) req.end();
      }, (e) => {
        if (!dead.signal.aborted) fail(e);
      });
    });
  }

  /**
   * The request over `fetch` through `proxy` (see the module doc), under the idle-timeout rule of
   * the direct transport: it fails with an {@link HttpNetworkError} when the answer's status and
   * headers have not come within the idle time since the request started or since `fetch` last
   * took a chunk of a streamed body, and its answer's body fails when a read waits the idle time
   * for bytes ({@link stallGuard}); the request is then aborted (its connection closed).
   */
  async #viaProxy(u: URL, init: HttpInit, proxy: string): Promise<Response> {
    let client = this.#proxied.get(proxy);
    if (!client) {
      client = Deno.createHttpClient({
        proxy: { url: proxy },
        ...(this.#caCerts ? { caCerts: this.#caCerts } : {}),
      });
      this.#proxied.set(proxy, client);
    }
    const seconds = this.#idle / 1000;
    const timer = new AbortController();
    const idle = new IdleTimer(this.#idle, () => {
      timer.abort(
        new HttpNetworkError(`no progress with ${u.host} through the proxy for ${seconds} s (timed out)`),
      );
    });
    const b = init.body;
    let body: BodyInit | undefined;
    if (b !== undefined && "bytes" in b) body = b.bytes as Uint8Array<ArrayBuffer>;
    else if (b !== undefined && "path" in b) body = await readRange(b.path, b.offset, b.length);
    else if (b !== undefined) {
      // each chunk fetch takes is progress
      body = b.stream.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, ctl) {
            idle.arm();
            ctl.enqueue(chunk);
          },
        }),
      );
    }
    idle.arm();
    let res: Response;
    try {
      res = await fetch(u, {
        method: init.method.toUpperCase(),
        headers: requestHeaders(init),
        body,
        signal: init.signal ? AbortSignal.any([init.signal, timer.signal]) : timer.signal,
        client,
        ...(b !== undefined && "stream" in b ? { duplex: "half" } : {}),
      } as RequestInit);
    } catch (e) {
      if (timer.signal.aborted && !init.signal?.aborted) throw timer.signal.reason;
      throw e;
    } finally {
      idle.disarm();
    }
    if (!res.body) return res;
    const guarded = stallGuard(res.body, this.#idle, () => {
      const e = new HttpNetworkError(`the answer from ${u.host} stalled: no data for ${seconds} s`);
      timer.abort(e);
      return e;
    });
    return new Response(guarded, { status: res.status, statusText: res.statusText, headers: res.headers });
  }

  /** How long a request may see no bytes either way before it fails (see {@link IDLE_TIMEOUT_MS}). */
  get idleTimeoutMs(): number {
    return this.#idle;
  }

  /** Closes the idle kept-alive connections (requests in flight go on) and the proxy clients. */
  close(): void {
    this.#http.destroy();
    this.#https.destroy();
    for (const c of this.#proxied.values()) c.close();
    this.#proxied.clear();
  }
}

/**
 * Runs `send` (a `fetch` of a request without a body, which has no timeout of its own) with a
 * signal that fails it with an {@link HttpNetworkError} when its answer (status and headers) has
 * not come within `idleMs`, as over a connection gone silent; `signal` (the run's) aborts it too.
 * Its body then streams with the same limit on each wait for bytes ({@link stallGuard}): a body
 * that stalls halfway fails with an {@link HttpNetworkError} (`… stalled: no data for N s`), and
 * the request is aborted (its connection closed).
 */
export async function answerWithin(
  host: string,
  idleMs: number,
  signal: AbortSignal | undefined,
  send: (signal: AbortSignal) => Promise<Response>,
): Promise<Response> {
  const timer = new AbortController();
  const id = setTimeout(
    () => timer.abort(new HttpNetworkError(`no answer from ${host} for ${idleMs / 1000} s (timed out)`)),
    idleMs,
  );
  let res: Response;
  try {
    res = await send(signal ? AbortSignal.any([signal, timer.signal]) : timer.signal);
  } finally {
    clearTimeout(id);
  }
  if (!res.body) return res;
  const body = stallGuard(res.body, idleMs, () => {
    const e = new HttpNetworkError(`the answer from ${host} stalled: no data for ${idleMs / 1000} s`);
    timer.abort(e);
    return e;
  });
  return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
}

/**
 * `body` passed through unchanged (a byte stream: a BYOB reader reads straight into its own
 * buffer), failing with `stalled()`'s error when a read waits `idleMs` for bytes; time the reader
 * does not wait (back-pressure) does not count. Cheap per read: a read notes when it began, and
 * one timer per body, set at the first read and re-set only when it fires, compares that with the
 * clock (no timer is reset per chunk; the CPU-bound Storage download reads about 3,000 chunks a
 * second). The timer stops while nobody reads, and once the body ends, fails or is cancelled.
 */
export function stallGuard(
  body: ReadableStream<Uint8Array>,
  idleMs: number,
  stalled: () => Error,
): ReadableStream<Uint8Array> {
  let byob: ReadableStreamBYOBReader | undefined;
  let plain: ReadableStreamDefaultReader<Uint8Array> | undefined;
  try {
    byob = body.getReader({ mode: "byob" });
  } catch {
    plain = body.getReader();
  }
  const inner = (byob ?? plain)!;
  /** When the pending read began (performance.now()); -1: no read is waiting. */
  let waitingSince = -1;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let over = false;
  let ctl!: ReadableByteStreamController;
  const stop = () => {
    over = true;
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };
  const check = () => {
    timer = undefined;
    if (over || waitingSince < 0) return; // nobody waits: the next read sets the timer again
    const left = waitingSince + idleMs - performance.now();
    if (left > 0) {
      timer = setTimeout(check, left);
      return;
    }
    stop();
    const e = stalled();
    ctl.error(e);
    inner.cancel(e).catch(() => {});
  };
  const source: UnderlyingByteSource = {
    type: "bytes",
    autoAllocateChunkSize: CHUNK_BYTES, // a default reader's read comes with a buffer too
    start(c) {
      ctl = c;
    },
    async pull(c) {
      waitingSince = performance.now();
      timer ??= setTimeout(check, idleMs);
      const req = c.byobRequest!;
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = byob ? await byob.read(req.view as Uint8Array<ArrayBuffer>) : await plain!.read();
      } catch (e) {
        if (over) return;
        stop();
        throw e;
      } finally {
        waitingSince = -1;
      }
      if (over) return;
      if (r.done) {
        stop();
        c.close();
        // the BYOB read handed back the (empty) view of the buffer it took
        if (byob && r.value) req.respondWithNewView(r.value);
        else if (!byob) req.respond(0);
        return;
      }
      if (byob) req.respondWithNewView(r.value);
      else c.enqueue(r.value);
    },
    cancel(reason) {
      stop();
      return inner.cancel(reason);
    },
  };
  return new ReadableStream(source) as ReadableStream<Uint8Array>;
}

/** A timer re-armed on each sign of progress; fires once when there is none for `ms`. */
class IdleTimer {
  #ms: number;
  #fire: () => void;
  #id?: ReturnType<typeof setTimeout>;

  constructor(ms: number, fire: () => void) {
    this.#ms = ms;
    this.#fire = fire;
  }

  /** (Re)starts the wait. */
  arm(): void {
    this.disarm();
    this.#id = setTimeout(() => {
      this.#id = undefined;
      this.#fire();
    }, this.#ms);
  }

  /** Stops it (nothing is awaited from the other side, or the reader is not reading). */
  disarm(): void {
    if (this.#id !== undefined) clearTimeout(this.#id);
    this.#id = undefined;
  }
}

/** The process's transport: one pool of connections for every store and Storage client. */
export const httpTransport: HttpTransport = new HttpTransport();

/** `length` bytes of the file at `path` from `offset`, in memory. Throws when the file is shorter. */
async function readRange(path: string, offset: number, length: number): Promise<Uint8Array<ArrayBuffer>> {
  const buf = new Uint8Array(length);
  const f = await Deno.open(path, { read: true });
  try {
    await f.seek(offset, Deno.SeekMode.Start);
    for (let got = 0; got < length;) {
      const n = await f.read(buf.subarray(got));
      if (n === null) throw new Error(`${path} ended at ${offset + got} bytes while it was being uploaded`);
      got += n;
    }
  } finally {
    f.close();
  }
  return buf;
}

/** A connection failure as an {@link HttpNetworkError} keeping its code (`ECONNRESET: socket hang up`). */
function networkError(e: unknown): Error {
  if (e instanceof HttpNetworkError) return e;
  const code = (e as { code?: unknown })?.code;
  const message = (e as Error)?.message ?? String(e);
  return new HttpNetworkError(`${typeof code === "string" ? `${code}: ` : ""}${message}`, { cause: e });
}

/**
 * Turns off the retry Deno's node:http (2.9) makes by itself when a kept-alive socket fails
 * before the answer (`maybeRetryRequest` in its `_http_client.js`, keyed on `_retrying`): it
 * replays only the bytes it kept from before the socket was assigned, not the body written
 * since, so the new attempt waits for bytes that never come, with no event, no error and our
 * idle timer already spent. An upload through a proxy whose far side had closed the kept-alive
 * connection hung for 120 s that way. Retries are the callers', which resend the whole body.
 */
function noHiddenRetry(req: http.ClientRequest): void {
  (req as unknown as { _retrying?: boolean })._retrying = true;
}

/**
 * Writes `chunk` (never to be changed afterwards) and waits until the request has taken it;
 * rejects when the connection ends first or `dead` is aborted (node:http drops a write to a
 * destroyed socket without calling back).
 */
function write(req: http.ClientRequest, chunk: Uint8Array, dead: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const closed = () => new HttpNetworkError("the connection closed while the body was sent");
    if (req.destroyed || dead.aborted) return reject(closed());
    const onEnd = () => {
      off();
      reject(closed());
    };
    const off = () => {
      req.off("close", onEnd);
      req.off("error", onEnd);
      dead.removeEventListener("abort", onEnd);
    };
    req.once("close", onEnd);
    req.once("error", onEnd);
    dead.addEventListener("abort", onEnd, { once: true });
    req.write(chunk, (e?: Error | null) => {
      off();
      if (e) reject(networkError(e));
      else resolve();
    });
  });
}

/**
 * Sends a body of exactly its length in chunks of at most `chunk` bytes, calling `progress`
 * after each; stops (rejects) once `dead` is aborted.
 */
async function writeBody(
  req: http.ClientRequest,
  body: HttpBody,
  chunk: number,
  dead: AbortSignal,
  progress: () => void,
): Promise<void> {
  const send = async (bytes: Uint8Array) => {
    for (let off = 0; off < bytes.length; off += chunk) {
      await write(req, bytes.subarray(off, Math.min(bytes.length, off + chunk)), dead);
      progress();
    }
  };
  if ("bytes" in body) return await send(body.bytes);
  if ("path" in body) {
    if (body.length === 0) return;
    const f = await Deno.open(body.path, { read: true });
    try {
      await f.seek(body.offset, Deno.SeekMode.Start);
      let left = body.length;
      while (left > 0) {
        const buf = new Uint8Array(Math.min(chunk, left)); // new each time: see the module doc
        const n = await f.read(buf);
        if (n === null) {
          throw new Error(
            `${body.path} ended at ${body.offset + body.length - left} bytes while it was being uploaded`,
          );
        }
        await write(req, buf.subarray(0, n), dead);
        progress();
        left -= n;
      }
    } finally {
      f.close();
    }
    return;
  }
  const reader = body.stream.getReader();
  let sent = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (sent + value.length > body.length) {
        throw new Error(`the body is longer than the ${body.length} bytes it was sent as`);
      }
      sent += value.length;
      await send(value);
    }
    if (sent !== body.length) {
      throw new Error(`the body ended at ${sent} of the ${body.length} bytes it was sent as`);
    }
  } catch (e) {
    await reader.cancel(e).catch(() => {});
    throw e;
  } finally {
    reader.releaseLock();
  }
}

/** The node answer as a `Response` whose body streams from the socket with back-pressure. */
function toResponse(
  res: http.IncomingMessage,
  method: string,
  idle: IdleTimer,
  signal?: AbortSignal,
): Response {
  const headers = new Headers();
  for (const [k, v] of Object.entries(res.headers)) {
    if (Array.isArray(v)) { for (const x of v) headers.append(k, x); }
    else if (v !== undefined) headers.set(k, v);
  }
  const status = res.statusCode ?? 0;
  const init = { status, statusText: res.statusMessage ?? "", headers };
  if (method === "HEAD" || NO_BODY.has(status)) {
    res.resume();
    return new Response(null, init);
  }
  let ended = false;
  const stream = new ReadableStream<Uint8Array>({
    start(ctl) {
      res.on("data", (c: Uint8Array) => {
        if (ended) return; // cancelled: read away
        ctl.enqueue(new Uint8Array(c.buffer, c.byteOffset, c.byteLength));
        // the idle time counts only while the reader waits for bytes
        if ((ctl.desiredSize ?? 0) <= 0) {
          idle.disarm();
          res.pause();
        } else idle.arm();
      });
      res.on("end", () => {
        idle.disarm();
        if (ended) return;
        ended = true;
        ctl.close();
      });
      const fail = (e: unknown) => {
        idle.disarm();
        if (ended) return;
        ended = true;
        ctl.error(signal?.aborted ? signal.reason : networkError(e));
      };
      res.on("error", fail);
      res.on("close", () => {
        if (!res.complete) fail(new HttpNetworkError("the connection closed before the answer ended"));
      });
    },
    pull() {
      if (!ended) idle.arm();
      res.resume();
    },
    cancel() {
      idle.disarm();
      ended = true;
      drainOrDrop(res);
    },
  }, new ByteLengthQueuingStrategy({ highWaterMark: 1 << 20 }));
  return new Response(stream, init);
}

/** The rest of an answer nobody reads: a small one is read away (the connection stays), a large one dropped. */
function drainOrDrop(res: http.IncomingMessage): void {
  if (res.complete) {
    res.resume();
    return;
  }
  const length = Number(res.headers["content-length"] ?? NaN);
  if (Number.isFinite(length) && length <= 64 << 10) res.resume();
  else res.destroy();
}
