/**
 * AWS Signature Version 4 for the S3 client (lib/store/s3.ts): the `Authorization` header of one
 * request, signed with HMAC-SHA256 on `node:crypto` (synchronous and native: no WebCrypto promise
 * per HMAC, which cost the Storage download path a sixth of a millisecond a request).
 *
 * What is signed: the method, the URL's path (each segment percent-encoded once, as S3 wants), its
 * query (names and values encoded, sorted), `host` and every header given except those a proxy may
 * add or change (content-type, content-length, range, user-agent …), `x-amz-date`, a session
 * token's `x-amz-security-token`, and the payload hash: `x-amz-content-sha256` when given, for S3
 * otherwise `UNSIGNED-PAYLOAD` (sent as that header), for other services the SHA-256 of the empty
 * body. Checked against AWS's published examples (tests/unit/store/sigv4.test.ts).
 *
 * Pure but for the clock, which {@link SigV4Signer.sign} takes as an argument.
 * @module
 */
import { createHash, createHmac } from "node:crypto";

/** The keys and scope requests are signed for. */
export interface SigV4Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  region: string;
  /** `s3` for every request of this tool; another name only in the tests of AWS's examples. */
  service: string;
}

/** What one request is signed over. */
export interface SigV4Request {
  method: string;
  url: string | URL;
  /** The headers it sends (any case); the signed ones are added to a copy. */
  headers?: Record<string, string>;
}

/** Headers never signed: a proxy or the HTTP stack may add, drop or rewrite them. */
const UNSIGNED = new Set([
  "authorization",
  "content-type",
  "content-length",
  "user-agent",
  "presigned-expires",
  "expect",
  "x-amzn-trace-id",
  "range",
  "connection",
]);

const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** Percent-encodes everything but RFC 3986's unreserved characters. Pure. */
export function encodeRfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** A URL path as SigV4 signs it for S3: each segment decoded, then encoded once. Pure. */
export function canonicalPath(pathname: string): string {
  return pathname.split("/").map((seg) => {
    try {
      return encodeRfc3986(decodeURIComponent(seg));
    } catch {
      return seg; // not valid percent-encoding: signed as sent
    }
  }).join("/");
}

/** A URL query as SigV4 signs it: names and values encoded, sorted by name, then value. Pure. */
export function canonicalQuery(params: URLSearchParams): string {
  const pairs = [...params].filter(([k]) => k !== "").map(([k, v]) => [encodeRfc3986(k), encodeRfc3986(v)]);
  pairs.sort(([k1, v1], [k2, v2]) => k1 < k2 ? -1 : k1 > k2 ? 1 : v1 < v2 ? -1 : v1 > v2 ? 1 : 0);
  return pairs.map(([k, v]) => `${k}=${v}`).join("&");
}

/** `YYYYMMDDTHHMMSSZ` of a time. Pure. */
export function amzDate(at: Date): string {
  return at.toISOString().replace(/[:-]|\.\d{3}/g, "");
}

/** The parts of a signed request (the last two for tests and messages). */
export interface SigV4Result {
  /** The headers to send: the given ones (names in lower case) and the signing ones. */
  headers: Record<string, string>;
  canonicalRequest: string;
  stringToSign: string;
}

/** Signs requests for one set of keys (see the module doc); keeps the day's signing key. */
export class SigV4Signer {
  #c: SigV4Credentials;
  #day = "";
  #key: Uint8Array = new Uint8Array(0);

  constructor(credentials: SigV4Credentials) {
    this.#c = credentials;
  }

  /** The signing key of a day (`YYYYMMDD`), derived once a day. */
  #keyOf(day: string): Uint8Array {
    if (day !== this.#day) {
      const step = (key: string | Uint8Array, data: string): Uint8Array =>
        createHmac("sha256", key).update(data).digest();
      const kDate = step(`AWS4${this.#c.secretAccessKey}`, day);
      this.#key = step(step(step(kDate, this.#c.region), this.#c.service), "aws4_request");
      this.#day = day;
    }
    return this.#key;
  }

  /** Signs `req` at time `at`: returns the headers to send with it (and what was signed). */
  sign(req: SigV4Request, at: Date = new Date()): SigV4Result {
    const url = typeof req.url === "string" ? new URL(req.url) : req.url;
    const date = amzDate(at);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers ?? {})) headers[k.toLowerCase()] = v;
    delete headers.host;
    delete headers.authorization;
    if (this.#c.service === "s3" && headers["x-amz-content-sha256"] === undefined) {
      headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD";
    }
    headers["x-amz-date"] = date;
    if (this.#c.sessionToken) headers["x-amz-security-token"] = this.#c.sessionToken;
    const names = ["host", ...Object.keys(headers).filter((k) => !UNSIGNED.has(k))].sort();
    const value = (k: string) => k === "host" ? url.host : headers[k].trim().replace(/\s+/g, " ");
    const signedHeaders = names.join(";");
    const canonicalRequest = [
      req.method.toUpperCase(),
      canonicalPath(url.pathname),
      canonicalQuery(url.searchParams),
      names.map((k) => `${k}:${value(k)}\n`).join(""),
      signedHeaders,
      headers["x-amz-content-sha256"] ?? EMPTY_SHA256,
    ].join("\n");
    const day = date.slice(0, 8);
    const scope = `${day}/${this.#c.region}/${this.#c.service}/aws4_request`;
    const stringToSign = [
      "AWS4-HMAC-SHA256",
      date,
      scope,
      createHash("sha256").update(canonicalRequest).digest("hex"),
    ].join("\n");
    const signature = createHmac("sha256", this.#keyOf(day)).update(stringToSign).digest("hex");
    headers.authorization =
      `AWS4-HMAC-SHA256 Credential=${this.#c.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
    return { headers, canonicalRequest, stringToSign };
  }
}
