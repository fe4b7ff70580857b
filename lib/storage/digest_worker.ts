/**
 * The worker of lib/storage/digest.ts {@link HashPool}: it keeps a sha256 and an MD5 per stream id
 * and, for each message, updates them with a chunk it was handed (transferred, not copied) and
 * hands the chunk's buffer back, or sends the hex digests and forgets the stream, or forgets it.
 * Messages of one stream are handled in the order they were posted, so its hashes see its bytes
 * in order. Once loaded, it says it is ready.
 * @module
 */
import { createHash, type Hash } from "node:crypto";
import type { DigestReply, DigestRequest } from "./digest.ts";

const streams = new Map<number, { sha: Hash; md5: Hash }>();
const scope = self as unknown as {
  onmessage: ((e: MessageEvent<DigestRequest>) => void) | null;
  postMessage(m: DigestReply, transfer?: Transferable[]): void;
};

function of(id: number): { sha: Hash; md5: Hash } {
  let s = streams.get(id);
  if (!s) streams.set(id, s = { sha: createHash("sha256"), md5: createHash("md5") });
  return s;
}

scope.onmessage = (e) => {
  const m = e.data;
  if (m.op === "update") {
    const s = of(m.id);
    const view = new Uint8Array(m.buffer, 0, m.length);
    s.sha.update(view);
    s.md5.update(view);
    scope.postMessage({ id: m.id, buffer: m.buffer }, [m.buffer]);
  } else if (m.op === "digest") {
    const s = of(m.id);
    streams.delete(m.id);
    scope.postMessage({ id: m.id, sha256: s.sha.digest("hex"), md5: s.md5.digest("hex") });
  } else {
    streams.delete(m.id);
  }
};
scope.postMessage({ id: 0, ready: true });
