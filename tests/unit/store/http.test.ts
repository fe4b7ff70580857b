/**
 * The upload transport (lib/store/http.ts) against local HTTP(S) servers: each body goes with its
 * exact Content-Length and never chunked, a body's own failure is the request's error (and the
 * server never sees a whole request), connection failures and silence are network errors, the
 * run's signal aborts, answers stream, and connections are reused.
 */
import { deepStrictEqual as assertEquals, ok, rejects } from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import {
  bodyLength,
  digestRange,
  HttpNetworkError,
  HttpTransport,
  proxyFor,
  requestHeaders,
} from "../../../lib/store/http.ts";
import { stallServer, within } from "../../support/stall.ts";

interface Seen {
  method: string;
  length: string | null;
  chunked: boolean;
  bytes: number;
  sha256: string;
  /** The client's port: one per connection. */
  port: number;
}

/** A server that records each request's framing and answers with `answer` (default: 200 "ok"). */
function recorder(
  answer?: (req: Request) => Response | Promise<Response>,
  tls?: { cert: string; key: string },
) {
  const seen: Seen[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {}, ...(tls ?? {}) },
    async (req, info) => {
      let body: Uint8Array;
      try {
        body = new Uint8Array(await req.arrayBuffer());
      } catch {
        return new Response("cut", { status: 400 }); // the client broke the request off
      }
      seen.push({
        method: req.method,
        length: req.headers.get("content-length"),
        chunked: /chunked/i.test(req.headers.get("transfer-encoding") ?? ""),
        bytes: body.length,
        sha256: createHash("sha256").update(body).digest("hex"),
        port: (info.remoteAddr as Deno.NetAddr).port,
      });
      return answer ? await answer(req) : new Response("ok");
    },
  );
  return { seen, server, url: `${tls ? "https" : "http"}://127.0.0.1:${server.addr.port}` };
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function random(n: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(b.subarray(i, Math.min(n, i + 65536)));
  return b;
}

Deno.test("requestHeaders: the caller's headers less framing, plus the body's exact length", () => {
  assertEquals(
    requestHeaders({
      method: "PUT",
      headers: { "Content-Length": "9", "Transfer-Encoding": "chunked", Host: "x", "X-Amz-Date": "d" },
      body: { path: "/f", offset: 4, length: 7 },
    }),
    { "x-amz-date": "d", "content-length": "7" },
  );
  assertEquals(requestHeaders({ method: "PUT" }), { "content-length": "0" });
  assertEquals(requestHeaders({ method: "GET", headers: { range: "bytes=0-0" } }), { range: "bytes=0-0" });
  assertEquals(bodyLength({ bytes: new Uint8Array(3) }), 3);
  assertEquals(bodyLength({ stream: new Blob([]).stream(), length: 5 }), 5);
});

Deno.test("HttpTransport: file ranges, bytes and streams go with their Content-Length, never chunked", async () => {
  const { seen, server, url } = recorder();
  const dir = await Deno.makeTempDir({ prefix: "http-" });
  const t = new HttpTransport({ chunkBytes: 64 << 10 });
  try {
    const data = random(3_000_000);
    const path = join(dir, "f");
    await Deno.writeFile(path, data);
    const range = { path, offset: 1_000_001, length: 1_500_000 };
    const send = async (body: Parameters<HttpTransport["request"]>[1]["body"]) => {
      const res = await t.request(`${url}/k`, { method: "PUT", body });
      assertEquals([res.status, await res.text()], [200, "ok"]);
    };
    await send(range);
    await send({ bytes: data.subarray(0, 200_000) });
    await send({ stream: new Blob([data.subarray(5, 700_005)]).stream(), length: 700_000 });
    await send({ bytes: new Uint8Array(0) });
    await send({ path, offset: 0, length: 0 });
    for (const s of seen) {
      ok(!s.chunked, `a ${s.bytes}-byte body was sent chunked`);
      assertEquals(s.length, String(s.bytes));
    }
    assertEquals(seen.map((s) => s.sha256), [
      sha(data.subarray(1_000_001, 2_500_001)),
      sha(data.subarray(0, 200_000)),
      sha(data.subarray(5, 700_005)),
      sha(new Uint8Array(0)),
      sha(new Uint8Array(0)),
    ]);
    // the answers were read to their end, so one connection carried every request
    assertEquals(new Set(seen.map((s) => s.port)).size, 1, "connections are kept alive and reused");
    assertEquals(
      await digestRange(path, range.offset, range.length, "sha256", "hex"),
      sha(data.subarray(1_000_001, 2_500_001)),
    );
    await rejects(digestRange(path, 2_999_000, 2000, "md5", "base64"), /ended at 3000000 bytes/);
  } finally {
    t.close();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("HttpTransport: a body that fails, or has not its length, fails the request with its own error", async () => {
  const { seen, server, url } = recorder();
  const dir = await Deno.makeTempDir({ prefix: "http-" });
  const t = new HttpTransport();
  try {
    const short = { stream: new Blob([new Uint8Array(10)]).stream(), length: 11 };
    const e1 = await t.request(url, { method: "PUT", body: short }).catch((e) => e);
    ok(!(e1 instanceof HttpNetworkError) && /ended at 10 of the 11 bytes/.test(e1.message), String(e1));
    const long = { stream: new Blob([new Uint8Array(12)]).stream(), length: 11 };
    await rejects(t.request(url, { method: "PUT", body: long }), /longer than the 11 bytes/);
    const mine = new Error("the blob does not match its map");
    let chunks = 0;
    const failing = new ReadableStream<Uint8Array>({
      pull(ctl) {
        if (chunks++ < 3) ctl.enqueue(new Uint8Array(100_000));
        else ctl.error(mine);
      },
    });
    const e3 = await t.request(url, { method: "PUT", body: { stream: failing, length: 1_000_000 } }).catch((
      e,
    ) => e);
    ok(e3 === mine, `the stream's own error, got ${e3}`);
    const path = join(dir, "f");
    await Deno.writeFile(path, new Uint8Array(100));
    await rejects(
      t.request(url, { method: "PUT", body: { path, offset: 50, length: 100 } }),
      /ended at 100 bytes while it was being uploaded/,
    );
    await new Promise((r) => setTimeout(r, 100));
    assertEquals(seen.length, 0, "the server saw no whole request");
  } finally {
    t.close();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("HttpTransport: a refused connection and a silent server are network errors; the signal aborts", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const t = new HttpTransport({ idleTimeoutMs: 300 });
  const e1 = await t.request(`http://127.0.0.1:${port}/`, { method: "GET" }).catch((e) => e);
  ok(e1 instanceof HttpNetworkError && e1 instanceof TypeError, String(e1));
  ok(/ECONNREFUSED|refused/i.test(e1.message), e1.message);

  // accepts connections and never answers
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of silent) conns.push(c);
  })();
  try {
    const url = `http://127.0.0.1:${(silent.addr as Deno.NetAddr).port}/`;
    const started = Date.now();
    const e2 = await t.request(url, { method: "PUT", body: { bytes: new Uint8Array(10) } }).catch((e) => e);
    ok(e2 instanceof HttpNetworkError && /timed out/.test(e2.message), String(e2));
    ok(Date.now() - started < 5000);
    const ctl = new AbortController();
    const reason = new Error("interrupted");
    setTimeout(() => ctl.abort(reason), 50);
    const e3 = await new HttpTransport().request(url, { method: "GET", signal: ctl.signal }).catch((e) => e);
    ok(e3 === reason, String(e3));
    const e4 = await t.request(url, { method: "GET", signal: ctl.signal }).catch((e) => e);
    ok(e4 === reason, "an aborted signal stops the request before it starts");
  } finally {
    t.close();
    silent.close();
    await accepting.catch(() => {});
    for (const c of conns) c.close();
  }
});

Deno.test("HttpTransport: a long upload that keeps moving is not cut by the idle timeout", async () => {
  let took = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const started = Date.now();
    let n = 0;
    for await (const c of req.body!) {
      n += c.length;
      await new Promise((r) => setTimeout(r, 10)); // a slow link: the client waits on the socket
    }
    took = Date.now() - started;
    return new Response(String(n));
  });
  const dir = await Deno.makeTempDir({ prefix: "http-" });
  const t = new HttpTransport({ idleTimeoutMs: 2000 });
  try {
    const path = join(dir, "f");
    await Deno.writeFile(path, new Uint8Array(32 << 20));
    const res = await t.request(`http://127.0.0.1:${server.addr.port}/`, {
      method: "PUT",
      body: { path, offset: 0, length: 32 << 20 },
    });
    assertEquals(await res.text(), String(32 << 20));
    ok(took > 2000, `the upload took ${took} ms, longer than the idle timeout`);
  } finally {
    t.close();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("HttpTransport: answers stream; HEAD and 204 have no body; a large unread answer is dropped", async () => {
  const big = random(3 << 20);
  const { seen, server, url } = recorder((req) => {
    const u = new URL(req.url);
    if (u.pathname === "/none") return new Response(null, { status: 204, headers: { etag: '"e1"' } });
    if (req.method === "HEAD") {
      return new Response(null, { headers: { "content-length": String(big.length) } });
    }
    if (u.pathname === "/missing") {
      return new Response("<Error><Code>NoSuchKey</Code></Error>", { status: 404 });
    }
    return new Response(big, { headers: { "x-amz-meta-a": "1" } });
  });
  const t = new HttpTransport();
  try {
    const res = await t.request(`${url}/big`, { method: "GET" });
    assertEquals([res.status, res.headers.get("x-amz-meta-a")], [200, "1"]);
    assertEquals(sha(new Uint8Array(await res.arrayBuffer())), sha(big));
    const head = await t.request(`${url}/big`, { method: "HEAD" });
    assertEquals([head.status, head.body, head.headers.get("content-length")], [
      200,
      null,
      String(big.length),
    ]);
    const none = await t.request(`${url}/none`, { method: "PUT", body: { bytes: new Uint8Array(1) } });
    assertEquals([none.status, none.body, none.headers.get("etag")], [204, null, '"e1"']);
    const missing = await t.request(`${url}/missing`, { method: "GET" });
    assertEquals([missing.status, await missing.text()], [404, "<Error><Code>NoSuchKey</Code></Error>"]);
    const unread = await t.request(`${url}/big`, { method: "GET" });
    await unread.body?.cancel();
    const after = await t.request(`${url}/big`, { method: "GET" });
    assertEquals((await after.arrayBuffer()).byteLength, big.length);
    assertEquals(seen.length, 6);
  } finally {
    t.close();
    await server.shutdown();
  }
});

Deno.test("HttpTransport: HTTPS with a private certificate given as caCerts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "http-tls-" });
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  const made = await new Deno.Command("openssl", {
    args: [
      ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1"],
      ...["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
      ...["-addext", "basicConstraints=critical,CA:FALSE"],
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  ok(made.success, new TextDecoder().decode(made.stderr));
  const pem = await Deno.readTextFile(cert);
  const { seen, server, url } = recorder(undefined, { cert: pem, key: await Deno.readTextFile(key) });
  const trusting = new HttpTransport({ caCerts: [pem] });
  const plain = new HttpTransport();
  try {
    const data = random(1 << 20);
    await Deno.writeFile(join(dir, "f"), data);
    const res = await trusting.request(`${url}/k`, {
      method: "PUT",
      body: { path: join(dir, "f"), offset: 0, length: data.length },
    });
    assertEquals([res.status, await res.text()], [200, "ok"]);
    assertEquals([seen[0].length, seen[0].chunked, seen[0].sha256], [String(data.length), false, sha(data)]);
    const e = await plain.request(`${url}/k`, { method: "GET" }).catch((e) => e);
    ok(e instanceof HttpNetworkError, `an unknown certificate is refused: ${e}`);
  } finally {
    trusting.close();
    plain.close();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("proxyFor: HTTPS_PROXY or HTTP_PROXY by scheme, either case, unless NO_PROXY names the host", () => {
  const https = new URL("https://bucket.s3.eu-west-1.amazonaws.com/k");
  const plain = new URL("http://127.0.0.1:10000/devstoreaccount1/c");
  assertEquals(proxyFor(https, {}), undefined);
  assertEquals(proxyFor(https, { HTTPS_PROXY: "http://proxy:3128" }), "http://proxy:3128");
  assertEquals(proxyFor(https, { https_proxy: "http://proxy:3128" }), "http://proxy:3128");
  assertEquals(
    proxyFor(https, { HTTP_PROXY: "http://proxy:3128" }),
    undefined,
    "http's proxy is not https's",
  );
  assertEquals(proxyFor(plain, { HTTP_PROXY: "http://proxy:3128" }), "http://proxy:3128");
  for (const no of ["*", "amazonaws.com", ".amazonaws.com", "x.org, s3.eu-west-1.amazonaws.com:443"]) {
    assertEquals(proxyFor(https, { HTTPS_PROXY: "http://proxy:3128", NO_PROXY: no }), undefined, no);
  }
  assertEquals(proxyFor(https, { HTTPS_PROXY: "http://p:1", no_proxy: "zonaws.com" }), "http://p:1");
  assertEquals(proxyFor(plain, { HTTP_PROXY: "http://p:1", NO_PROXY: "localhost,127.0.0.1" }), undefined);
});

Deno.test("HttpTransport: behind a proxy, requests go through it (over fetch)", async () => {
  const seen: string[] = [];
  const proxy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    seen.push(`${req.method} ${req.url} ${(await req.arrayBuffer()).byteLength}`);
    return new Response("via the proxy");
  });
  const dir = await Deno.makeTempDir({ prefix: "http-" });
  const t = new HttpTransport({ env: { HTTP_PROXY: `http://127.0.0.1:${proxy.addr.port}` } });
  try {
    const path = join(dir, "f");
    await Deno.writeFile(path, new Uint8Array(100_000));
    const res = await t.request("http://store.example.invalid/c/k", {
      method: "PUT",
      body: { path, offset: 10, length: 90_000 },
    });
    assertEquals(await res.text(), "via the proxy");
    const bytes = await t.request("http://store.example.invalid/c/m", {
      method: "PUT",
      body: { bytes: new Uint8Array(5) },
    });
    await bytes.body?.cancel();
    assertEquals(seen, [
      "PUT http://store.example.invalid/c/k 90000",
      "PUT http://store.example.invalid/c/m 5",
    ]);
  } finally {
    t.close();
    await proxy.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("HttpTransport: behind a proxy, a silent proxy and a stalled answer fail within the idle timeout", async () => {
  // a proxy that takes the connection and never answers
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of silent) held.push(c);
  })().catch(() => {});
  // a proxy that sends the headers and 100 of 1,000 bytes, then nothing
  const stalling = stallServer(() => ({ status: 200, body: new Uint8Array(1000), stallAfter: 100 }));
  const via = (port: number) =>
    new HttpTransport({ idleTimeoutMs: 300, env: { HTTP_PROXY: `http://127.0.0.1:${port}` } });
  const t1 = via((silent.addr as Deno.NetAddr).port);
  const t2 = via(stalling.port);
  try {
    for (const method of ["GET", "PUT"]) {
      const body = method === "PUT" ? { bytes: new Uint8Array(10) } : undefined;
      const e1 = await within(
        t1.request("http://store.example.invalid/c/k", { method, body }).then(() => undefined, (e) => e),
        5_000,
        "a request to a silent proxy",
      );
      ok(
        e1 instanceof HttpNetworkError &&
          /no progress with store\.example\.invalid through the proxy for 0\.3 s/.test(e1.message),
        String(e1),
      );
    }
    const res = await t2.request("http://store.example.invalid/c/k", { method: "GET" });
    assertEquals(res.status, 200);
    const e2 = await within(
      res.arrayBuffer().then(() => undefined, (e) => e),
      5_000,
      "a stalled answer body",
    );
    ok(
      e2 instanceof HttpNetworkError &&
        /the answer from store\.example\.invalid stalled: no data for 0\.3 s/.test(e2.message),
      String(e2),
    );
    assertEquals(stalling.seen.map((r) => `${r.method} ${r.path}`), ["GET http://store.example.invalid/c/k"]);
  } finally {
    t1.close();
    t2.close();
    silent.close();
    for (const c of held) c.close();
    await accepting;
    await stalling.close();
  }
});

/** One connection of {@link rawServer}: reads requests off the socket by hand. */
class RawConn {
  #buf = new Uint8Array(0);
  constructor(readonly conn: Deno.Conn) {}

  async #more(): Promise<boolean> {
    const b = new Uint8Array(64 << 10);
    const n = await this.conn.read(b).catch(() => null);
    if (n === null) return false;
    const next = new Uint8Array(this.#buf.length + n);
    next.set(this.#buf);
    next.set(b.subarray(0, n), this.#buf.length);
    this.#buf = next;
    return true;
  }

  /** The next request's head; its Content-Length (0 when none), or undefined at the end of the connection. */
  async head(): Promise<number | undefined> {
    for (;;) {
      const at = new TextDecoder().decode(this.#buf).indexOf("\r\n\r\n");
      if (at >= 0) {
        const head = new TextDecoder().decode(this.#buf.subarray(0, at));
        this.#buf = this.#buf.subarray(at + 4);
        return Number(head.match(/^content-length:\s*(\d+)/im)?.[1] ?? 0);
      }
      if (!await this.#more()) return undefined;
    }
  }

  /** Reads and drops `n` bytes of body (fewer when the connection ends). */
  async skip(n: number): Promise<void> {
    while (this.#buf.length < n) {
      n -= this.#buf.length;
      this.#buf = new Uint8Array(0);
      if (!await this.#more()) return;
    }
    this.#buf = this.#buf.subarray(n);
  }

  async answer(status: string, close = false): Promise<void> {
    const head = `HTTP/1.1 ${status}\r\nContent-Length: 2\r\n${close ? "Connection: close\r\n" : ""}\r\nok`;
    await this.conn.write(new TextEncoder().encode(head)).catch(() => 0);
  }

  close(): void {
    try {
      this.conn.close();
    } catch {
      // closed
    }
  }
}

/** A plain TCP server on 127.0.0.1 that hands each connection to `serve`; counts connections. */
function rawServer(serve: (c: RawConn) => Promise<void>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: RawConn[] = [];
  const accepting = (async () => {
    for await (const c of listener) {
      const raw = new RawConn(c);
      conns.push(raw);
      serve(raw).catch(() => {});
    }
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/k`,
    get connections() {
      return conns.length;
    },
    async close() {
      listener.close();
      for (const c of conns) c.close();
      await accepting;
    },
  };
}

/** `p`, or a failure naming `what` if it has not settled after `ms` (a hang, not a slow run). */
function notHung<T>(p: Promise<T>, what: string, ms = 60_000): Promise<T> {
  let id: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<never>((_, reject) => {
    id = setTimeout(() => reject(new Error(`${what}: no answer and no error after ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, hung]).finally(() => clearTimeout(id));
}

/** The bodies a request can have, each `size` bytes. */
async function bodies(dir: string, size: number) {
  const path = join(dir, "body");
  await Deno.writeFile(path, new Uint8Array(size));
  return {
    bytes: () => ({ bytes: new Uint8Array(size) }),
    path: () => ({ path, offset: 0, length: size }),
    stream: () => ({ stream: new Blob([new Uint8Array(size)]).stream(), length: size }),
  };
}

Deno.test("HttpTransport: a kept-alive connection gone silent fails within the idle timeout and is not retried in secret", async () => {
  // the first request on a connection is answered, the next one read and never answered: as a
  // proxy whose far side closed the kept-alive connection behaves
  const server = rawServer(async (c) => {
    for (let n = 0;; n++) {
      const length = await c.head();
      if (length === undefined) return;
      await c.skip(length);
      if (n === 0) await c.answer("200 OK");
    }
  });
  const dir = await Deno.makeTempDir({ prefix: "http-" });
  try {
    for (const [kind, body] of Object.entries(await bodies(dir, 300_000))) {
      const t = new HttpTransport({ idleTimeoutMs: 1000 });
      try {
        const before = server.connections;
        const first = await t.request(server.url, { method: "PUT", body: body() });
        assertEquals(await first.text(), "ok");
        const e = await notHung(t.request(server.url, { method: "PUT", body: body() }), kind).catch((e) => e);
        ok(e instanceof HttpNetworkError && /timed out/.test(e.message), `${kind}: ${e}`);
        // node:http's own retry would have opened a second connection and waited there for ever
        assertEquals(server.connections - before, 1, `${kind}: one connection, no hidden retry`);
      } finally {
        t.close();
      }
    }
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("HttpTransport: a 503 while the body is sent (then closed, kept open, or a reset) answers or fails, never hangs", async () => {
  const size = 8 << 20; // far more than the socket buffers: the answer comes while the body is sent
  // what the server does with the second request of each connection (the first is answered 200,
  // so the second goes over a kept-alive connection) and with the first of the "fresh" ones
  const modes = {
    // answers 503 after the head and closes with the body unread (a reset for the client)
    "503 and close": async (c: RawConn) => {
      await c.answer("503 Service Unavailable", true);
      c.close();
    },
    // answers 503 after the head, then neither reads nor closes
    "503, kept open": async (c: RawConn) => {
      await c.answer("503 Service Unavailable");
    },
    // reads half of the body, then closes (a reset) without an answer
    "reset mid-body": async (c: RawConn) => {
      await c.skip(size / 2);
      c.close();
    },
  };
  const dir = await Deno.makeTempDir({ prefix: "http-" });
  try {
    const body = await bodies(dir, size);
    for (const [mode, misbehave] of Object.entries(modes)) {
      for (const reused of [false, true]) {
        const server = rawServer(async (c) => {
          if (reused) {
            await c.skip((await c.head()) ?? 0);
            await c.answer("200 OK");
          }
          if (await c.head() === undefined) return;
          await misbehave(c);
        });
        const t = new HttpTransport({ idleTimeoutMs: 5000 });
        try {
          for (const [kind, make] of Object.entries(body)) {
            const what = `${mode}, ${reused ? "reused" : "new"} connection, ${kind}`;
            if (reused) {
              const r = await t.request(server.url, { method: "PUT", body: { bytes: new Uint8Array(10) } });
              assertEquals(await r.text(), "ok", what);
            }
            const got = await notHung(
              t.request(server.url, { method: "PUT", body: make() }).then(async (r) =>
                `${r.status} ${await r.text()}`
              ),
              what,
            ).catch((e) => e);
            if (mode === "reset mid-body") {
              ok(got instanceof HttpNetworkError && !/timed out/.test(got.message), `${what}: ${got}`);
            } else {
              // the answer, or (when the reset beat it) a network error, which callers retry alike
              ok(
                got === "503 ok" || got instanceof HttpNetworkError && !/timed out/.test(got.message),
                `${what}: ${got}`,
              );
            }
          }
        } finally {
          t.close();
          await server.close();
        }
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("HttpTransport: the signal also aborts an answer whose body is still streaming", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
    let n = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(ctl) {
        await new Promise((r) => setTimeout(r, 20));
        if (n++ < 1000) ctl.enqueue(new Uint8Array(1000));
        else ctl.close();
      },
    });
    return new Response(body);
  });
  const t = new HttpTransport();
  try {
    const ctl = new AbortController();
    const reason = new Error("interrupted");
    const res = await t.request(`http://127.0.0.1:${server.addr.port}/`, {
      method: "GET",
      signal: ctl.signal,
    });
    const reader = res.body!.getReader();
    await reader.read();
    ctl.abort(reason);
    let e: unknown;
    try {
      for (;;) if ((await notHung(reader.read(), "the aborted body")).done) break;
    } catch (err) {
      e = err;
    }
    ok(e === reason, `the body fails with the signal's reason, got ${e}`);
  } finally {
    t.close();
    await server.shutdown();
  }
});
