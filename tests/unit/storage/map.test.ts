import { deepStrictEqual as assertEquals, ok, throws } from "node:assert/strict";
import {
  MAP_FORMAT,
  mapFromText,
  type MapObject,
  parseMap,
  serializeMap,
  STORAGE_MAP,
  type StorageMap,
} from "../../../lib/storage/map.ts";
import { BackupError } from "../../../lib/base/errors.ts";
import type { Manifest } from "../../../lib/store/manifest.ts";
import { createHash } from "node:crypto";

const obj = (over: Partial<MapObject> = {}): MapObject => ({
  bucket: "docs",
  name: "a b/c.txt",
  size: 3,
  etag: '"900150983cd24fb0d6963f7d28e17f72"',
  contentType: "text/plain",
  cacheControl: "no-cache",
  userMetadata: { nested: [1, "two"] },
  owner: null,
  ownerId: null,
  sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  ...over,
});
const map = (objects: MapObject[]): StorageMap => ({
  format: MAP_FORMAT,
  buckets: [
    {
      id: "photos",
      name: "photos",
      public: true,
      fileSizeLimit: 100,
      allowedMimeTypes: ["image/png"],
      owner: null,
      ownerId: null,
    },
    {
      id: "docs",
      name: "docs",
      public: false,
      fileSizeLimit: null,
      allowedMimeTypes: null,
      owner: null,
      ownerId: null,
    },
  ],
  objects,
});

Deno.test("serializeMap writes sorted buckets and objects, one a line, and parseMap reads it back", () => {
  const m = map([obj({ name: "z" }), obj({ name: "a", parts: 3 })]);
  const text = serializeMap(m);
  const lines = text.split("\n");
  assertEquals(lines.filter((l) => l.startsWith("    {")).length, 4);
  ok(lines.findIndex((l) => l.includes('"id":"docs"')) < lines.findIndex((l) => l.includes('"id":"photos"')));
  const back = parseMap(text, "m.json");
  assertEquals(back.objects.map((o) => o.name), ["a", "z"]);
  assertEquals(back.objects[0].parts, 3);
  assertEquals(back.objects[1].userMetadata, { nested: [1, "two"] });
});

Deno.test("parseMap rejects what a backup must never be trusted with", () => {
  const bad: [string, string][] = [
    ["not json", "{"],
    ["other format", JSON.stringify({ ...map([]), format: 2 })],
    ["short sha", JSON.stringify(map([obj({ sha256: "abc" })]))],
    ["path in sha", JSON.stringify(map([obj({ sha256: "../".repeat(21) + "a" })]))],
    ["negative size", JSON.stringify(map([obj({ size: -1 })]))],
    ["fractional size", JSON.stringify(map([obj({ size: 1.5 })]))],
    ["one part", JSON.stringify(map([obj({ parts: 1 })]))],
    ["unknown bucket", JSON.stringify(map([obj({ bucket: "nope" })]))],
    ["twice", JSON.stringify(map([obj(), obj()]))],
    ["nul in name", JSON.stringify(map([obj({ name: "a\u0000b" })]))],
    ["no metadata", JSON.stringify(map([(({ userMetadata: _u, ...o }) => o)(obj()) as MapObject]))],
  ];
  for (const [what, text] of bad) {
    throws(
      () => parseMap(text, "x/storage-objects.json"),
      (e: BackupError) => /x\/storage-objects.json is damaged/.test(e.message),
      what,
    );
  }
});

Deno.test("mapFromText checks a map git holds against the manifest before trusting it", () => {
  const text = serializeMap(map([obj()]));
  const bytes = new TextEncoder().encode(text);
  const entry = { bytes: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") };
  const manifest = (files: Manifest["files"], storage = true) =>
    ({ files, ...(storage ? { storage: { map: STORAGE_MAP } } : {}) }) as unknown as Manifest;
  assertEquals(mapFromText("a", manifest({ [STORAGE_MAP]: entry }), text), parseMap(text, "x"));
  assertEquals(mapFromText("a", manifest({}, false), undefined), undefined, "no Storage files");
  const bad = (m: Manifest, t: string | undefined, why: RegExp) =>
    throws(() => mapFromText("a", m, t), (e: unknown) => e instanceof BackupError && why.test(e.message));
  bad(manifest({ [STORAGE_MAP]: entry }), text.slice(0, -1), /does not match the manifest/);
  bad(manifest({ [STORAGE_MAP]: entry }), undefined, /git does not hold it/);
  bad(manifest({}), text, /does not list it/);
  bad(manifest({ [STORAGE_MAP]: { ...entry, compression: "gzip" } }), text, /compressed or encrypted/);
});

Deno.test("parseMap takes an encrypted file's blob (stored) and refuses a bad one", () => {
  const stored = { sha256: "c".repeat(64), bytes: 203 };
  const text = serializeMap(map([obj({ stored })]));
  assertEquals(parseMap(text, "m").objects[0].stored, stored);
  for (const bad of [{ sha256: "../x", bytes: 1 }, { sha256: "c".repeat(64), bytes: -1 }, null, "x"]) {
    throws(
      () => parseMap(serializeMap(map([obj({ stored: bad as never })])), "dir/storage-objects.json.age"),
      /object 1 has a missing or wrong field/,
    );
  }
});
