/**
 * A TCP proxy on 127.0.0.1 for tests and the benchmark: adds latency in each direction, can cut
 * every connection (to simulate a dropped network) or refuse new ones, and can hold one request
 * until the test lets it go (to put a change between a client's steps without racing it).
 * @module
 */

/** A running proxy. */
export interface Proxy {
  port: number;
  /** Connections accepted so far. */
  accepted: number;
  /** Closes every open connection at once (the server sees a dropped client). */
  cutAll(): void;
  /** Refuse (close immediately) new connections while true. */
  refuse: boolean;
  /**
   * Refuse new connections for `ms` from the first one that comes after this call (not from the
   * call: a client that starts slowly still meets the refusals), then serve again.
   */
  refuseFor(ms: number): void;
  /** Connections refused so far (by `refuse` or `refuseNext`). */
  refused: number;
  /**
   * Holds the first request from now on whose bytes (client to server) hold `marker`, such as
   * `GET /s3/docs/a.txt `: that read and everything after it on its connection wait until
   * `release()` (other connections go on). `held` resolves once such a request is held. A marker
   * cut between two reads is still found.
   */
  holdRequest(marker: string): { held: Promise<void>; release(): void };
  /** Releases what it holds, then closes the listener and every connection. */
  close(): Promise<void>;
}

/** A {@link Proxy.holdRequest} not yet met. */
interface Hold {
  marker: string;
  found(): void;
  released: Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function pump(
  from: Deno.TcpConn,
  to: Deno.TcpConn,
  delayMs: number,
  closed: () => boolean,
  gate?: (data: Uint8Array) => Promise<void> | undefined,
): Promise<void> {
  // Chunks are released in order, each no earlier than delayMs after it arrived.
  const queue: { at: number; data: Uint8Array }[] = [];
  let done = false;
  let wake: (() => void) | undefined;
  const writer = (async () => {
    while (!done || queue.length > 0) {
      const item = queue.shift();
      if (!item) {
        await new Promise<void>((r) => (wake = r));
        continue;
      }
      const wait = item.at - Date.now();
      if (wait > 0) await sleep(wait);
      if (closed()) return;
      try {
        let off = 0;
        while (off < item.data.length) off += await to.write(item.data.subarray(off));
      } catch {
        return;
      }
    }
  })();
  const buf = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      const n = await from.read(buf);
      if (n === null) break;
      const held = gate?.(buf.subarray(0, n)); // undefined (no wait) unless this read is held
      if (held) await held;
      queue.push({ at: Date.now() + delayMs, data: buf.slice(0, n) });
      wake?.();
    }
  } catch {
    // connection cut
  }
  done = true;
  wake?.();
  await writer;
  try {
    await to.closeWrite();
  } catch {
    // already closed
  }
}

/** Starts a proxy to `127.0.0.1:targetPort` adding `delayMs` each way (0 for none). */
export function startProxy(targetPort: number, delayMs = 0): Proxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.TcpConn>();
  let refusing: { ms: number; from?: number } | undefined;
  let hold: Hold | undefined;
  const releases: (() => void)[] = [];
  const latin1 = new TextDecoder("latin1");
  /** A connection's check of what its client sends against the hold (the end of its last read kept). */
  const gateOf = () => {
    let tail = "";
    return (data: Uint8Array): Promise<void> | undefined => {
      if (!hold) return undefined;
      const text = tail + latin1.decode(data);
      tail = text.slice(Math.max(0, text.length - (hold.marker.length - 1)));
      if (!text.includes(hold.marker)) return undefined;
      const h = hold;
      hold = undefined;
      h.found();
      return h.released;
    };
  };
  const refuseNow = () => {
    if (!refusing) return false;
    refusing.from ??= Date.now();
    if (Date.now() - refusing.from < refusing.ms) return true;
    refusing = undefined;
    return false;
  };
  const proxy: Proxy = {
    port: (listener.addr as Deno.NetAddr).port,
    accepted: 0,
    refuse: false,
    refused: 0,
    refuseFor(ms: number) {
      refusing = { ms };
    },
    cutAll() {
      for (const c of open) {
        try {
          c.close();
        } catch {
          // already closed
        }
      }
      open.clear();
    },
    holdRequest(marker: string) {
      let found!: () => void, release!: () => void;
      const held = new Promise<void>((r) => found = r);
      const released = new Promise<void>((r) => release = r);
      hold = { marker, found, released };
      releases.push(release);
      return { held, release };
    },
    async close() {
      hold = undefined;
      for (const r of releases) r();
      listener.close();
      proxy.cutAll();
      await accepting.catch(() => {});
    },
  };
  const accepting = (async () => {
    for await (const client of listener) {
      proxy.accepted++;
      if (proxy.refuse || refuseNow()) {
        proxy.refused++;
        client.close();
        continue;
      }
      let upstream: Deno.TcpConn;
      try {
        upstream = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
      } catch {
        client.close();
        continue;
      }
      // As libpq and the server do: without it, Nagle meets delayed ACKs and adds up to 40 ms a reply.
      client.setNoDelay(true);
      upstream.setNoDelay(true);
      open.add(client);
      open.add(upstream);
      let isClosed = false;
      const closed = () => isClosed;
      Promise.all([
        pump(client, upstream, delayMs, closed, gateOf()),
        pump(upstream, client, delayMs, closed),
      ]).finally(
        () => {
          isClosed = true;
          for (const c of [client, upstream]) {
            open.delete(c);
            try {
              c.close();
            } catch {
              // already closed
            }
          }
        },
      );
    }
  })();
  return proxy;
}
