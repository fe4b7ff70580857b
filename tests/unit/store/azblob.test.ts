/**
 * The pure parts of the Azure Blob backend: URLs, blob names, connection strings and the order of
 * credentials, the SharedKey string-to-sign (against the examples in Azure's "Authorize with Shared
 * Key" reference), block IDs, List Blobs pages, failures and az tokens.
 */
import { createHmac } from "node:crypto";
import { deepStrictEqual as assertEquals, ok, throws } from "node:assert/strict";
import { BackupError, ExitCode } from "../../../lib/base/errors.ts";
import { clearSecrets, redact } from "../../../lib/base/redact.ts";
import {
  azTokenFailure,
  azureFailure,
  azureSettings,
  blobName,
  blockId,
  blockListXml,
  DEV_ACCOUNT,
  DEV_KEY,
  parseAzToken,
  parseBlobList,
  parseConnectionString,
  partSizeFor,
  sharedKeyAuthorization,
  stringToSign,
  unquote,
} from "../../../lib/store/azblob.ts";

const usage = (fn: () => unknown, re: RegExp) =>
  throws(fn, (e) => e instanceof BackupError && e.exitCode === ExitCode.usage && re.test(e.message));

Deno.test("blobName: the prefix plus a key; keys a URL would resolve elsewhere are refused", () => {
  assertEquals(blobName("p/", "a/b.txt"), "p/a/b.txt");
  assertEquals(blobName("", "x"), "x");
  for (const bad of ["", "/a", "a//b", "a/./b", "../a", "a/.."]) {
    throws(() => blobName("p/", bad), /invalid object key/);
  }
  throws(() => blobName("", "x".repeat(1025)), /too long/);
});

Deno.test("parseConnectionString: account key, SAS, BlobEndpoint, suffix and development storage", () => {
  assertEquals(
    parseConnectionString(
      "DefaultEndpointsProtocol=https;AccountName=acct1;AccountKey=a2V5PT0=;EndpointSuffix=core.chinacloudapi.cn",
    ),
    {
      endpoint: "https://acct1.blob.core.chinacloudapi.cn",
      account: "acct1",
      auth: { kind: "sharedKey", key: "a2V5PT0=" },
      source: "connection string",
    },
  );
  assertEquals(
    parseConnectionString(
      `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};BlobEndpoint=http://127.0.0.1:10000/${DEV_ACCOUNT};`,
    ).endpoint,
    `http://127.0.0.1:10000/${DEV_ACCOUNT}`,
  );
  assertEquals(
    parseConnectionString(
      "BlobEndpoint=https://acct2.blob.core.windows.net/;SharedAccessSignature=?sv=1&sig=abc%3D",
    ),
    {
      endpoint: "https://acct2.blob.core.windows.net",
      account: "acct2",
      auth: { kind: "sas", token: "sv=1&sig=abc%3D" },
      source: "connection string",
    },
  );
  assertEquals(parseConnectionString("UseDevelopmentStorage=true"), {
    endpoint: `http://127.0.0.1:10000/${DEV_ACCOUNT}`,
    account: DEV_ACCOUNT,
    auth: { kind: "sharedKey", key: DEV_KEY },
    source: "connection string",
  });
  assertEquals(
    parseConnectionString(
      `BlobEndpoint=http://127.0.0.1:10000/${DEV_ACCOUNT};SharedAccessSignature=sv=1&sig=x`,
    ).account,
    DEV_ACCOUNT,
    "a path-style endpoint names the account in its path",
  );
  usage(() => parseConnectionString("AccountKey=a2V5"), /has no AccountName/);
  usage(() => parseConnectionString("AccountName=acct"), /neither AccountKey nor SharedAccessSignature/);
  usage(() => parseConnectionString("AccountName=acct;AccountKey=not base64!"), /not base64/);
});

Deno.test("azureSettings: connection string, then account and key, then az login; secrets registered", () => {
  clearSecrets();
  const cs = "AccountName=acct3;AccountKey=c2VjcmV0LWtleQ==";
  const s1 = azureSettings({ AZURE_STORAGE_CONNECTION_STRING: cs, AZURE_STORAGE_ACCOUNT: "other" });
  assertEquals([s1.account, s1.source], ["acct3", "connection string"]);
  assertEquals(redact(`a ${cs} b c2VjcmV0LWtleQ==`), "a **** b ****");
  const s2 = azureSettings({ AZURE_STORAGE_ACCOUNT: "acct4", AZURE_STORAGE_KEY: "a2V5MQ==" });
  assertEquals(s2, {
    endpoint: "https://acct4.blob.core.windows.net",
    account: "acct4",
    auth: { kind: "sharedKey", key: "a2V5MQ==" },
    source: "account key",
  });
  assertEquals(redact("a2V5MQ=="), "****");
  const s3 = azureSettings({ AZURE_STORAGE_ACCOUNT: "acct5" }, "http://127.0.0.1:9/acct5/");
  assertEquals(s3, {
    endpoint: "http://127.0.0.1:9/acct5",
    account: "acct5",
    auth: { kind: "cli" },
    source: "az login",
  });
  usage(() => azureSettings({}), /azblob:\/\/ needs Azure Storage credentials/);
  usage(
    () => azureSettings({ AZURE_STORAGE_KEY: "a2V5" }),
    /AZURE_STORAGE_KEY is set without AZURE_STORAGE_ACCOUNT/,
  );
  usage(() => azureSettings({ AZURE_STORAGE_ACCOUNT: "Bad_Name" }), /not a storage account name/);
  usage(() => azureSettings({ AZURE_STORAGE_ACCOUNT: "acct", AZURE_STORAGE_KEY: "no way" }), /not base64/);
  usage(
    () => azureSettings({ AZURE_STORAGE_ACCOUNT: "acct" }, "ftp://x"),
    /--store-endpoint must be an http/,
  );
  clearSecrets();
});

Deno.test("stringToSign: Azure's documented examples", () => {
  // "Authorize with Shared Key": the Get Container Metadata example (emulator-style path)
  assertEquals(
    stringToSign(
      "GET",
      "http://127.0.0.1:10000/myaccount/mycontainer?restype=container&comp=metadata&timeout=20",
      "myaccount",
      {
        "x-ms-date": "Sun, 11 Oct 2009 21:49:13 GMT",
        "x-ms-version": "2009-09-19",
      },
    ),
    "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Sun, 11 Oct 2009 21:49:13 GMT\nx-ms-version:2009-09-19\n/myaccount/myaccount/mycontainer\ncomp:metadata\nrestype:container\ntimeout:20",
  );
  // the canonicalized-resource examples: repeated parameters sorted and joined
  const tail = (url: string) => stringToSign("GET", url, "myaccount", {}).split("\n").slice(12).join("\n");
  assertEquals(
    tail("https://myaccount.blob.core.windows.net/mycontainer?restype=container&comp=metadata"),
    "/myaccount/mycontainer\ncomp:metadata\nrestype:container",
  );
  assertEquals(
    tail(
      "https://myaccount.blob.core.windows.net/mycontainer?restype=container&comp=list&include=snapshots&include=metadata&include=uncommittedblobs",
    ),
    "/myaccount/mycontainer\ncomp:list\ninclude:metadata,snapshots,uncommittedblobs\nrestype:container",
  );
  assertEquals(
    tail("https://myaccount.blob.core.windows.net/mycontainer/myblob"),
    "/myaccount/mycontainer/myblob",
  );
  // values are decoded; the path stays as sent
  assertEquals(
    tail("https://myaccount.blob.core.windows.net/c/a%20b?comp=block&blockid=YWI%3D"),
    "/myaccount/c/a%20b\nblockid:YWI=\ncomp:block",
  );
  // a PUT: Content-Length, MD5 and type in their places, x-ms headers sorted and trimmed
  assertEquals(
    stringToSign("PUT", "https://myaccount.blob.core.windows.net/c/b", "myaccount", {
      "content-length": "11",
      "content-md5": "XrY7u+Ae7tCTyyK7j1rNww==",
      "content-type": "text/plain",
      "if-none-match": "*",
      "x-ms-version": "2025-01-05",
      "x-ms-blob-type": "BlockBlob",
      "x-ms-date": "Tue, 01 Dec 2026 23:00:00 GMT",
      "x-ms-meta-upload": "  ab  cd ",
    }),
    "PUT\n\n\n11\nXrY7u+Ae7tCTyyK7j1rNww==\ntext/plain\n\n\n\n*\n\n\nx-ms-blob-type:BlockBlob\nx-ms-date:Tue, 01 Dec 2026 23:00:00 GMT\nx-ms-meta-upload:ab cd\nx-ms-version:2025-01-05\n/myaccount/c/b",
  );
  // a zero Content-Length is signed as empty
  assertEquals(
    stringToSign("PUT", "https://a.blob.core.windows.net/c", "a", { "content-length": "0" }).split("\n")[3],
    "",
  );
});

Deno.test("sharedKeyAuthorization: HMAC-SHA256 with the base64-decoded key", () => {
  const key = Buffer.from("0123456789abcdef0123456789abcdef").toString("base64");
  const want = createHmac("sha256", Buffer.from("0123456789abcdef0123456789abcdef")).update("GET\nx").digest(
    "base64",
  );
  assertEquals(sharedKeyAuthorization("acct", key, "GET\nx"), `SharedKey acct:${want}`);
});

Deno.test("blockId and blockListXml: IDs of one upload have one length", () => {
  const ids = [0, 9, 10, 49_999].map((i) => blockId("0123456789abcdef", i));
  ok(ids.every((id) => id.length === ids[0].length));
  assertEquals(atob(ids[3]), "0123456789abcdef-049999");
  assertEquals(
    blockListXml(ids.slice(0, 2)),
    `<?xml version="1.0" encoding="utf-8"?><BlockList><Latest>${ids[0]}</Latest><Latest>${
      ids[1]
    }</Latest></BlockList>`,
  );
  assertEquals(partSizeFor(100, 8), 8);
  assertEquals(partSizeFor(8 * 100_000, 8), 16, "at most 50,000 blocks");
});

Deno.test("parseBlobList: names (also Encoded), sizes, ETags and the next marker", () => {
  const xml =
    `<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="x" ContainerName="c">
<Prefix>p/</Prefix><MaxResults>2</MaxResults><Blobs>
<Blob><Name>p/a &amp; b.txt</Name><Properties><Last-Modified>Tue, 01 Dec 2026 23:55:40 GMT</Last-Modified><Etag>"0x8DB1"</Etag><Content-Length>5</Content-Length></Properties></Blob>
<Blob><Name Encoded="true">p/%EF%BF%BE</Name><Properties><Etag>0x8DB2</Etag><Content-Length>0</Content-Length></Properties></Blob>
</Blobs><NextMarker>2!16!cC9i</NextMarker></EnumerationResults>`;
  assertEquals(parseBlobList(xml), {
    blobs: [
      { name: "p/a & b.txt", size: 5, etag: "0x8DB1", lastModified: new Date("2026-12-01T23:55:40Z") },
      { name: "p/\uFFFE", size: 0, etag: "0x8DB2" },
    ],
    next: "2!16!cC9i",
  });
  assertEquals(parseBlobList("<EnumerationResults><Blobs /><NextMarker /></EnumerationResults>"), {
    blobs: [],
  });
  assertEquals(unquote('"0x1"'), "0x1");
  assertEquals(unquote('W/"0x1"'), "0x1");
});

Deno.test("azureFailure: credentials, roles and containers are usage errors with hints", () => {
  const s = {
    endpoint: "https://acct.blob.core.windows.net",
    account: "acct",
    source: "account key" as const,
  };
  const refused = azureFailure(s, "c", "put x", 403, "AuthenticationFailed", "Server failed to authenticate");
  assertEquals(refused.exitCode, ExitCode.usage);
  assertEquals(
    refused.message,
    "Azure Blob Storage at acct.blob.core.windows.net refused the credentials (HTTP 403 AuthenticationFailed: Server failed to authenticate)",
  );
  ok(refused.hint?.includes("AZURE_STORAGE_KEY"));
  const role = azureFailure(
    { ...s, source: "az login" },
    "c",
    "put x",
    403,
    "AuthorizationPermissionMismatch",
    "no",
  );
  ok(/denied put x to the signed-in account/.test(role.message));
  ok(role.hint?.includes("Storage Blob Data Contributor"));
  const sas = azureFailure({ ...s, sas: true }, "c", "put x", 403, "AuthorizationPermissionMismatch", "no");
  ok(/refused put x: the SAS does not permit it/.test(sas.message) && sas.hint?.includes("sp=racwdl"));
  const missing = azureFailure(s, "c", "put x", 404, "ContainerNotFound", "gone");
  assertEquals(missing.message, "Azure container 'c' does not exist in storage account acct");
  const other = azureFailure(s, "c", "put x", 500, "InternalError", "oops");
  assertEquals(other.exitCode, ExitCode.failed);
  assertEquals(
    other.message,
    "Azure Blob put x at acct.blob.core.windows.net failed (HTTP 500 InternalError: oops)",
  );
});

Deno.test("parseAzToken and azTokenFailure", () => {
  assertEquals(parseAzToken('{"accessToken":"t0k","expires_on":1800000000,"tokenType":"Bearer"}', 0), {
    token: "t0k",
    expiresAt: 1_800_000_000_000,
  });
  assertEquals(
    parseAzToken('{"accessToken":"t0k","expiresOn":"2026-12-02 01:00:00.000000"}', 1000).expiresAt,
    301_000,
  );
  throws(() => parseAzToken("not json", 0), /no JSON/);
  throws(() => parseAzToken("{}", 0), /no accessToken/);
  const e = azTokenFailure(1, "WARNING: x\nERROR: Please run 'az login' to setup account.\n");
  assertEquals(
    e.message,
    "az could not give a token for Azure Storage (exit 1: Please run 'az login' to setup account.)",
  );
  assertEquals(e.exitCode, ExitCode.usage);
  assertEquals(azTokenFailure(127, "").message, "the Azure CLI (az) is not installed or not on PATH");
});
