/**
 * Streams `pg_restore --data-only` plain output into data.sql, counting COPY rows on the way and,
 * when the file would exceed the size limit, ending the COPY and continuing in a new part that
 * repeats the header and the COPY line. Each part restores on its own with psql, in order.
 * @module
 */
import type { FileSink, Written } from "./sink.ts";

/** The result of one split run. */
export interface SplitResult {
  rows: number;
  parts: Written[];
}

const NL = 10;
const enc = new TextEncoder();
const COPY = enc.encode("COPY ");
const END = enc.encode("\\.");
const RESTRICT = enc.encode("\\restrict ");

function startsWith(buf: Uint8Array, start: number, end: number, prefix: Uint8Array): boolean {
  if (end - start < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (buf[start + i] !== prefix[i]) return false;
  return true;
}

function isEnd(buf: Uint8Array, start: number, end: number): boolean {
  // the line without its newline is exactly "\."
  return end - start === 3 && buf[start] === END[0] && buf[start + 1] === END[1];
}

/**
 * Copies `input` into parts opened by `openPart(n)` (1-based). `maxBytes` bounds each part; a part
 * always holds at least one row, so a single row larger than the limit still goes through.
 */
export async function splitCopyStream(
  input: ReadableStream<Uint8Array>,
  maxBytes: number,
  openPart: (n: number) => Promise<FileSink>,
): Promise<SplitResult> {
  const header: Uint8Array[] = [];
  let copyLine: Uint8Array | undefined;
  let restrictKey: string | undefined;
  let state: "header" | "copy" | "after" = "header";
  let rows = 0;
  let rowsInPart = 0;
  const parts: Written[] = [];
  let sink = await openPart(1);
  let carry: Uint8Array | undefined;

  const closeForSplit = async () => {
    await sink.write(enc.encode("\\.\n"));
    if (restrictKey) await sink.write(enc.encode(`\n\\unrestrict ${restrictKey}\n`));
    parts.push(await sink.close());
    sink = await openPart(parts.length + 1);
    for (const h of header) await sink.write(h);
    await sink.write(copyLine!);
    rowsInPart = 0;
  };

  const handleLine = async (buf: Uint8Array, start: number, end: number) => {
    const line = buf.subarray(start, end);
    if (state === "header") {
      if (startsWith(buf, start, end, COPY)) {
        state = "copy";
        copyLine = line.slice();
        await sink.write(line);
        return;
      }
      if (startsWith(buf, start, end, RESTRICT)) {
        restrictKey = new TextDecoder().decode(line).slice(RESTRICT.length).trim();
      }
      header.push(line.slice());
      await sink.write(line);
      return;
    }
    if (state === "copy") {
      if (isEnd(buf, start, end)) {
        state = "after";
        await sink.write(line);
        return;
      }
      if (rowsInPart > 0 && sink.bytes + line.length + 64 > maxBytes) await closeForSplit();
      rows++;
      rowsInPart++;
      await sink.write(line);
      return;
    }
    // after the COPY: sequence values and the closing lines
    if (startsWith(buf, start, end, COPY)) {
      state = "copy";
      copyLine = line.slice();
    }
    await sink.write(line);
  };

  try {
    for await (const chunk of input) {
      let buf = chunk;
      if (carry) {
        buf = new Uint8Array(carry.length + chunk.length);
        buf.set(carry);
        buf.set(chunk, carry.length);
        carry = undefined;
      }
      let pos = 0;
      while (pos < buf.length) {
        const nl = buf.indexOf(NL, pos);
        if (nl === -1) break;
        await handleLine(buf, pos, nl + 1);
        pos = nl + 1;
      }
      if (pos < buf.length) carry = buf.slice(pos);
    }
    if (carry) await handleLine(carry, 0, carry.length);
    parts.push(await sink.close());
  } catch (e) {
    sink.abandon();
    throw e;
  }
  return { rows, parts };
}
