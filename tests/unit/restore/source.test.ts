import { deepStrictEqual as assertEquals, throws as assertThrows } from "node:assert/strict";
import { BackupError } from "../../../lib/base/errors.ts";
import type { Manifest } from "../../../lib/store/manifest.ts";
import type { RestoreRequest } from "../../../lib/restore/plan.ts";
import { neededFiles } from "../../../lib/restore/source.ts";
import { sampleManifest } from "../../support/manifest.ts";

function manifest(): Manifest {
  const m = sampleManifest();
  const t = (name: string, data: string[]) => ({
    name,
    rows: 1,
    schemaFile: `public/tables/${name}/schema.sql`,
    dataFiles: data,
    bytes: 1,
    kind: "r" as const,
  });
  m.schemas = [{
    name: "public",
    dump: "public/public.dump",
    dumpBytes: 1,
    managed: false,
    tables: [
      t("orders", ["public/tables/orders/data.001.sql", "public/tables/orders/data.002.sql"]),
      t("users", ["public/tables/users/data.sql"]),
    ],
  }];
  const entry = { bytes: 1, sha256: "a".repeat(64) };
  m.files = Object.fromEntries(
    [
      "roles.sql",
      "public/public.dump",
      "public/tables/orders/schema.sql",
      "public/tables/orders/data.001.sql",
      "public/tables/orders/data.002.sql",
      "public/tables/users/schema.sql",
      "public/tables/users/data.sql",
      "catalog.sql",
    ].map((f) => [f, entry]),
  );
  return m;
}

const request = (tables: RestoreRequest["tables"] = []): RestoreRequest => ({
  schemas: [],
  tables,
  roles: false,
  dataOnly: false,
  schemaOnly: false,
  clean: false,
});

Deno.test("neededFiles: a whole restore reads every file", () => {
  const m = manifest();
  assertEquals(neededFiles(m, request()), Object.keys(m.files));
});

Deno.test("neededFiles: --table leaves out only the other tables' files", () => {
  assertEquals(neededFiles(manifest(), request([{ schema: "public", table: "orders" }])), [
    "roles.sql",
    "public/public.dump",
    "public/tables/orders/schema.sql",
    "public/tables/orders/data.001.sql",
    "public/tables/orders/data.002.sql",
    "catalog.sql",
  ]);
});

Deno.test("neededFiles: a table the backup lacks is the usage error of the selection", () => {
  assertThrows(
    () => neededFiles(manifest(), request([{ schema: "public", table: "nope" }])),
    (e) =>
      e instanceof BackupError && e.exitCode === 2 &&
      /--table 'public\.nope' is not in this backup/.test(e.message),
  );
});
