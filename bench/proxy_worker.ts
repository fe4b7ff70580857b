/**
 * Runs the latency proxy (tests/support/proxy.ts) in a worker, so its copying does not share an
 * event loop with the benchmark's 20 ms memory sampling. Protocol: receives `{targetPort, delayMs}`,
 * answers `{port}`; receives `"close"`, answers `"closed"`.
 *
 * Both of the proxy's sockets get TCP_NODELAY, as libpq's and the server's own sockets have. Without
 * it, Nagle's algorithm on the proxy meets delayed ACKs on the peer and holds the tail of most
 * multi-segment replies (every COPY) for up to 40 ms, which a real network with the same RTT does
 * not do: a plain pg_dump of 200 tables at 20 ms RTT took 10.7 s with it and 6.9 s without.
 * @module
 */
/// <reference lib="deno.worker" />
import { type Proxy, startProxy } from "../tests/support/proxy.ts";

const connect = Deno.connect;
const listen = Deno.listen;
// deno-lint-ignore no-explicit-any
const denoNs = Deno as any;
denoNs.connect = async (o: Deno.ConnectOptions) => {
  const c = await connect(o);
  c.setNoDelay(true);
  return c;
};
denoNs.listen = (o: Deno.TcpListenOptions) => {
  const l = listen(o);
  const accept = l.accept.bind(l);
  Object.assign(l, {
    accept: async () => {
      const c = await accept();
      c.setNoDelay(true);
      return c;
    },
  });
  return l;
};

let proxy: Proxy | undefined;

self.onmessage = async (e: MessageEvent<{ targetPort: number; delayMs: number } | "close">) => {
  if (e.data === "close") {
    await proxy?.close();
    self.postMessage("closed");
    return;
  }
  proxy = startProxy(e.data.targetPort, e.data.delayMs);
  self.postMessage({ port: proxy.port });
};
