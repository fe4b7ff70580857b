/**
 * Compression of stored backup files as web streams: gzip through node:zlib, zstd through node:zlib
 * to write and the `zstd` CLI to read. Apart from encode.ts, so that reading a backup (decode.ts)
 * does not load the age library, which only encryption and decryption need.
 * @module
 */
import type { Transform } from "node:stream";
import zlib from "node:zlib";
import { abortSignal } from "../base/interrupt.ts";

/** A compression method of stored files. */
export type Compression = "gzip" | "zstd";

/**
 * Wraps a node:zlib transform as a web TransformStream. Its errors (e.g. corrupt input) reject the
 * stream instead of escaping as uncaught events.
 */
function webTransform(z: Transform): TransformStream<Uint8Array, Uint8Array> {
  let failed: unknown;
  return new TransformStream<Uint8Array, Uint8Array>({
    start(c) {
      z.on("data", (d: Uint8Array) => c.enqueue(new Uint8Array(d.buffer, d.byteOffset, d.byteLength)));
      z.on("error", (e) => {
        failed ??= e;
        try {
          c.error(e);
        } catch {
          // already errored
        }
      });
    },
    transform(chunk) {
      if (failed) return Promise.reject(failed);
      return new Promise((resolve, reject) => z.write(chunk, (e) => e ? reject(e) : resolve()));
    },
    flush() {
      if (failed) return Promise.reject(failed);
      return new Promise((resolve, reject) => {
        z.once("end", resolve);
        z.once("error", reject);
        z.end();
      });
    },
    cancel() {
      z.destroy();
    },
  });
}

/** A web TransformStream that compresses with `c`. */
export function compressor(c: Compression): TransformStream<Uint8Array, Uint8Array> {
  return webTransform(c === "gzip" ? zlib.createGzip() : zlib.createZstdCompress());
}

/**
 * Decompresses `input` (compressed with `c`) as a stream. gzip uses node:zlib; zstd runs the `zstd`
 * CLI, because Deno's node:zlib zstd decoder throws an uncatchable error on corrupt input. Corrupt
 * input, or a missing `zstd` program, errors the returned stream.
 */
export function decompress(input: ReadableStream<Uint8Array>, c: Compression): ReadableStream<Uint8Array> {
  if (c === "gzip") return input.pipeThrough(webTransform(zlib.createGunzip()));
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("zstd", {
      args: ["-d", "-c", "-q"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      signal: abortSignal,
    }).spawn();
  } catch (e) {
    input.cancel().catch(() => {});
    const err = e instanceof Deno.errors.NotFound
      ? new Error("the zstd program is needed to read .zst files; install zstd (apt-get install zstd)")
      : e;
    return new ReadableStream({ start: (c) => c.error(err) });
  }
  const feeding = input.pipeTo(child.stdin).catch(() => {});
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(ctl) {
      const r = await reader.read();
      if (!r.done) return ctl.enqueue(r.value);
      await feeding;
      const status = await child.status;
      if (status.success) return ctl.close();
      const msg = (await stderr).trim().split("\n").pop()?.replace(/^.*?: /, "") || `exit ${status.code}`;
      ctl.error(new Error(`zstd cannot decompress it: ${msg}`));
    },
    async cancel() {
      try {
        child.kill();
      } catch {
        // already ended
      }
      await reader.cancel().catch(() => {});
      await stderr.catch(() => {});
      await child.status;
    },
  });
}
