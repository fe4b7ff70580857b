import { deepStrictEqual as assertEquals, ok, throws } from "node:assert/strict";
import { ByteBudget, UPLOAD_BUFFER_BYTES, uploadBudget } from "../../../lib/store/object.ts";

const tick = () => new Promise((r) => setTimeout(r, 0));

/** A task that runs until `release()` is called, recording that it started. */
function gate(started: string[], name: string) {
  let release!: () => void;
  const done = new Promise<void>((r) => release = r);
  return {
    task: async () => {
      started.push(name);
      await done;
      return name;
    },
    release: () => release(),
  };
}

Deno.test("ByteBudget: tasks run while their bytes fit, the rest wait in order", async () => {
  const b = new ByteBudget(10);
  const started: string[] = [];
  const a = gate(started, "a"), c = gate(started, "c"), d = gate(started, "d"), e = gate(started, "e");
  const runs = [b.use(6, a.task), b.use(6, c.task), b.use(1, d.task), b.use(4, e.task)];
  await tick();
  // c does not fit beside a; d would fit but waits behind c (first come, first served)
  assertEquals(started, ["a"]);
  assertEquals([b.used, b.waiting], [6, 3]);
  a.release();
  await tick();
  assertEquals(started, ["a", "c", "d"]);
  assertEquals([b.used, b.waiting], [7, 1]);
  c.release();
  await tick();
  assertEquals(started, ["a", "c", "d", "e"]);
  d.release();
  e.release();
  assertEquals(await Promise.all(runs), ["a", "c", "d", "e"]);
  assertEquals([b.used, b.waiting], [0, 0]);
});

Deno.test("ByteBudget: a request above the limit runs alone, a failing task gives its bytes back", async () => {
  const b = new ByteBudget(10);
  const started: string[] = [];
  const small = gate(started, "small");
  const runs = [b.use(3, small.task), b.use(50, () => Promise.resolve(started.push("big")))];
  await tick();
  assertEquals(started, ["small"]);
  small.release();
  await Promise.all(runs);
  assertEquals(started, ["small", "big"]);
  await b.use(10, () => Promise.reject(new Error("boom"))).catch(() => {});
  assertEquals(b.used, 0);
  assertEquals(await b.use(10, () => Promise.resolve(1)), 1);
  throws(() => new ByteBudget(0), RangeError);
});

Deno.test("ByteBudget.useBuffer: buffers of the asked length, reused, kept within the limit", async () => {
  const b = new ByteBudget(10);
  let first: ArrayBufferLike | undefined;
  await b.useBuffer(6, (buf) => {
    assertEquals(buf.length, 6);
    first = buf.buffer;
    return Promise.resolve();
  });
  await b.useBuffer(4, (buf) => {
    assertEquals(buf.length, 4);
    ok(buf.buffer === first, "a kept buffer large enough is reused");
    return Promise.resolve();
  });
  await Promise.all([
    b.useBuffer(5, () => Promise.resolve()),
    b.useBuffer(5, () => Promise.resolve()),
  ]);
  ok(b.kept.bytes <= b.limit, `kept ${b.kept.bytes} bytes, limit ${b.limit}`);
  assertEquals(uploadBudget.limit, UPLOAD_BUFFER_BYTES);
});
