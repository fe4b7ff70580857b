/**
 * A raw HTTP/1.1 server on loopback for body-stall tests: each request (its line and headers) is
 * answered as `answer` says, either whole (then the connection closes) or with its headers and
 * the first `stallAfter` bytes of its body, then silence on a connection kept open until
 * {@link StallServer.close}.
 */

/** One request as received. */
export interface StallRequest {
  method: string;
  path: string;
  /** Header names in lower case. */
  headers: Record<string, string>;
}

/** How to answer one request. */
export interface StallAnswer {
  status: number;
  headers?: Record<string, string>;
  body: Uint8Array;
  /** Send only this many bytes of the body, then nothing more. */
  stallAfter?: number;
}

export interface StallServer {
  port: number;
  /** Every request so far, in order. */
  seen: StallRequest[];
  close(): Promise<void>;
}

const enc = new TextEncoder();

/** Starts the server; `answer` gets each request and its number (0 for the first). */
export function stallServer(answer: (req: StallRequest, n: number) => StallAnswer): StallServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const seen: StallRequest[] = [];
  const serveOne = async (c: Deno.Conn) => {
    let got = "";
    const buf = new Uint8Array(16 << 10);
    while (!got.includes("\r\n\r\n")) {
      const n = await c.read(buf);
      if (n === null) return;
      got += new TextDecoder().decode(buf.subarray(0, n));
    }
    const [line, ...rest] = got.slice(0, got.indexOf("\r\n\r\n")).split("\r\n");
    const [method, path] = line.split(" ");
    const headers: Record<string, string> = {};
    for (const h of rest) {
      const i = h.indexOf(":");
      if (i > 0) headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
    }
    const req = { method, path, headers };
    const a = answer(req, seen.length);
    seen.push(req);
    const head = Object.entries({
      "content-length": String(a.body.length),
      ...(a.stallAfter === undefined ? { connection: "close" } : {}),
      ...a.headers,
    }).map(([k, v]) => `${k}: ${v}\r\n`).join("");
    await writeAll(c, enc.encode(`HTTP/1.1 ${a.status} X\r\n${head}\r\n`));
    await writeAll(c, a.stallAfter === undefined ? a.body : a.body.subarray(0, a.stallAfter));
    if (a.stallAfter === undefined) {
      conns.delete(c);
      c.close();
    }
    // stalled: the connection stays open, silent, until close()
  };
  const accepting = (async () => {
    for await (const c of listener) {
      conns.add(c);
      serveOne(c).catch(() => {});
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    seen,
    close: async () => {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed by the client */ }
      }
      await accepting;
    },
  };
}

async function writeAll(c: Deno.Conn, b: Uint8Array): Promise<void> {
  for (let off = 0; off < b.length;) off += await c.write(b.subarray(off));
}

/** Rejects with `what` when `p` has not settled within `ms` (a guard against a hang, not a timing check). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let id: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    id = setTimeout(() => reject(new Error(`${what}: still waiting after ${ms / 1000} s (hangs)`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(id));
}
