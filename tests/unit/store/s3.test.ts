import { deepStrictEqual as assertEquals, ok, throws } from "node:assert/strict";
import {
  backoffMs,
  encodeKey,
  endpointHost,
  isTransientStatus,
  parseEndpoint,
  parseS3Error,
  s3Failure,
  s3Settings,
} from "../../../lib/store/s3.ts";
import { BackupError } from "../../../lib/base/errors.ts";

Deno.test("encodeKey encodes each segment as SigV4 canonicalises it, keeping the slashes", () => {
  assertEquals(encodeKey("a b/c(1).txt"), "a%20b/c%281%29.txt");
  assertEquals(encodeKey("x!'*&$@=;:+,?.bin"), "x%21%27%2A%26%24%40%3D%3B%3A%2B%2C%3F.bin");
  assertEquals(encodeKey("keep-these_.~/deep/er"), "keep-these_.~/deep/er");
  assertEquals(encodeKey("é"), "%C3%A9");
});

Deno.test("parseS3Error reads Code and Message of an XML error", () => {
  assertEquals(
    parseS3Error("<Error><Code>SignatureDoesNotMatch</Code><Message>bad sig</Message></Error>"),
    { code: "SignatureDoesNotMatch", message: "bad sig" },
  );
  assertEquals(parseS3Error("not xml"), { code: undefined, message: undefined });
});

Deno.test("transient statuses and the backoff", () => {
  ok(isTransientStatus(429) && isTransientStatus(500) && isTransientStatus(503));
  ok(!isTransientStatus(403) && !isTransientStatus(404) && !isTransientStatus(400));
  assertEquals([1, 2, 3, 10].map((a) => backoffMs(a, 1)), [250, 500, 1000, 8000]);
  assertEquals(backoffMs(1, 0), 125);
});

Deno.test("parseEndpoint takes http(s) URLs without credentials or query", () => {
  assertEquals(
    parseEndpoint("https://abc.storage.supabase.co/storage/v1/s3/", "--storage-endpoint"),
    "https://abc.storage.supabase.co/storage/v1/s3",
  );
  assertEquals(
    endpointHost("https://abc.storage.supabase.co/storage/v1/s3"),
    "https://abc.storage.supabase.co",
  );
  for (const bad of ["abc", "ftp://x/s3", "https://k:s@x/s3", "https://x/s3?a=1"]) {
    throws(
      () => parseEndpoint(bad, "--storage-endpoint"),
      (e: BackupError) => e.exitCode === 2 && /--storage-endpoint/.test(e.message),
    );
  }
});

Deno.test("s3Failure: refused keys and a non-S3 endpoint are bad input; the rest failures", () => {
  const s = { endpoint: "https://x.example/s3", flagPrefix: "--storage", envPrefix: "SUPABASE_S3" };
  const keys = s3Failure(s, "list buckets", 403, "<Error><Code>InvalidAccessKeyId</Code></Error>");
  assertEquals(keys.exitCode, 2);
  ok(/refused the S3 keys/.test(keys.message) && /--storage-access-key-id/.test(keys.hint!), keys.hint);
  assertEquals(s3Failure(s, "list buckets", 404, "").exitCode, 2);
  assertEquals(s3Failure(s, "get b/k", 404, "").exitCode, 1);
  assertEquals(s3Failure(s, "get b/k", 500, "").exitCode, 1);
  assertEquals(s3Failure(s, "put b/k", 403, "<Error><Code>EntityTooLarge</Code></Error>").exitCode, 1);
});

Deno.test("s3Failure: a server that kept failing (5xx) gets a hint fit for its side", () => {
  const source = { endpoint: "https://x.example/s3", flagPrefix: "--storage", envPrefix: "SUPABASE_S3" };
  const down = s3Failure(source, "get b/k", 503, "");
  assertEquals(down.message, "S3 get b/k at https://x.example failed (HTTP 503)");
  ok(/Storage failed on every try/.test(down.hint!) && /latest\/ is unchanged/.test(down.hint!), down.hint);
  const target = { ...source, flagPrefix: "--target-storage", envPrefix: "RESTORE_S3" };
  ok(!/latest\//.test(s3Failure(target, "put b/k", 502, "").hint!), "a restore's hint names latest/");
  const store = { ...source, hints: { keys: "k", endpoint: "e", server: "the object store failed" } };
  assertEquals(s3Failure(store, "put b/k", 500, "").hint, "the object store failed");
});

Deno.test("s3Settings names the missing flag and variable of its side, never borrowing the other", () => {
  const full = { endpoint: "https://x/s3", region: "local", accessKeyId: "id", secretAccessKey: "sec" };
  assertEquals(s3Settings(full, "source").flagPrefix, "--storage");
  throws(
    () => s3Settings({ ...full, secretAccessKey: undefined }, "source"),
    (e: BackupError) =>
      e.exitCode === 2 && /--storage-secret-access-key or \$SUPABASE_S3_SECRET_ACCESS_KEY/.test(e.message),
  );
  throws(
    () => s3Settings({}, "target"),
    (e: BackupError) =>
      e.exitCode === 2 && /--target-storage-endpoint or \$RESTORE_S3_ENDPOINT/.test(e.message) &&
      /TARGET/.test(e.hint!),
  );
});
