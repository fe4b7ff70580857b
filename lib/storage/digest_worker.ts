/**
 * The worker of lib/storage/digest.ts {@link HashPool}: it keeps a sha256 per stream id and, for
 * each message, updates it with a chunk it was handed (transferred, not copied) and hands the
 * chunk's buffer back, or sends the hex digest and forgets the stream, or forgets it. Messages of
 * one stream are handled in the order they were posted, so its hash sees its bytes in order. Once
 * loaded, it says it is ready.
 * @module
 */
import { createHash, type Hash } from "node:crypto";
import type { DigestReply, DigestRequest } from "./digest.ts";

const streams = new Map<number, Hash>();
const scope = self as unknown as {
  onmessage: ((e: MessageEvent<DigestRequest>) => void) | null;
  postMessage(m: DigestReply, transfer?: Transferable[]): void;
};

function of(id: number): Hash {
  let s = streams.get(id);
  if (!s) streams.set(id, s = createHash("sha256"));
  return s;
}

scope.onmessage = (e) => {
  const m = e.data;
  if (m.op === "update") {
    of(m.id).update(new Uint8Array(m.buffer, 0, m.length));
    scope.postMessage({ id: m.id, buffer: m.buffer }, [m.buffer]);
  } else if (m.op === "digest") {
    const s = of(m.id);
    streams.delete(m.id);
    scope.postMessage({ id: m.id, sha256: s.digest("hex") });
  } else {
    streams.delete(m.id);
  }
};
scope.postMessage({ id: 0, ready: true });
