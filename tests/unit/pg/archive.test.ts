import { deepStrictEqual as assertEquals, rejects, throws } from "node:assert/strict";
import { join } from "node:path";
import { ArchiveError, parseArchive, readArchive, writeArchive } from "../../../lib/pg/archive.ts";

const enc = new TextEncoder();

function int(v: number): number[] {
  const a = Math.abs(v);
  return [v < 0 ? 1 : 0, a & 255, (a >> 8) & 255, (a >> 16) & 255, (a >>> 24) & 255];
}
function str(s: string | null): number[] {
  if (s === null) return int(-1);
  const b = [...enc.encode(s)];
  return [...int(b.length), ...b];
}
function off(flag: number, pos: number): number[] {
  const out = [flag];
  for (let i = 0; i < 8; i++) out.push(Math.floor(pos / 2 ** (8 * i)) % 256);
  return out;
}

interface Spec {
  id: number;
  desc: string;
  ns: string | null;
  tag: string;
  deps: number[];
  data?: Uint8Array[];
}

/** A version 1.16 custom-format archive as pg_dump writes one (header, TOC, data blocks). */
function archive(entries: Spec[]): Uint8Array {
  const header = [
    ...enc.encode("PGDMP"),
    1,
    16,
    0,
    4,
    8,
    1,
    0,
    ...[0, 1, 2, 3, 4, 5, 6].flatMap(int),
    ...str("db"),
    ...str("17.0"),
    ...str("17.0"),
  ];
  const toc = (pos: Map<number, number>) => [
    ...int(entries.length),
    ...entries.flatMap((e) => [
      ...int(e.id),
      ...int(e.data ? 1 : 0),
      ...str("1259"),
      ...str(String(16000 + e.id)),
      ...str(e.tag),
      ...str(e.desc),
      ...int(1),
      ...str(`-- ${e.tag}`),
      ...str(""),
      ...str(null),
      ...str(e.ns),
      ...str(""),
      ...str("heap"),
      ...int(114),
      ...str("postgres"),
      ...str("false"),
      ...e.deps.flatMap((d) => str(String(d))),
      ...str(null),
      ...(e.data ? off(2, pos.get(e.id)!) : off(3, 0)),
    ]),
  ];
  const pos = new Map<number, number>();
  let at = header.length + toc(new Map(entries.map((e) => [e.id, 0]))).length;
  const blocks: Uint8Array[] = [];
  for (const e of entries) {
    if (!e.data) continue;
    pos.set(e.id, at);
    const b = [
      new Uint8Array([1, ...int(e.id)]),
      ...e.data.flatMap((c) => [new Uint8Array(int(c.length)), c]),
    ];
    b.push(new Uint8Array(int(0)));
    blocks.push(...b);
    at += b.reduce((n, x) => n + x.length, 0);
  }
  const parts = [new Uint8Array(header), new Uint8Array(toc(pos)), ...blocks];
  const out = new Uint8Array(parts.reduce((n, x) => n + x.length, 0));
  parts.reduce((o, x) => (out.set(x, o), o + x.length), 0);
  return out;
}

const SPECS: Spec[] = [
  { id: 1, desc: "ENCODING", ns: null, tag: "ENCODING", deps: [] },
  { id: 3, desc: "TABLE", ns: "a", tag: "t", deps: [] },
  { id: 4, desc: "TABLE", ns: "b", tag: "u", deps: [] },
  { id: 7, desc: "TABLE DATA", ns: "a", tag: "t", deps: [3], data: [enc.encode("1\n"), enc.encode("2\n")] },
  { id: 9, desc: "TABLE DATA", ns: "b", tag: "u", deps: [4], data: [new Uint8Array(3 << 20).fill(7)] },
];

Deno.test("parseArchive reads the header and TOC, and asks for more when the buffer ends early", () => {
  const bytes = archive(SPECS);
  const a = parseArchive(bytes, true);
  if (a === "more") throw new Error("more");
  assertEquals(a.version, (1 * 256 + 16) * 256);
  assertEquals(a.entries.map((e) => [e.dumpId, e.desc, e.namespace, e.tag, e.deps, e.hasData]), [
    [1, "ENCODING", null, "ENCODING", [], false],
    [3, "TABLE", "a", "t", [], false],
    [4, "TABLE", "b", "u", [], false],
    [7, "TABLE DATA", "a", "t", [3], true],
    [9, "TABLE DATA", "b", "u", [4], true],
  ]);
  assertEquals(a.entries[3].catalogOid, 1259);
  assertEquals(a.entries[3].objectOid, 16007);
  assertEquals(parseArchive(bytes.subarray(0, 200), false), "more");
  throws(() => parseArchive(bytes.subarray(0, 200), true), ArchiveError);
  throws(() => parseArchive(enc.encode("PGDMQ"), true), /not a pg_dump custom-format archive/);
  const old = bytes.slice();
  old[6] = 9; // version 1.9
  throws(() => parseArchive(old, true), /archive version 1\.9\.0 is not supported/);
});

Deno.test("writeArchive keeps the chosen entries with their data, at new offsets", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const src = join(dir, "all.dump");
    await Deno.writeFile(src, archive(SPECS));
    const a = await readArchive(src);
    const keep = a.entries.filter((e) => e.namespace !== "a").map((entry) => ({ entry, deps: entry.deps }));
    const dest = join(dir, "b.dump");
    const bytes = await writeArchive(src, a, keep, dest);
    const got = await Deno.readFile(dest);
    assertEquals(bytes, got.length);
    assertEquals(got, archive(SPECS.filter((s) => s.ns !== "a")));
    assertEquals((await Deno.stat(dest)).mode! & 0o777, 0o600);
    await rejects(() => writeArchive(src, a, keep, dest), Deno.errors.AlreadyExists);
    // Dependencies are written as given.
    const rewired = a.entries.filter((e) => e.dumpId === 7).map((entry) => ({ entry, deps: [] }));
    const c = await readArchive(
      await writeArchive(src, a, rewired, join(dir, "c.dump")).then(() => join(dir, "c.dump")),
    );
    assertEquals(c.entries.map((e) => [e.dumpId, e.deps]), [[7, []]]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeArchive refuses a data offset that does not point at the entry's block", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const src = join(dir, "all.dump");
    await Deno.writeFile(src, archive(SPECS));
    const a = await readArchive(src);
    const e = a.entries.find((x) => x.dumpId === 9)!;
    const wrong = { ...e, dataPos: a.entries.find((x) => x.dumpId === 7)!.dataPos };
    await rejects(
      () => writeArchive(src, a, [{ entry: wrong, deps: [] }], join(dir, "x.dump")),
      /the data block of TOC entry 9 is not where its offset says/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readArchive reads a TOC larger than its 1 MiB window, and an entry larger than it, as parseArchive does", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const specs: Spec[] = [];
    for (let i = 1; i <= 3000; i++) {
      const tag = `t${i}_${"é".repeat(300)}`; // 3,000 entries of about 620 bytes: 1.8 MB of TOC
      specs.push({ id: 2 * i, desc: "TABLE", ns: "public", tag, deps: [] });
      specs.push({
        id: 2 * i + 1,
        desc: "TABLE DATA",
        ns: "public",
        tag,
        deps: [2 * i],
        data: [enc.encode(`${i}\n`)],
      });
    }
    specs.splice(1001, 0, {
      id: 90001,
      desc: "VIEW",
      ns: "public",
      tag: "v".repeat(2_500_000),
      deps: [2, 4],
    });
    const bytes = archive(specs);
    const src = join(dir, "big.dump");
    await Deno.writeFile(src, bytes);
    const whole = parseArchive(bytes, true);
    const read = await readArchive(src);
    assertEquals(read, whole);
    // Written back whole, in order, it is the same file; the data blocks follow each other.
    const dest = join(dir, "copy.dump");
    await writeArchive(src, read, read.entries.map((entry) => ({ entry, deps: entry.deps })), dest);
    assertEquals(await Deno.readFile(dest), bytes);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
