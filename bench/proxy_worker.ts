/**
 * Runs the latency proxy (tests/support/proxy.ts) in a worker, so its copying does not share an
 * event loop with the benchmark's 20 ms memory sampling. Protocol: receives `{targetPort, delayMs}`,
 * answers `{port}`; receives `"close"`, answers `"closed"`.
 * @module
 */
/// <reference lib="deno.worker" />
import { type Proxy, startProxy } from "../tests/support/proxy.ts";

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
