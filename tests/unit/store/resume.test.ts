import { deepStrictEqual as assertEquals, ok, rejects } from "node:assert/strict";
import { BackupError } from "../../../lib/base/errors.ts";
import { type RangeAnswer, rangeAnswerProblem, resumableBody } from "../../../lib/store/resume.ts";

const first = { etag: '"abc"', size: 10 };

Deno.test("rangeAnswerProblem: only a 206 of the same ETag, from the offset to the end of the same size", () => {
  const ok206 = { status: 206, etag: '"abc"', contentRange: "bytes 4-9/10" };
  assertEquals(rangeAnswerProblem(first, 4, ok206), undefined);
  assertEquals(rangeAnswerProblem({ etag: "abc", size: 10 }, 4, { ...ok206, etag: 'W/"abc"' }), undefined);
  const problems = [
    { ...ok206, status: 412 },
    { ...ok206, status: 200 },
    { ...ok206, etag: '"new"' }, // a service that ignores If-Match answers with the new version
    { ...ok206, etag: "" },
    { ...ok206, contentRange: "bytes 4-11/12" },
    { ...ok206, contentRange: "bytes 0-9/10" },
    { ...ok206, contentRange: "bytes 4-9/*" },
    { ...ok206, contentRange: undefined },
  ];
  for (const p of problems) ok(rangeAnswerProblem(first, 4, p), JSON.stringify(p));
  ok(/ETag is now new, not abc/.test(rangeAnswerProblem(first, 4, problems[2])!));
});

const bytes = (from: number, to: number) => Uint8Array.from({ length: to - from }, (_, i) => from + i);

/** A body that hands out `chunks`, then fails (a cut connection). */
function breaking(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(ctl) {
      if (i < chunks.length) ctl.enqueue(chunks[i++]);
      else ctl.error(new TypeError("connection reset"));
    },
  });
}

async function readAll(s: ReadableStream<Uint8Array>): Promise<number[]> {
  return [...new Uint8Array(await new Response(s).arrayBuffer())];
}

Deno.test("resumableBody: a body that breaks goes on from where it stopped, pinned to the ETag", async () => {
  const logs: string[] = [];
  const asked: [number, string][] = [];
  const body = resumableBody({ ...first, body: breaking([bytes(0, 3), bytes(3, 4)]) }, {
    what: "S3 get b/k",
    retries: 3,
    log: (l) => logs.push(l),
    backoff: () => 0,
    rangeFrom: (offset, etag): Promise<RangeAnswer> => {
      asked.push([offset, etag]);
      const rest = asked.length === 1 ? breaking([bytes(offset, 7)]) : new Blob([bytes(offset, 10)]).stream();
      return Promise.resolve({ status: 206, etag, contentRange: `bytes ${offset}-9/10`, body: rest });
    },
  });
  assertEquals(await readAll(body), [...bytes(0, 10)]);
  assertEquals(asked, [[4, '"abc"'], [7, '"abc"']]);
  assertEquals(logs, [
    "S3 get b/k broke at byte 4; resuming (1/3)",
    "S3 get b/k broke at byte 7; resuming (2/3)",
  ]);
});

Deno.test("resumableBody: a body that ends short is resumed; after the retries the break is thrown", async () => {
  const short = () => new Blob([bytes(0, 2)]).stream();
  const body = resumableBody({ ...first, body: short() }, {
    what: "w",
    retries: 1,
    log: () => {},
    backoff: () => 0,
    rangeFrom: (o, etag) =>
      Promise.resolve({ status: 206, etag, contentRange: `bytes ${o}-9/10`, body: breaking([]) }),
  });
  await rejects(readAll(body), /connection reset/);
});

Deno.test("resumableBody: an object replaced meanwhile fails clearly instead of splicing two versions", async () => {
  const body = resumableBody({ ...first, body: breaking([bytes(0, 4)]) }, {
    what: "S3 get b/k",
    retries: 3,
    log: () => {},
    backoff: () => 0,
    // the Supabase Storage server ignores If-Match: the new version's bytes, with its own ETag
    rangeFrom: (o) =>
      Promise.resolve({
        status: 206,
        etag: '"new"',
        contentRange: `bytes ${o}-9/10`,
        body: new Blob([bytes(100, 106)]).stream(),
      }),
  });
  await rejects(readAll(body), (e: unknown) => {
    ok(e instanceof BackupError, String(e));
    ok(
      /^S3 get b\/k changed while it was read \(resuming at byte 4 of 10\): its ETag is now new/.test(
        e.message,
      ),
    );
    return true;
  });
});

Deno.test("resumableBody: a reader that cancels ends the download: no resume, no request", async () => {
  // The pending read of a cancelled body ends as done (as a fetch body's does): not a break.
  let pulls = 0;
  const slow = new ReadableStream<Uint8Array>({
    pull(ctl) {
      if (pulls++ === 0) ctl.enqueue(bytes(0, 2));
      return new Promise(() => {}); // the network is slow: the next bytes never come
    },
  }, { highWaterMark: 0 });
  const logs: string[] = [];
  let asked = 0;
  const body = resumableBody({ ...first, body: slow }, {
    what: "w",
    retries: 3,
    log: (l) => logs.push(l),
    backoff: () => 0,
    rangeFrom: () => {
      asked++;
      return Promise.reject(new Error("no request after a cancel"));
    },
  });
  const reader = body.getReader();
  assertEquals((await reader.read()).value, bytes(0, 2));
  const pending = reader.read(); // waits on the network
  await new Promise((r) => setTimeout(r, 10));
  await reader.cancel();
  assertEquals((await pending).done, true);
  await new Promise((r) => setTimeout(r, 10));
  assertEquals([logs, asked], [[], 0]);
});

Deno.test("resumableBody: a reader that cancels while the resume is asked for leaves its answer unread", async () => {
  let answer!: (a: RangeAnswer) => void;
  let restCancelled = false;
  const rest = new ReadableStream<Uint8Array>({
    cancel() {
      restCancelled = true;
    },
  });
  const body = resumableBody({ ...first, body: breaking([bytes(0, 2)]) }, {
    what: "w",
    retries: 3,
    log: () => {},
    backoff: () => 0,
    rangeFrom: () => new Promise((r) => answer = r),
  });
  const reader = body.getReader();
  await reader.read();
  const pending = reader.read(); // the break, then the ranged GET that waits
  await new Promise((r) => setTimeout(r, 10));
  await reader.cancel();
  answer({ status: 206, etag: first.etag, contentRange: "bytes 2-9/10", body: rest });
  await pending;
  await new Promise((r) => setTimeout(r, 10));
  ok(restCancelled, "the resumed answer's body is cancelled, not left open");
});

Deno.test("resumableBody: without an ETag or a length a break is thrown as it is", async () => {
  for (const f of [{ etag: "", size: 10 }, { etag: '"a"', size: NaN }]) {
    const body = resumableBody({ ...f, body: breaking([bytes(0, 1)]) }, {
      what: "w",
      retries: 3,
      log: () => {},
      rangeFrom: () => Promise.reject(new Error("not asked")),
    });
    await rejects(readAll(body), /connection reset/);
  }
});
