import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { createHash } from "node:crypto";
import { amzDate, canonicalPath, canonicalQuery, SigV4Signer } from "../../../lib/store/sigv4.ts";

// AWS's SigV4 test suite (aws-sig-v4-test-suite): keys, scope and time of every example there
const SUITE = new SigV4Signer({
  accessKeyId: "AKIDEXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
  region: "us-east-1",
  service: "service",
});
const SUITE_AT = new Date("2015-08-30T12:36:00Z");
const suiteAuth = (signature: string) =>
  `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=${signature}`;

Deno.test("SigV4: AWS's test suite examples (get-vanilla, query order, utf8 path, post-vanilla)", () => {
  const get = SUITE.sign({ method: "GET", url: "https://example.amazonaws.com/" }, SUITE_AT);
  assertEquals(
    get.canonicalRequest,
    "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" +
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
  assertEquals(get.headers, {
    "x-amz-date": "20150830T123600Z",
    authorization: suiteAuth("5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
  });
  const cases: [string, string, string][] = [
    // get-vanilla-query-order-key-case: the query is signed sorted
    [
      "GET",
      "https://example.amazonaws.com/?Param2=value2&Param1=value1",
      "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    ],
    // get-utf8: the path's segments are signed percent-encoded once
    [
      "GET",
      "https://example.amazonaws.com/ሴ",
      "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
    ],
    [
      "POST",
      "https://example.amazonaws.com/",
      "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
    ],
  ];
  for (const [method, url, signature] of cases) {
    assertEquals(SUITE.sign({ method, url }, SUITE_AT).headers.authorization, suiteAuth(signature), url);
  }
});

// the S3 API reference's examples (sig-v4-header-based-auth.html, "Example signature calculations")
const S3 = new SigV4Signer({
  accessKeyId: "AKIAIOSFODNN7EXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  region: "us-east-1",
  service: "s3",
});
const S3_AT = new Date("2013-05-24T00:00:00Z");
const EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const s3Auth = (headers: string, signature: string) =>
  `AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=${headers}, Signature=${signature}`;

Deno.test("SigV4: the S3 API reference's examples (PUT object, GET lifecycle, list objects)", () => {
  const body = new TextEncoder().encode("Welcome to Amazon S3.");
  const put = S3.sign({
    method: "PUT",
    url: "https://examplebucket.s3.amazonaws.com/test%24file.text",
    headers: {
      Date: "Fri, 24 May 2013 00:00:00 GMT",
      "x-amz-storage-class": "REDUCED_REDUNDANCY",
      "x-amz-content-sha256": createHash("sha256").update(body).digest("hex"),
    },
  }, S3_AT);
  assertEquals(
    put.stringToSign,
    "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n" +
      "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
  );
  assertEquals(
    put.headers.authorization,
    s3Auth(
      "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
      "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
    ),
  );
  // GET bucket lifecycle, then list objects: the payload hash given, the query signed sorted
  for (
    const [url, signature] of [
      ["?lifecycle", "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"],
      ["?prefix=J&max-keys=2", "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"],
    ]
  ) {
    const get = S3.sign({
      method: "GET",
      url: `https://examplebucket.s3.amazonaws.com/${url}`,
      headers: { "x-amz-content-sha256": EMPTY },
    }, S3_AT);
    assertEquals(get.headers.authorization, s3Auth("host;x-amz-content-sha256;x-amz-date", signature), url);
  }
});

Deno.test("SigV4 for S3: an unhashed payload, a session token, unsigned headers, the key of each day", () => {
  const s = new SigV4Signer({
    accessKeyId: "AKIAIOSFODNN7EXAMPLE",
    secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    sessionToken: "token/+=",
    region: "us-east-1",
    service: "s3",
  });
  const r = s.sign({
    method: "get",
    url: "http://127.0.0.1:5000/s3/b/a%20b/c%28%29.txt",
    headers: { Range: "bytes=0-0", "Content-Type": "text/plain", "X-Amz-Meta-Note": "  two   spaces " },
  }, S3_AT);
  assertEquals(
    r.canonicalRequest,
    [
      "GET",
      "/s3/b/a%20b/c%28%29.txt",
      "",
      "host:127.0.0.1:5000",
      "x-amz-content-sha256:UNSIGNED-PAYLOAD",
      "x-amz-date:20130524T000000Z",
      "x-amz-meta-note:two spaces",
      "x-amz-security-token:token/+=",
      "",
      "host;x-amz-content-sha256;x-amz-date;x-amz-meta-note;x-amz-security-token",
      "UNSIGNED-PAYLOAD",
    ].join("\n"),
  );
  assertEquals(r.headers["range"], "bytes=0-0");
  assertEquals(r.headers["content-type"], "text/plain");
  assertEquals(r.headers["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
  assertEquals(r.headers["x-amz-security-token"], "token/+=");
  // another day derives another key: the same request signs differently
  const next = s.sign(
    { method: "GET", url: "http://127.0.0.1:5000/s3/b/x" },
    new Date("2013-05-25T00:00:00Z"),
  );
  const again = s.sign({ method: "GET", url: "http://127.0.0.1:5000/s3/b/x" }, S3_AT);
  const sig = (h: Record<string, string>) => h.authorization.split("Signature=")[1];
  assertEquals(sig(next.headers) === sig(again.headers), false);
  assertEquals(again.headers.authorization.includes("/20130524/us-east-1/s3/aws4_request"), true);
  assertEquals(next.headers.authorization.includes("/20130525/us-east-1/s3/aws4_request"), true);
});

Deno.test("SigV4 canonical forms: paths encoded once, queries sorted and encoded, the date", () => {
  assertEquals(canonicalPath("/b/a%20b/x!'()*.txt"), "/b/a%20b/x%21%27%28%29%2A.txt");
  assertEquals(canonicalPath("/b/%E1%88%B4/%zz"), "/b/%E1%88%B4/%zz");
  assertEquals(
    canonicalQuery(new URLSearchParams("uploads=&b=2&a=z&a=1&prefix=a%2Bb%20c&continuation-token=x%2F%3D")),
    "a=1&a=z&b=2&continuation-token=x%2F%3D&prefix=a%2Bb%20c&uploads=",
  );
  assertEquals(amzDate(new Date("2026-12-05T02:59:01.123Z")), "20261205T025901Z");
});
