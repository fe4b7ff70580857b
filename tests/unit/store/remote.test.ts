import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { environmentStore, parseStoreUrl, showStoreUrl } from "../../../lib/store/remote.ts";
import { BackupError } from "../../../lib/base/errors.ts";

const usage = (re: RegExp) => (e: unknown) =>
  e instanceof BackupError && e.exitCode === 2 && re.test(e.message);

Deno.test("parseStoreUrl reads s3:// and azblob:// with a prefix", () => {
  assertEquals(parseStoreUrl("s3://my-backups/prod/db/", "--store"), {
    kind: "s3",
    bucket: "my-backups",
    prefix: "prod/db",
  });
  assertEquals(parseStoreUrl("S3://b1", "--store"), { kind: "s3", bucket: "b1", prefix: "" });
  assertEquals(parseStoreUrl("azblob://container-1/x", "--store").kind, "azblob");
  assertEquals(showStoreUrl(parseStoreUrl("s3://b1/p/", "--store")), "s3://b1/p");
});

Deno.test("parseStoreUrl refuses other schemes, bad names and prefixes, naming the origin", () => {
  throws(
    () => parseStoreUrl("/tmp/x", "$BACKUP_STORE"),
    usage(/^\$BACKUP_STORE '\/tmp\/x' is not an object-store URL/),
  );
  throws(() => parseStoreUrl("gs://b/p", "--store"), usage(/s3:\/\/ or azblob:\/\//));
  throws(() => parseStoreUrl("s3://a/p", "--store"), usage(/not a valid bucket name/));
  throws(() => parseStoreUrl("azblob://Upper/p", "--store"), usage(/not a valid container name/));
  throws(() => parseStoreUrl("s3://bucket/a//b", "--store"), usage(/empty, '\.' or '\.\.' part/));
  throws(() => parseStoreUrl("s3://bucket/a/../b", "--store"), usage(/'\.\.'/));
  throws(() => parseStoreUrl("s3://bucket/a\nb", "--store"), usage(/control character/));
});

Deno.test("environmentStore puts an environment under the prefix", () => {
  const u = parseStoreUrl("s3://b1/p", "--store");
  assertEquals(environmentStore(u, "prod").prefix, "p/prod");
  assertEquals(environmentStore({ ...u, prefix: "" }, "dev").prefix, "dev");
  assertEquals(environmentStore(u), u);
});
