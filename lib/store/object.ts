/**
 * The object-store contract behind `--store s3://BUCKET/PREFIX` and `--store azblob://CONTAINER/PREFIX`
 * (issue 14): the few calls a backup store needs, whatever the service. Each backend (S3-compatible,
 * Azure Blob) implements {@link ObjectStore}; everything above it (layout, publishing a backup,
 * listing, verify, prune, restore) is written once against this interface.
 *
 * Keys are relative to the store's prefix and use `/` as separator; a backend adds the prefix and
 * encodes the key for its protocol. Nothing here prints or returns a credential.
 * @module
 */

/** What the store says about one object. */
export interface ObjectInfo {
  /** The key, relative to the store's prefix. */
  key: string;
  size: number;
  /** The service's entity tag, quotes removed. */
  etag: string;
  lastModified?: Date;
}

/** The bytes of one upload: in memory (small objects such as manifests) or a local file. */
export type ObjectBody =
  | { bytes: Uint8Array }
  /** A file on disk: re-readable for retries, and read by ranges for multipart uploads. */
  | { path: string; size: number };

/** Conditions and facts of one upload. */
export interface PutObjectOptions {
  /** Write only when no object has this key (`If-None-Match: *`). */
  ifAbsent?: boolean;
  /** Write only when the current object's ETag is this one (`If-Match`): a compare-and-swap. */
  ifMatch?: string;
  /** The sha256 (hex) of the body, when known (S3 signs it as the payload hash). */
  sha256?: string;
  contentType?: string;
}

/** The outcome of a conditional upload. */
export type PutResult =
  | { ok: true; etag: string }
  /** The condition failed: the object exists (`ifAbsent`) or has another ETag (`ifMatch`). */
  | { ok: false; reason: "exists" | "changed" };

/** One bucket or container under one prefix. */
export interface ObjectStore {
  /** How the store is shown in messages: `s3://bucket/prefix`, never a credential. */
  readonly display: string;
  /** The object's facts, or `undefined` when there is none. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /** The object's bytes as a stream, or `undefined` when there is none. */
  get(key: string): Promise<ReadableStream<Uint8Array> | undefined>;
  /** Uploads (in parts when large, with retries and backoff), honouring the conditions given. */
  put(key: string, body: ObjectBody, opts?: PutObjectOptions): Promise<PutResult>;
  /** Every object whose key starts with `prefix`, in key order, page by page. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Removes the object; no error when it is already gone. */
  delete(key: string): Promise<void>;
}
