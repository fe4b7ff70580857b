/**
 * A sample manifest for tests that break one of its fields on purpose, and rewriting a backup file
 * together with its manifest entry.
 * @module
 */
import { createHash } from "node:crypto";
import type { Manifest } from "../../lib/store/manifest.ts";

/**
 * Rewrites backup file `rel` of the backup in `dir` with `edit`, and its size and SHA-256 in
 * manifest.json, as someone who can push to the backup repository can (verify then passes). Returns
 * the new text.
 */
export async function rewriteBackupFile(
  dir: string,
  rel: string,
  edit: (text: string) => string,
): Promise<string> {
  const text = edit(await Deno.readTextFile(`${dir}/${rel}`));
  await Deno.writeTextFile(`${dir}/${rel}`, text);
  const m = JSON.parse(await Deno.readTextFile(`${dir}/manifest.json`)) as Manifest;
  const bytes = new TextEncoder().encode(text);
  m.files[rel] = {
    ...m.files[rel],
    bytes: bytes.length,
    sha256: createHash("sha256").update(bytes).digest("hex"),
  };
  await Deno.writeTextFile(`${dir}/manifest.json`, JSON.stringify(m, null, 2));
  return text;
}

/** A complete, valid manifest with every optional field set (a fresh copy each call). */
export function sampleManifest(): Manifest {
  return {
    format: 1,
    createdAt: "2026-12-01T07:19:27.032Z",
    tool: "supabase-backup 0.1.0",
    environment: "prod",
    source: { repo: "acme/app", event: "schedule", sha: "1a2b3c4d5e", ref: "main" },
    database: {
      name: "app",
      serverVersion: "17.10",
      sizeBytes: 9713331,
      host: "postgres@127.0.0.1:5432/app",
    },
    pgDumpVersion: "pg_dump (PostgreSQL) 17.12",
    snapshot: { consistent: false, id: "00000005-00000004-1", note: "n" },
    status: "partial",
    roles: "roles.sql.age",
    schemas: [{
      name: "public",
      dump: "public/public_schema_20261201_071927.dump.001",
      dumpParts: ["public/public_schema_20261201_071927.dump.001"],
      dumpBytes: 10,
      managed: false,
      tables: [
        { name: "events", rows: 3, schemaFile: "s", dataFiles: [], bytes: 0, kind: "p" },
        {
          name: "e1",
          rows: null,
          schemaFile: "s",
          dataFiles: ["d"],
          bytes: 1,
          kind: "r",
          partitionOf: "public.events",
        },
      ],
    }],
    extensions: [{ name: "pgcrypto", schema: "extensions", version: "1.3" }],
    skipped: [{ schema: "billing", table: "*", reason: "permission denied" }],
    files: {
      "roles.sql.age": {
        bytes: 5,
        sha256: "a".repeat(64),
        compression: "zstd",
        encrypted: true,
        stored: { bytes: 9, sha256: "b".repeat(64) },
      },
    },
    durationMs: 1200,
  };
}
