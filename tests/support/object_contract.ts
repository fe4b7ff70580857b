/**
 * The contract every {@link ObjectStore} backend must pass, run against a real service:
 * {@link objectStoreContract} adds one step per rule to a test. A backend's test file starts the
 * service (Azurite, the Storage server's S3) and gives a {@link ContractTarget}: how to make a
 * store on a fresh, empty prefix with a given page size, part size and retry count, optionally
 * through a port of its choosing (the fault proxy).
 *
 * The rules: put/head/get of bytes and files, missing objects are `undefined`, an empty object,
 * keys with spaces, Unicode and URL characters, list by prefix in key order across pages, delete
 * (also of a missing object), `ifAbsent` and `ifMatch` (also racing writers: exactly one wins, and
 * its bytes are what is stored), a file larger than one part (also conditional, also two racing),
 * a transient failure (an HTTP 503 from {@link startFaultProxy}, a TCP proxy in front of the
 * service) retried on every call, and a failure that outlasts the retries reported as an error;
 * a download cut mid-way resumed from where it stopped, an object replaced while it was read
 * failing clearly (whether or not the service honours If-Match), and a reader that stops early
 * ending the download with one GET and no resume.
 * @module
 */
import { createHash } from "node:crypto";
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import type { ObjectStore } from "../../lib/store/object.ts";

/** What a store made for the contract must honour. */
export interface ContractStoreOptions {
  /** Objects per list page (the contract lists more than one page). */
  pageSize: number;
  /** The part size of multipart uploads, and the largest single upload. */
  partSize: number;
  /** Retries of a transient failure per request. */
  retries: number;
  /** Connect to this 127.0.0.1 port instead of the service's (same scheme and path). */
  port?: number;
  /** Where the store logs its retries and resumes. */
  log?: (line: string) => void;
}

/** A service under test. */
export interface ContractTarget {
  /** A store on a fresh, empty prefix. */
  make(o: ContractStoreOptions): Promise<ObjectStore> | ObjectStore;
  /** The service's port on 127.0.0.1, which the fault proxy forwards to. */
  port: number;
  /** The part size to test with: the smallest the service accepts (S3: 5 MiB). */
  partSize: number;
  /**
   * What the service does with `ifAbsent` / `ifMatch`: `honoured` (the default: AWS S3, R2, Azure)
   * or `ignored` (the Supabase Storage server's S3 protocol, whose PUT always overwrites). With
   * `ignored` the condition steps check that a conditional put still writes, as that service does,
   * and a backend's callers must not rely on conditions there (docs/storage.md, "Object stores").
   */
  conditions?: "honoured" | "ignored";
  /** The keys the service accepts (default: all); the key step leaves the others out. */
  acceptsKey?: (key: string) => boolean;
}

/** A TCP proxy that can answer the next requests with HTTP 503 instead of forwarding them. */
export interface FaultProxy {
  port: number;
  /** Answer the next `n` requests (first bytes from the client after a quiet moment) with 503. */
  fail(n: number): void;
  /** Cut the connection of the next response from the service after `bytes` bytes of it. */
  cutResponse(bytes: number): void;
  /** How many requests were answered with 503 so far. */
  readonly injected: number;
  /** How many responses were cut so far. */
  readonly cuts: number;
  /** Hold each chunk of the service's responses for `ms` before passing it on (a slow network). */
  delayResponses(ms: number): void;
  /** How many GET requests were forwarded so far. */
  readonly gets: number;
  close(): Promise<void>;
}

const REFUSAL = new TextEncoder().encode(
  "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\nRetry-After: 0\r\n\r\n",
);

/**
 * Starts a {@link FaultProxy} on a free port in front of `127.0.0.1:targetPort`. A client chunk
 * that arrives while faults are pending is not forwarded: the client gets a 503 (or, under TLS, a
 * broken connection) and the connection is closed: a transient failure either way.
 */
export function startFaultProxy(targetPort: number): FaultProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  let pending = 0;
  let injected = 0;
  let cutAfter: number | undefined;
  let cuts = 0;
  let gets = 0;
  let delayMs = 0;
  const closeBoth = (a: Deno.Conn, b?: Deno.Conn) => {
    for (const c of [a, b]) {
      if (!c) continue;
      conns.delete(c);
      try {
        c.close();
      } catch {
        // closed
      }
    }
  };
  const serve = async (client: Deno.Conn) => {
    let upstream: Deno.Conn | undefined;
    const buf = new Uint8Array(64 * 1024);
    try {
      upstream = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
      conns.add(upstream);
      const back = (async () => {
        const b = new Uint8Array(64 * 1024);
        for (;;) {
          let n = await upstream!.read(b);
          if (n === null) {
            // the service closed its side (a kept-alive connection timed out): so does the
            // client's, as a real proxy does; left open, the client's next request on it was
            // read and never answered, and waited for the idle timeout (120 s)
            closeBoth(client, upstream);
            break;
          }
          const cut = cutAfter !== undefined && n >= cutAfter;
          if (cut) {
            n = cutAfter!;
            cutAfter = undefined;
            cuts++;
          } else if (cutAfter !== undefined) cutAfter -= n;
          if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
          let off = 0;
          while (off < n) off += await client.write(b.subarray(off, n));
          if (cut) {
            closeBoth(client, upstream);
            break;
          }
        }
      })().catch(() => closeBoth(client, upstream));
      for (;;) {
        const n = await client.read(buf);
        if (n === null) break;
        if (pending > 0) {
          pending--;
          injected++;
          await client.write(REFUSAL).catch(() => 0);
          break;
        }
        if (buf[0] === 0x47 && new TextDecoder().decode(buf.subarray(0, 4)) === "GET ") gets++;
        let off = 0;
        while (off < n) off += await upstream.write(buf.subarray(off, n));
      }
      closeBoth(client, upstream);
      await back;
    } catch {
      closeBoth(client, upstream);
    }
  };
  const accepting = (async () => {
    for (;;) {
      let c: Deno.Conn;
      try {
        c = await listener.accept();
      } catch {
        return;
      }
      conns.add(c);
      serve(c);
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    fail(n: number) {
      pending = n;
    },
    cutResponse(bytes: number) {
      cutAfter = bytes;
    },
    get injected() {
      return injected;
    },
    get cuts() {
      return cuts;
    },
    delayResponses(ms: number) {
      delayMs = ms;
    },
    get gets() {
      return gets;
    },
    async close() {
      listener.close();
      for (const c of [...conns]) closeBoth(c);
      await accepting;
    },
  };
}

const enc = new TextEncoder();

async function text(s: ReadableStream<Uint8Array> | undefined): Promise<string | undefined> {
  return s ? await new Response(s).text() : undefined;
}

async function sha256Of(s: ReadableStream<Uint8Array> | undefined): Promise<string | undefined> {
  if (!s) return undefined;
  const h = createHash("sha256");
  for await (const chunk of s) h.update(chunk);
  return h.digest("hex");
}

/** `n` random bytes. */
function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65_536) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65_536)));
  return out;
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

async function keys(store: ObjectStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix)) out.push(o.key);
  return out;
}

/** A temp file of `size` pseudo-random bytes and its sha256. */
async function randomFile(size: number): Promise<{ path: string; size: number; sha256: string }> {
  const path = await Deno.makeTempFile({ prefix: "contract-" });
  const f = await Deno.open(path, { write: true });
  const h = createHash("sha256");
  try {
    const chunk = new Uint8Array(1024 * 1024);
    for (let done = 0; done < size;) {
      const n = Math.min(chunk.length, size - done);
      for (let i = 0; i < n; i += 65536) crypto.getRandomValues(chunk.subarray(i, Math.min(n, i + 65536)));
      const part = chunk.subarray(0, n);
      h.update(part);
      let off = 0;
      while (off < n) off += await f.write(part.subarray(off));
      done += n;
    }
  } finally {
    f.close();
  }
  return { path, size, sha256: h.digest("hex") };
}

/**
 * Adds the contract's steps to test `t` for `target` (see the module doc). Each step makes its
 * own store on a fresh prefix.
 */
export async function objectStoreContract(t: Deno.TestContext, target: ContractTarget): Promise<void> {
  const base: ContractStoreOptions = { pageSize: 3, partSize: target.partSize, retries: 3 };
  const make = (o: Partial<ContractStoreOptions> = {}) => Promise.resolve(target.make({ ...base, ...o }));
  const files: string[] = [];

  try {
    await t.step("put, head and get of bytes and of a file; missing objects are undefined", async () => {
      const s = await make();
      const put = await s.put("a/one.txt", { bytes: enc.encode("hello") }, { contentType: "text/plain" });
      ok(put.ok && put.etag, "put answers ok with an ETag");
      const head = await s.head("a/one.txt");
      assertEquals(head?.key, "a/one.txt");
      assertEquals(head?.size, 5);
      assertEquals(head?.etag, put.etag, "head has the ETag the put gave");
      ok(!head.etag.startsWith('"'), "ETags come without quotes");
      assertEquals(await text(await s.get("a/one.txt")), "hello");
      const f = await randomFile(1000);
      files.push(f.path);
      ok((await s.put("a/file.bin", { path: f.path, size: f.size })).ok);
      assertEquals(await sha256Of(await s.get("a/file.bin")), f.sha256);
      assertEquals(await s.head("a/missing"), undefined);
      assertEquals(await s.get("a/missing"), undefined);
      assertEquals(await s.head("a"), undefined, "a prefix is not an object");
    });

    await t.step("an empty object", async () => {
      const s = await make();
      ok((await s.put("empty", { bytes: new Uint8Array(0) })).ok);
      assertEquals((await s.head("empty"))?.size, 0);
      assertEquals(await text(await s.get("empty")), "");
      const f = await Deno.makeTempFile();
      files.push(f);
      ok((await s.put("empty-file", { path: f, size: 0 }, { ifAbsent: true })).ok);
      assertEquals((await s.head("empty-file"))?.size, 0);
    });

    await t.step("keys with spaces, Unicode and URL characters round-trip", async () => {
      const s = await make();
      const names = [
        "sp ace/a b.txt",
        "ünï/çødé ✓.sql",
        "plus+sign",
        "per%20cent",
        "hash#frag",
        "ques?tion=1&b=2",
        "tilde~'quote'(paren)*!",
        "semi;colon,comma:colon@at$",
      ];
      const accepted = names.filter(target.acceptsKey ?? (() => true));
      ok(accepted.length >= 4, "the service accepts most of the keys");
      for (const [i, k] of accepted.entries()) ok((await s.put(k, { bytes: enc.encode(String(i)) })).ok, k);
      for (const [i, k] of accepted.entries()) assertEquals(await text(await s.get(k)), String(i), k);
      assertEquals(await keys(s, ""), [...accepted].sort(), "list gives the keys back as written");
      if (accepted.includes("ünï/çødé ✓.sql")) assertEquals(await keys(s, "ünï/"), ["ünï/çødé ✓.sql"]);
    });

    await t.step("list gives the keys under a prefix in key order, across pages", async () => {
      const s = await make({ pageSize: 3 });
      const under = ["l/0", "l/1", "l/10", "l/2", "l/3/x", "l/4", "l/5", "l/6"];
      const others = ["l", "l2", "m/0"];
      await Promise.all([...under, ...others].map((k) => s.put(k, { bytes: enc.encode(k) })));
      assertEquals(await keys(s, "l/"), under);
      assertEquals(await keys(s, "l/1"), ["l/1", "l/10"]);
      assertEquals(await keys(s, ""), [...under, ...others].sort());
      assertEquals(await keys(s, "none/"), []);
      const infos = [];
      for await (const o of s.list("l/")) infos.push(o);
      ok(infos.every((o) => o.size === o.key.length && o.etag), "list gives size and ETag");
      const other = await make();
      assertEquals(await keys(other, ""), [], "another prefix sees none of it");
    });

    await t.step("delete removes an object and accepts a missing one", async () => {
      const s = await make();
      ok((await s.put("d/x", { bytes: enc.encode("x") })).ok);
      ok((await s.put("d/y", { bytes: enc.encode("y") })).ok);
      await s.delete("d/x");
      await s.delete("d/x");
      await s.delete("d/never");
      assertEquals(await s.head("d/x"), undefined);
      assertEquals(await keys(s, "d/"), ["d/y"]);
    });

    if (target.conditions === "ignored") {
      await t.step("the service ignores ifAbsent and ifMatch: a conditional put overwrites", async () => {
        const s = await make();
        ok((await s.put("once", { bytes: enc.encode("first") }, { ifAbsent: true })).ok);
        ok((await s.put("once", { bytes: enc.encode("second") }, { ifAbsent: true })).ok);
        assertEquals(await text(await s.get("once")), "second");
        ok((await s.put("cas", { bytes: enc.encode("v2") }, { ifMatch: "0123456789abcdef" })).ok);
        assertEquals(await text(await s.get("cas")), "v2");
      });
      await t.step("a file larger than one part uploads in parts", async () => {
        const s = await make();
        const f = await randomFile(Math.floor(target.partSize * 2.5));
        files.push(f.path);
        ok((await s.put("big/a.bin", { path: f.path, size: f.size })).ok);
        assertEquals((await s.head("big/a.bin"))?.size, f.size);
        assertEquals(await sha256Of(await s.get("big/a.bin")), f.sha256);
        assertEquals(await keys(s, "big/"), ["big/a.bin"], "no part is visible as an object");
      });
    } else {
      await conditionSteps(t, target, make, files);
    }

    await t.step("a transient failure (HTTP 503) is retried by every call", async () => {
      const proxy = startFaultProxy(target.port);
      try {
        const s = await make({ port: proxy.port, retries: 3 });
        proxy.fail(1);
        ok((await s.put("t/x", { bytes: enc.encode("x") }, { ifAbsent: true })).ok, "put");
        proxy.fail(1);
        assertEquals((await s.head("t/x"))?.size, 1, "head");
        proxy.fail(1);
        assertEquals(await text(await s.get("t/x")), "x", "get");
        proxy.fail(1);
        assertEquals(await keys(s, "t/"), ["t/x"], "list");
        proxy.fail(1);
        await s.delete("t/x");
        assertEquals(proxy.injected, 5, "each call met one failure");
        assertEquals(await s.head("t/x"), undefined);
        const f = await randomFile(Math.floor(target.partSize * 1.5));
        files.push(f.path);
        proxy.fail(2);
        ok((await s.put("t/big", { path: f.path, size: f.size })).ok, "put in parts");
        assertEquals(await sha256Of(await s.get("t/big")), f.sha256);
      } finally {
        await proxy.close();
      }
    });

    await t.step(
      "a download cut mid-way is resumed from where it stopped, pinned to the object",
      async () => {
        const proxy = startFaultProxy(target.port);
        try {
          const logs: string[] = [];
          const s = await make({ port: proxy.port, retries: 3, log: (l) => logs.push(l) });
          const big = randomBytes(600_000);
          ok((await s.put("d/big", { bytes: big })).ok);
          proxy.cutResponse(200_000);
          assertEquals(await sha256Of(await s.get("d/big")), sha256(big));
          assertEquals(proxy.cuts, 1);
          ok(logs.some((l) => /broke at byte \d+; resuming \(1\/3\)/.test(l)), logs.join("\n"));
        } finally {
          await proxy.close();
        }
      },
    );

    await t.step(
      "an object replaced while it is read fails clearly instead of splicing two versions",
      async () => {
        const proxy = startFaultProxy(target.port);
        try {
          const s = await make({ port: proxy.port, retries: 3, log: () => {} });
          for (const size of [600_000, 700_000]) { // the same size, and another
            ok((await s.put("d/changing", { bytes: randomBytes(600_000) })).ok);
            proxy.cutResponse(200_000);
            const body = await s.get("d/changing");
            await new Promise((r) => setTimeout(r, 200)); // the cut happens
            ok((await s.put("d/changing", { bytes: randomBytes(size) })).ok); // another writer

            let failed: unknown;
            try {
              await sha256Of(body);
            } catch (e) {
              failed = e;
            }
            ok(
              failed instanceof Error &&
                /changed while it was read \(resuming at byte \d+ of 600000\)/.test(failed.message),
              String(failed),
            );
          }
        } finally {
          await proxy.close();
        }
      },
    );

    await t.step("a reader that stops early ends the download quietly: one GET, no resume", async () => {
      const proxy = startFaultProxy(target.port);
      try {
        const logs: string[] = [];
        const s = await make({ port: proxy.port, retries: 3, log: (l) => logs.push(l) });
        ok((await s.put("d/large", { bytes: randomBytes(4 << 20) })).ok);
        proxy.delayResponses(50); // the next read waits on the network when the reader stops
        for (let round = 0; round < 3; round++) {
          const before = proxy.gets;
          const reader = (await s.get("d/large"))!.getReader();
          const { value } = await reader.read(); // a few bytes, as diff reading a dump's head
          ok(value && value.length > 0 && value.length < 4 << 20);
          const pending = reader.read();
          await reader.cancel();
          await pending.catch(() => {});
          await new Promise((r) => setTimeout(r, 300)); // a resume would start within this
          assertEquals(logs, []);
          assertEquals(proxy.gets - before, 1, "one GET");
        }
      } finally {
        await proxy.close();
      }
    });

    await t.step("a failure that outlasts the retries is an error, not a hang", async () => {
      const proxy = startFaultProxy(target.port);
      try {
        const s = await make({ port: proxy.port, retries: 1 });
        proxy.fail(1000);
        let failed: unknown;
        try {
          await s.put("gone", { bytes: enc.encode("x") });
        } catch (e) {
          failed = e;
        }
        ok(failed instanceof Error, "the put throws");
        ok(proxy.injected >= 2, "it was tried and retried");
        proxy.fail(0);
        assertEquals(await s.head("gone"), undefined);
      } finally {
        await proxy.close();
      }
    });
  } finally {
    for (const f of files) await Deno.remove(f).catch(() => {});
  }
}

/** The steps of a service that honours `ifAbsent` and `ifMatch`, also under races and in parts. */
async function conditionSteps(
  t: Deno.TestContext,
  target: ContractTarget,
  make: (o?: Partial<ContractStoreOptions>) => Promise<ObjectStore>,
  files: string[],
): Promise<void> {
  await t.step("ifAbsent writes once; of racing writers exactly one wins", async () => {
    const s = await make();
    ok((await s.put("once", { bytes: enc.encode("first") }, { ifAbsent: true })).ok);
    assertEquals(await s.put("once", { bytes: enc.encode("second") }, { ifAbsent: true }), {
      ok: false,
      reason: "exists",
    });
    assertEquals(await text(await s.get("once")), "first");
    const results = await Promise.all(
      Array.from(
        { length: 6 },
        (_, i) => s.put("race", { bytes: enc.encode(`writer ${i}`) }, { ifAbsent: true }),
      ),
    );
    const winners = results.flatMap((r, i) => (r.ok ? [i] : []));
    assertEquals(winners.length, 1, `one winner: ${JSON.stringify(results)}`);
    ok(results.every((r) => r.ok || r.reason === "exists"));
    assertEquals(await text(await s.get("race")), `writer ${winners[0]}`);
  });

  await t.step("ifMatch swaps only the version it names; of racing swaps exactly one wins", async () => {
    const s = await make();
    const v1 = await s.put("cas", { bytes: enc.encode("v1") });
    ok(v1.ok);
    const v2 = await s.put("cas", { bytes: enc.encode("v2") }, { ifMatch: v1.etag });
    ok(v2.ok && v2.etag !== v1.etag, "a swap from the current ETag succeeds with a new ETag");
    assertEquals(await s.put("cas", { bytes: enc.encode("stale") }, { ifMatch: v1.etag }), {
      ok: false,
      reason: "changed",
    });
    assertEquals(await text(await s.get("cas")), "v2");
    assertEquals(await s.put("nothing", { bytes: enc.encode("x") }, { ifMatch: v1.etag }), {
      ok: false,
      reason: "changed",
    });
    assertEquals(await s.head("nothing"), undefined, "a failed swap creates nothing");
    const results = await Promise.all(
      Array.from(
        { length: 5 },
        (_, i) => s.put("cas", { bytes: enc.encode(`swap ${i}`) }, { ifMatch: v2.etag }),
      ),
    );
    const winners = results.flatMap((r, i) => (r.ok ? [i] : []));
    assertEquals(winners.length, 1, `one winner: ${JSON.stringify(results)}`);
    assertEquals(await text(await s.get("cas")), `swap ${winners[0]}`);
    assertEquals((await s.head("cas"))?.etag, (results[winners[0]] as { etag: string }).etag);
  });

  await t.step("a file larger than one part uploads in parts, also conditionally", async () => {
    const s = await make();
    const size = Math.floor(target.partSize * 2.5);
    const [a, b] = await Promise.all([randomFile(size), randomFile(size + 1)]);
    files.push(a.path, b.path);
    const put = await s.put("big/a.bin", { path: a.path, size: a.size }, { ifAbsent: true });
    ok(put.ok);
    assertEquals((await s.head("big/a.bin"))?.size, a.size);
    assertEquals(await sha256Of(await s.get("big/a.bin")), a.sha256);
    assertEquals(await s.put("big/a.bin", { path: b.path, size: b.size }, { ifAbsent: true }), {
      ok: false,
      reason: "exists",
    });
    assertEquals(await sha256Of(await s.get("big/a.bin")), a.sha256, "a refused upload leaves the object");
    const swapped = await s.put("big/a.bin", { path: b.path, size: b.size }, { ifMatch: put.etag });
    ok(swapped.ok);
    assertEquals(await sha256Of(await s.get("big/a.bin")), b.sha256);
    assertEquals(await s.put("big/a.bin", { path: a.path, size: a.size }, { ifMatch: put.etag }), {
      ok: false,
      reason: "changed",
    });
    assertEquals(await keys(s, "big/"), ["big/a.bin"], "no part is visible as an object");
  });

  await t.step("two racing uploads in parts of one key: one wins, its bytes intact", async () => {
    const s = await make();
    const size = Math.floor(target.partSize * 2.5);
    const [a, b] = await Promise.all([randomFile(size), randomFile(size)]);
    files.push(a.path, b.path);
    const [ra, rb] = await Promise.all([
      s.put("race.bin", { path: a.path, size }, { ifAbsent: true }),
      s.put("race.bin", { path: b.path, size }, { ifAbsent: true }),
    ]);
    assertEquals([ra.ok, rb.ok].filter(Boolean).length, 1, JSON.stringify([ra, rb]));
    assertEquals(await sha256Of(await s.get("race.bin")), ra.ok ? a.sha256 : b.sha256);
  });
}
