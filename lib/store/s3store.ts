/**
 * The {@link ObjectStore} of `--store s3://BUCKET/PREFIX` over the signed S3 client (lib/store/s3.ts):
 * keys under the prefix, ListObjectsV2 by prefix with continuation, DeleteObject, and uploads of
 * files above {@link MULTIPART_ABOVE} in parts streamed by range from the file, several at a time,
 * each retried with backoff (the client's retries), the upload aborted when a part fails for good.
 * A file or part is hashed (SHA-256, one pass through a small buffer) and then streamed with its
 * Content-Length by the upload transport (lib/store/http.ts): no part is held in memory.
 *
 * Conditions: `ifAbsent` and `ifMatch` are sent as `If-None-Match: *` and `If-Match`, which AWS S3
 * and Cloudflare R2 honour. The Supabase Storage server's S3 protocol ignores both (its PutObject
 * always overwrites), so nothing in the backup store's scheme depends on them (docs/storage.md,
 * "Object stores"): every object the tool writes has a name no other run writes, or bytes that
 * are the same whoever writes them.
 * @module
 */
import { createHash } from "node:crypto";
import { runPool } from "../base/pool.ts";
import { digestRange } from "./http.ts";
import type { ObjectBody, ObjectInfo, ObjectStore, PutObjectOptions, PutResult } from "./object.ts";
import { resumableBody } from "./resume.ts";
import { PreconditionFailed, type S3Client } from "./s3.ts";

/** Files above this size are uploaded in parts; smaller ones in one PUT. */
export const MULTIPART_ABOVE = 8 << 20;
/** The size of one part (S3 allows 10,000 parts of at least 5 MiB). */
export const PART_SIZE = 8 << 20;

/**
 * The part size for a file of `size` bytes: `min` (at least 5 MiB), grown so that there are at
 * most 10,000 parts. Pure.
 */
export function partSizeFor(size: number, min = PART_SIZE): number {
  const floor = Math.max(min, 5 << 20);
  return Math.max(floor, Math.ceil(size / 10000));
}

/** Removes the quotes S3 puts around an ETag. Pure. */
export function unquoteEtag(etag: string): string {
  return etag.replace(/^W\//, "").replace(/^"(.*)"$/, "$1");
}

/** Joins the store's prefix and a key. Pure. */
export function prefixedKey(prefix: string, key: string): string {
  return prefix ? `${prefix}/${key}` : key;
}

/** Options of {@link S3ObjectStore}. */
export interface S3StoreOptions {
  /** Parts uploaded at a time for one large file. */
  partJobs?: number;
  /** Override of {@link MULTIPART_ABOVE} (tests). */
  multipartAbove?: number;
  /** Override of {@link PART_SIZE} (tests). */
  partSize?: number;
  /** Keys per ListObjectsV2 page (tests; 1000 otherwise). */
  pageSize?: number;
}

/** One bucket under one prefix of an S3-compatible service (see the module doc). */
export class S3ObjectStore implements ObjectStore {
  readonly display: string;
  #s3: S3Client;
  #bucket: string;
  #prefix: string;
  #opts: Required<S3StoreOptions>;

  /** `prefix` has no leading or trailing slash (may be empty). */
  constructor(s3: S3Client, bucket: string, prefix: string, opts: S3StoreOptions = {}) {
    this.#s3 = s3;
    this.#bucket = bucket;
    this.#prefix = prefix;
    this.display = `s3://${bucket}${prefix ? `/${prefix}` : ""}`;
    this.#opts = {
      partJobs: opts.partJobs ?? 4,
      multipartAbove: opts.multipartAbove ?? MULTIPART_ABOVE,
      partSize: opts.partSize ?? PART_SIZE,
      pageSize: opts.pageSize ?? 1000,
    };
  }

  /** The S3 endpoint (scheme, host and path; no credential) and the bucket the store is in. */
  get location(): { endpoint: string; bucket: string } {
    return { endpoint: this.#s3.settings.endpoint, bucket: this.#bucket };
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const h = await this.#s3.head(this.#bucket, prefixedKey(this.#prefix, key));
    if (!h) return undefined;
    let size = h.size;
    // some servers (the Supabase Storage server) send no Content-Length for an empty object's HEAD
    if (!Number.isFinite(size)) {
      for await (const o of this.list(key)) if (o.key === key) size = o.size;
    }
    return { key, size, etag: unquoteEtag(h.etag) };
  }

  /** See {@link ObjectStore.get}: a body that breaks is resumed where it stopped (lib/store/resume.ts). */
  async get(key: string): Promise<ReadableStream<Uint8Array> | undefined> {
    const full = prefixedKey(this.#prefix, key);
    const got = await this.#s3.get(this.#bucket, full);
    if (!got) return undefined;
    return resumableBody({ etag: got.head.etag, size: got.head.size, body: got.body }, {
      ...this.#s3.resumption,
      what: `S3 get ${this.#bucket}/${full}`,
      rangeFrom: (offset, etag) => this.#s3.getRange(this.#bucket, full, offset, etag),
    });
  }

  async put(key: string, body: ObjectBody, opts: PutObjectOptions = {}): Promise<PutResult> {
    const full = prefixedKey(this.#prefix, key);
    const headers: Record<string, string> = {};
    if (opts.ifAbsent) headers["if-none-match"] = "*";
    if (opts.ifMatch !== undefined) headers["if-match"] = `"${opts.ifMatch}"`;
    const conditional = Object.keys(headers).length > 0;
    try {
      if ("bytes" in body) {
        const bytes = body.bytes;
        const sha256 = opts.sha256 ?? createHash("sha256").update(bytes).digest("hex");
        const etag = await this.#s3.put(
          this.#bucket,
          full,
          () => Promise.resolve(bytes),
          {
            size: bytes.length,
            sha256,
            contentType: opts.contentType,
            headers,
          },
        );
        return { ok: true, etag: unquoteEtag(etag) };
      }
      if (body.size > this.#opts.multipartAbove && !conditional) {
        return { ok: true, etag: unquoteEtag(await this.#multipart(full, body, opts.contentType)) };
      }
      // streamed from the file with its Content-Length (AWS S3's PutObject refuses a chunked body)
      const range = { path: body.path, offset: 0, length: body.size };
      const sha256 = opts.sha256 ?? await digestRange(body.path, 0, body.size, "sha256", "hex");
      const etag = await this.#s3.put(this.#bucket, full, () => Promise.resolve(range), {
        size: body.size,
        sha256,
        contentType: opts.contentType,
        headers,
      });
      return { ok: true, etag: unquoteEtag(etag) };
    } catch (e) {
      if (e instanceof PreconditionFailed) return { ok: false, reason: opts.ifAbsent ? "exists" : "changed" };
      throw e;
    }
  }

  /** Uploads a file in parts streamed by range, `partJobs` at a time; aborts the upload on failure. */
  async #multipart(key: string, body: { path: string; size: number }, contentType?: string): Promise<string> {
    const partSize = partSizeFor(body.size, this.#opts.partSize);
    const count = Math.ceil(body.size / partSize);
    const id = await this.#s3.createMultipart(this.#bucket, key, contentType);
    try {
      const etags = await runPool(
        Array.from({ length: count }, (_, i) => async () => {
          const range = {
            path: body.path,
            offset: i * partSize,
            length: Math.min(partSize, body.size - i * partSize),
          };
          const sha256 = await digestRange(range.path, range.offset, range.length, "sha256", "hex");
          return await this.#s3.uploadPart(this.#bucket, key, id, i + 1, range, sha256);
        }),
        this.#opts.partJobs,
      );
      return await this.#s3.completeMultipart(this.#bucket, key, id, etags);
    } catch (e) {
      await this.#s3.abortMultipart(this.#bucket, key, id);
      throw e;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const strip = this.#prefix ? this.#prefix.length + 1 : 0;
    for await (
      const o of this.#s3.listObjects(this.#bucket, prefixedKey(this.#prefix, prefix), this.#opts.pageSize)
    ) {
      yield {
        key: o.key.slice(strip),
        size: o.size,
        etag: unquoteEtag(o.etag),
        ...(o.lastModified ? { lastModified: o.lastModified } : {}),
      };
    }
  }

  async delete(key: string): Promise<void> {
    await this.#s3.delete(this.#bucket, prefixedKey(this.#prefix, key));
  }
}
