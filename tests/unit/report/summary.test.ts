/**
 * The end-of-run summary in its three forms, from a two-schema manifest with a skipped table and
 * a subscription the backup could not capture.
 */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import type { Manifest } from "../../../lib/store/manifest.ts";
import { versionNumber } from "../../../lib/pg/tools.ts";
import {
  type BackupSummary,
  formatSummary,
  formatTotalLine,
  mdCode,
  storageLine,
  summaryJson,
  summaryMarkdown,
  totals,
} from "../../../lib/report/summary.ts";
import { assertGolden } from "../../support/golden.ts";

const file = (bytes: number) => ({ bytes, sha256: "0".repeat(64) });

const MANIFEST: Manifest = {
  format: 1,
  createdAt: "2026-03-01T02:00:00.000Z",
  tool: "supabase-backup test",
  source: { repo: "acme/app", event: "schedule", sha: "abcdef1" },
  database: {
    name: "postgres",
    serverVersion: "17.4",
    sizeBytes: 52_428_800,
    host: "postgres@db:5432/postgres",
  },
  pgDumpVersion: "pg_dump (PostgreSQL) 17.12 (Debian 17.12-0+deb13u1)",
  snapshot: { consistent: true, id: "00000003-0000001B-1" },
  status: "partial",
  roles: "roles.sql",
  schemas: [
    {
      name: "public",
      dump: "public/public.dump",
      dumpBytes: 2_000_000,
      tables: [
        { name: "events", rows: 30, schemaFile: "e/s", dataFiles: [], bytes: 100, kind: "p" },
        {
          name: "events_2026",
          rows: 30,
          schemaFile: "e2/s",
          dataFiles: ["e2/d"],
          bytes: 3000,
          kind: "r",
          partitionOf: "public.events",
        },
        { name: "profiles", rows: 12, schemaFile: "p/s", dataFiles: ["p/d"], bytes: 4000, kind: "r" },
      ],
    },
    {
      name: "a|b",
      dump: "a%7Cb/a%7Cb.dump",
      dumpBytes: 1024,
      tables: [{ name: "t", rows: 0, schemaFile: "t/s", dataFiles: [], bytes: 500, kind: "r" }],
    },
  ],
  skipped: [{ schema: "billing", table: "secret_keys", reason: "permission denied for table secret_keys" }],
  notCaptured: [{
    kind: "SUBSCRIPTION",
    name: "sub_app",
    reason: "subscriptions are not backed up, as their connection strings may hold passwords",
  }],
  files: { "roles.sql": file(200), "public/public.dump": file(2_000_000), "a%7Cb/a%7Cb.dump": file(1024) },
  durationMs: 4200,
};

const PROD: BackupSummary = {
  environment: "prod",
  status: "partial",
  location: "backups/prod/latest",
  archivedPrevious: "backups/prod/archive/2026-02-28T02-00-00Z--acme-app--schedule--1234567",
  connection: "postgres@db:5432/postgres",
  manifest: MANIFEST,
  durationMs: 5300,
  notes: ["pruned 2 archive(s)", "committed 89abcde and pushed (1 attempt(s))"],
  warnings: [
    "the previous backup's manifest cannot be read: s3://b/prod/backups/2026-03-01T02-00-00Z--acme-app--schedule--1234568-0a1b2c3d.json (is not valid JSON); unchanged files are reused from the backup before it, 2026-02-28T02-00-00Z--acme-app--schedule--1234567-4e5f6a7b",
  ],
};

const DEV_FAILED: BackupSummary = {
  environment: "dev",
  status: "failed",
  connection: "",
  durationMs: 800,
  notes: [],
  error: "cannot connect to db.dev:5432: connection refused | retried 4 times",
};

Deno.test("versionNumber takes the number out of a --version line", () => {
  assertEquals(versionNumber("pg_dump (PostgreSQL) 17.12 (Debian 17.12-0+deb13u1)"), "17.12");
  assertEquals(versionNumber("pg_dump (PostgreSQL) 15.18"), "15.18");
  assertEquals(versionNumber("pg_dump (PostgreSQL) 18beta1"), "18beta1");
  assertEquals(versionNumber("17.4"), "17.4");
  assertEquals(versionNumber("unknown"), "unknown");
});

Deno.test("totals: partitioned parents add no rows of their own", () => {
  assertEquals(totals(MANIFEST), {
    tables: 4,
    rows: 42,
    dumpBytes: 2_001_024,
    tableBytes: 7600,
    bytes: 2_001_224,
  });
});

Deno.test("text summary of a partial backup: version number, schemas, skipped, notes", async () => {
  await assertGolden("summary/partial.txt", formatSummary(PROD));
});

Deno.test("text summary of a failed environment and the total line of two", async () => {
  await assertGolden("summary/failed.txt", formatSummary(DEV_FAILED) + formatTotalLine([PROD, DEV_FAILED]));
});

Deno.test("--json summary", async () => {
  const parsed = JSON.parse(summaryJson([PROD, DEV_FAILED]));
  assertEquals(parsed.map((s: { status: string }) => s.status), ["partial", "failed"]);
  await assertGolden("summary/summary.json", summaryJson([PROD, DEV_FAILED]));
});

Deno.test("step summary Markdown escapes pipes in names and errors", async () => {
  const md = summaryMarkdown(PROD) + summaryMarkdown(DEV_FAILED);
  assertEquals(md.includes('| `"a\\|b"` |'), true);
  assertEquals(md.includes("refused \\| retried"), true);
  await assertGolden("summary/step-summary.md", md);
});

Deno.test("storageLine: buckets, files, bytes, downloaded and reused, and late changes", () => {
  const st = {
    map: "storage-objects.json",
    endpoint: "https://x.storage.supabase.co",
    buckets: 2,
    files: 291,
    bytes: 8_600_000,
    downloaded: { files: 2, bytes: 5300 },
    reused: { files: 289, bytes: 8_594_700 },
    changed: ["docs/a.txt"],
    missing: [],
  };
  assertEquals(
    storageLine(st),
    "2 bucket(s), 291 file(s), 8.6 MB; downloaded 2 (5.3 kB), reused 289 (8.6 MB); 1 changed after the snapshot",
  );
});

// deno-lint-ignore no-control-regex
const CONTROL_CHAR = /[\x00-\x09\x0b-\x1f\x7f]/;

/** Fails when a line of `text` holds a control character or starts a workflow command. */
function assertSafeLines(text: string): void {
  for (const line of text.split("\n")) {
    ok(!/^\s*(::|##\[)/.test(line), `a line starts a workflow command: ${line}`);
    ok(!CONTROL_CHAR.test(line), `a control character: ${JSON.stringify(line)}`);
  }
}

/** Fails unless `text` holds every one of `parts`. */
function includesAll(text: string, parts: string[]): void {
  for (const p of parts) ok(text.includes(p), `no ${JSON.stringify(p)} in:\n${text}`);
}

/**
 * A manifest whose names hold line breaks, workflow commands, Markdown, HTML and backticks, a dot,
 * a quote, an ANSI escape and a Unicode bidi override.
 */
function hostile(): BackupSummary {
  const m = structuredClone(PROD.manifest!);
  m.database.name = "db\n::error::forged";
  m.schemas[0].name = "nl\nline";
  m.schemas[1].name = "![x](https://evil.example/t.png) <img src=x> `tick`";
  m.skipped = [
    { schema: "s\r\n::add-mask::x", table: "t\u001b[2J", reason: "permission denied\n::error::" },
    { schema: "x", table: "a.b", reason: "r1" },
    { schema: "x.a", table: "b", reason: "r2" },
    { schema: 'q"s', table: "Tab\u202ele", reason: "r3" },
    { schema: "whole", table: "*", reason: "no USAGE privilege for u" },
  ];
  m.notCaptured = [
    { kind: "SUBSCRIPTION", name: "sub\n::error::x", reason: "as u\n::warning::y" },
    { kind: "PUBLICATION", name: "pub.all", reason: "left out" },
    { kind: "USER MAPPING", name: 'FOR "Bob" SERVER remote', reason: "options" },
    { kind: "LARGE OBJECT", name: "3 large object(s)", reason: "lo" },
  ];
  return {
    ...PROD,
    manifest: m,
    error: "pg_dump of schema x\n::error::y failed",
    connection: "u\n@h:5432/db",
    warnings: ["backups/x.json\n::error::forged (bad)"],
  };
}

Deno.test("names with control characters cannot add lines to the text summary (item 6)", () => {
  const text = formatSummary(hostile());
  assertSafeLines(text);
  includesAll(text, [
    '  U&"nl\\000aline"  ',
    'database      U&"db\\000a::error::forged" (',
    '  U&"s\\000d\\000a::add-mask::x".U&"t\\001b[2J": permission denied\\n::error::',
    "pg_dump of schema x\\n::error::y failed",
    '  SUBSCRIPTION U&"sub\\000a::error::x": as u\\n::warning::y',
    "warning: backups/x.json\\n::error::forged (bad)",
  ]);
});

Deno.test("SQL names in the text summary read as the restore writes them: a dot, a quote, bidi, a whole schema", () => {
  const text = formatSummary(hostile());
  includesAll(text, [
    '  x."a.b": r1\n',
    '  "x.a".b: r2\n',
    '  "q""s".U&"Tab\\202ele": r3\n',
    "  whole.*: no USAGE privilege for u\n",
    '  PUBLICATION "pub.all": left out\n',
    '  USER MAPPING FOR "Bob" SERVER remote: options\n',
    "  LARGE OBJECT 3 large object(s): lo\n",
  ]);
  ok(!text.includes("\u202e"), "the bidi override is escaped");
  // the JSON keeps the names as they are
  const json = JSON.parse(summaryJson([hostile()]))[0];
  assertEquals(json.skipped[1], { schema: "x", table: "a.b", reason: "r1" });
  assertEquals(json.schemas[0].name, "nl\nline");
  assertEquals(json.notCaptured[1], { kind: "PUBLICATION", name: "pub.all", reason: "left out" });
});

Deno.test("names cannot add rows, links or images to the step summary (item 6)", () => {
  const md = summaryMarkdown(hostile());
  const rows = md.split("\n").filter((l) => l.startsWith("|"));
  assertSafeLines(md);
  includesAll(md, [
    '| `U&"nl\\000aline"` |',
    '| ``"![x](https://evil.example/t.png) <img src=x> `tick`"`` |',
    "| error | `pg_dump of schema x\\n::error::y failed` |",
    '- `U&"s\\000d\\000a::add-mask::x".U&"t\\001b[2J"`: `permission denied\\n::error::`',
    '- `x."a.b"`: `r1`',
    '- `SUBSCRIPTION U&"sub\\000a::error::x"`: `as u\\n::warning::y`',
    "> **Warning:** `backups/x.json\\n::error::forged (bad)`",
  ]);
  // every table row still has its columns: 2 in the field table, 5 in the schema table
  for (const r of rows) {
    const cells = r.replaceAll("\\|", "").split("|").length - 2;
    ok(cells === 2 || cells === 5, `${cells} cells: ${r}`);
  }
  assertEquals(mdCode("a`b"), "``a`b``");
  assertEquals(mdCode("`x"), "`` `x ``");
  assertEquals(mdCode("a|b"), "`a\\|b`");
  assertEquals(mdCode("a|b", false), "`a|b`");
});
