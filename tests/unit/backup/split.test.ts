import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { rejects as assertRejects } from "node:assert/strict";
import { CopyHeaderError, HOLD_LIMIT, splitCopyStream } from "../../../lib/backup/split.ts";
import { FileSink } from "../../../lib/store/sink.ts";

function streamOf(text: string, chunk = 7): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let off = 0;
  return new ReadableStream({
    pull(c) {
      if (off >= bytes.length) return c.close();
      c.enqueue(bytes.slice(off, off + chunk));
      off += chunk;
    },
  });
}

const HEADER = "--\n-- dump\n--\n\n\\restrict KEY1\n\nSET client_encoding = 'UTF8';\n\n";
const rows = Array.from({ length: 50 }, (_, i) => `${i}\trow number ${i}\t\\N\n`).join("");
const INPUT = `${HEADER}COPY public.t (id, name, x) FROM stdin;\n${rows}\\.\n\n` +
  "SELECT pg_catalog.setval('public.t_id_seq', 50, true);\n\n\\unrestrict KEY1\n";

async function run(max: number, chunk: number, input = INPUT) {
  const dir = await Deno.makeTempDir();
  const paths: string[] = [];
  const r = await splitCopyStream(streamOf(input, chunk), max, (n) => {
    paths.push(`${dir}/part${n}`);
    return FileSink.open(`${dir}/part${n}`);
  });
  const texts = await Promise.all(paths.map((p) => Deno.readTextFile(p)));
  await Deno.remove(dir, { recursive: true });
  return { r, texts };
}

Deno.test("one part when under the limit: identical to the input, rows counted", async () => {
  for (const chunk of [1, 7, 4096]) {
    const { r, texts } = await run(1 << 20, chunk);
    assertEquals(r.rows, 50);
    assertEquals(texts, [INPUT]);
    assertEquals(r.parts[0].bytes, new TextEncoder().encode(INPUT).length);
  }
});

Deno.test("split parts each restore on their own: header, COPY, rows, terminator, unrestrict", async () => {
  const { r, texts } = await run(400, 13);
  assertEquals(r.rows, 50);
  assertEquals(texts.length > 2, true);
  let seen = 0;
  for (const [i, t] of texts.entries()) {
    assertEquals(
      t.startsWith(HEADER + "COPY public.t (id, name, x) FROM stdin;\n"),
      true,
      `part ${i + 1} header`,
    );
    assertEquals(t.includes("\\.\n"), true);
    assertEquals(t.trimEnd().endsWith("\\unrestrict KEY1"), true, `part ${i + 1} end`);
    const body = t.slice(t.indexOf("FROM stdin;\n") + 12, t.indexOf("\\.\n"));
    const lines = body.split("\n").filter(Boolean);
    for (const l of lines) assertEquals(l, `${seen}\trow number ${seen++}\t\\N`);
    if (i < texts.length - 1) assertEquals(new TextEncoder().encode(t).length <= 400 + 64, true);
  }
  assertEquals(seen, 50);
  assertEquals(texts[texts.length - 1].includes("setval"), true);
  assertEquals(texts.slice(0, -1).some((t) => t.includes("setval")), false);
});

Deno.test("a row larger than the limit still goes through, one row per part", async () => {
  const { r, texts } = await run(10, 5);
  assertEquals(r.rows, 50);
  assertEquals(texts.length, 50);
});

Deno.test("a COPY statement spanning lines: rows counted exactly, every part repeats the whole statement", async () => {
  // Quoted names holding newlines, a line like a row, a `\.` line and a `FROM stdin;` line.
  const copy = 'COPY public."t\n1\tx\n\\.\nFROM stdin;\n" ("a""\n\\.\nb", name) FROM stdin;\n';
  const input = `${HEADER}${copy}${rows}\\.\n\n\\unrestrict KEY1\n`;
  for (const [max, chunk] of [[1 << 20, 3], [400, 1], [400, 13], [400, 4096]]) {
    const { r, texts } = await run(max, chunk, input);
    assertEquals(r.rows, 50, `rows (max ${max}, chunks of ${chunk})`);
    if (max > 1000) assertEquals(texts, [input]);
    else assertEquals(texts.length > 2, true);
    let seen = 0;
    for (const t of texts) {
      assertEquals(t.startsWith(HEADER + copy), true, t.slice(0, 200));
      const body = t.slice((HEADER + copy).length, t.indexOf("\\.\n", (HEADER + copy).length));
      for (const l of body.split("\n").filter(Boolean)) assertEquals(l, `${seen}\trow number ${seen++}\t\\N`);
    }
    assertEquals(seen, 50);
  }
});

Deno.test("a COPY statement that does not end with FROM stdin; is refused, as is one that never ends", async () => {
  for (const input of [`${HEADER}COPY public."t\n" (a);\n1\n\\.\n`, `${HEADER}COPY public."t\n1\n`]) {
    const dir = await Deno.makeTempDir();
    await assertRejects(
      () => splitCopyStream(streamOf(input), 1 << 20, (n) => FileSink.open(`${dir}/part${n}`)),
      CopyHeaderError,
    );
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parts are the same at any chunk size: a row cut by a chunk boundary moves whole when it does not fit", async () => {
  const input = `${HEADER}COPY public.t (id, name, x) FROM stdin;\n` +
    Array.from({ length: 40 }, (_, i) => `${i}\t${"v".repeat((i * 37) % 300)}\t\\N\n`).join("") +
    "\\.\n\n\\unrestrict KEY1\n";
  for (const max of [200, 1200, 5000]) {
    const whole = await run(max, input.length, input);
    for (const chunk of [1, 13, 333]) {
      const { r, texts } = await run(max, chunk, input);
      assertEquals(texts, whole.texts, `max ${max}, chunks of ${chunk}`);
      assertEquals(r.rows, 40);
      assertEquals(r.parts.map((p) => p.bytes), whole.r.parts.map((p) => p.bytes));
      assertEquals(r.parts.map((p) => p.sha256), whole.r.parts.map((p) => p.sha256));
    }
  }
});

Deno.test("a value far larger than the hold limit: written as it arrives, moved whole to the next part when it outgrows its part", async () => {
  const big = `7\t\\\\x${"ab".repeat(3 * HOLD_LIMIT)}\t\\N\n`; // one 6 MiB row
  const small = (from: number, n: number) =>
    Array.from({ length: n }, (_, i) => `${from + i}\trow number ${from + i}\t\\N\n`).join("");
  const copy = "COPY public.t (id, name, x) FROM stdin;\n";
  const input = `${HEADER}${copy}${small(0, 3)}${big}${small(10, 2)}\\.\n\n\\unrestrict KEY1\n`;
  const bytes = new TextEncoder().encode(input);
  for (const [max, chunk] of [[3 * HOLD_LIMIT, 65536], [3 * HOLD_LIMIT, 1000003], [20 * HOLD_LIMIT, 65536]]) {
    const dir = await Deno.makeTempDir();
    const sinks: FileSink[] = [];
    let sent = 0;
    let lag = 0;
    const input$ = new ReadableStream<Uint8Array>({
      pull(c) {
        // What was sent and not yet handed to a part: never more than a chunk plus the hold limit.
        lag = Math.max(lag, sent - sinks.reduce((n, s) => n + s.bytes, 0));
        if (sent >= bytes.length) return c.close();
        c.enqueue(bytes.slice(sent, sent + chunk));
        sent += chunk;
      },
    }, { highWaterMark: 0 });
    const r = await splitCopyStream(input$, max, async (n) => {
      const s = await FileSink.open(`${dir}/part${n}`);
      sinks.push(s);
      return s;
    });
    const texts = await Promise.all(r.parts.map((_, i) => Deno.readTextFile(`${dir}/part${i + 1}`)));
    await Deno.remove(dir, { recursive: true });
    assertEquals(r.rows, 6);
    ok(lag <= chunk + HOLD_LIMIT, `lag ${lag} with chunks of ${chunk}`);
    const end = "\\.\n\n\\unrestrict KEY1\n";
    if (max > bytes.length) assertEquals(texts, [input]);
    else {
      assertEquals(texts, [
        `${HEADER}${copy}${small(0, 3)}${end}`,
        `${HEADER}${copy}${big}${end}`, // alone: larger than a part
        `${HEADER}${copy}${small(10, 2)}${end}`,
      ]);
      assertEquals(r.parts.map((p) => p.bytes), texts.map((t) => new TextEncoder().encode(t).length));
    }
  }
});
