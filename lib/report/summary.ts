/**
 * The end-of-run summary: text for stdout, JSON for `--json`, Markdown for the GitHub step
 * summary. Pure: it formats a {@link BackupSummary} and touches nothing.
 *
 * Names, settings and messages from the database or a manifest are untrusted. SQL names (database,
 * schemas, skipped tables, what was not captured) are shown as the restore shows them
 * ({@link sqlIdent}: quoted when needed, `U&"…"` for a non-printing character), so `x."a.b"` and
 * `x.a.b` differ and a name cannot add a line; other text has control characters escaped
 * ({@link escapeControl}). The Markdown puts them in code spans ({@link mdCode}), so a name cannot add
 * a row, a link or an image. The JSON keeps the names as they are.
 * @module
 */
import type { Manifest, ManifestStorage } from "../store/manifest.ts";
import { formatBytes } from "../base/size.ts";
import { versionNumber } from "../pg/tools.ts";
import { escapeControl } from "../base/output.ts";
import { sqlIdent } from "../pg/ident.ts";
import { notCapturedName, skippedName } from "../backup/view.ts";
import { formatGrowth, GROWTH_HINT, type GrowthProjection, growthWarning } from "../store/growth.ts";

/** What one environment's backup run reports. */
export interface BackupSummary {
  environment?: string;
  status: "ok" | "partial" | "failed" | "dry-run";
  /** Where the backup now is (`backups/latest`), when it was placed. */
  location?: string;
  archivedPrevious?: string;
  /** The masked connection, `user@host:port/db`. */
  connection: string;
  manifest?: Manifest;
  error?: string;
  durationMs: number;
  /** Lines from later steps (git, prune). */
  notes: string[];
  /**
   * What went wrong but did not stop the backup, one line each (the run's `warning:` lines, for
   * example a previous backup whose manifest does not read).
   */
  warnings?: string[];
  /** With `--commit`: the git repository's size, its growth and the projection (lib/store/growth.ts). */
  repository?: GrowthProjection;
}

interface SchemaLine {
  name: string;
  dumpBytes: number;
  tables: number;
  rows: number;
  tableBytes: number;
}

/**
 * `text` as a Markdown code span that shows it literally: control characters escaped, `|` escaped
 * when it goes in a table cell (`inTable`, the default), fenced by more backticks than it holds in
 * a row. Pure.
 */
export function mdCode(text: string, inTable = true): string {
  const t = inTable ? escapeControl(text).replaceAll("|", "\\|") : escapeControl(text);
  const longest = Math.max(0, ...(t.match(/`+/g) ?? []).map((r) => r.length));
  const fence = "`".repeat(longest + 1);
  const pad = t.startsWith("`") || t.endsWith("`") || t === "" ? " " : "";
  return `${fence}${pad}${t}${pad}${fence}`;
}

function schemaLines(m: Manifest): SchemaLine[] {
  return m.schemas.map((s) => ({
    name: s.name,
    dumpBytes: s.dumpBytes,
    tables: s.tables.length,
    rows: s.tables.reduce((n, t) => n + (t.kind === "p" ? 0 : t.rows ?? 0), 0),
    tableBytes: s.tables.reduce((n, t) => n + t.bytes, 0),
  }));
}

/** Totals of a manifest: tables, rows, dump bytes, per-table bytes, all bytes. */
export function totals(
  m: Manifest,
): { tables: number; rows: number; dumpBytes: number; tableBytes: number; bytes: number } {
  const lines = schemaLines(m);
  const bytes = Object.values(m.files).reduce((n, f) => n + f.bytes, 0);
  return {
    tables: lines.reduce((n, s) => n + s.tables, 0),
    rows: lines.reduce((n, s) => n + s.rows, 0),
    dumpBytes: lines.reduce((n, s) => n + s.dumpBytes, 0),
    tableBytes: lines.reduce((n, s) => n + s.tableBytes, 0),
    bytes,
  };
}

/**
 * One line about a backup's Storage files: buckets, files and bytes, what was downloaded and what
 * reused (the egress saved), and how many files changed or vanished after the snapshot. Pure.
 */
export function storageLine(st: ManifestStorage): string {
  const late = [
    st.changed.length ? `${st.changed.length} changed after the snapshot` : "",
    st.missing.length ? `${st.missing.length} deleted after the snapshot` : "",
  ].filter(Boolean);
  return `${st.buckets} bucket(s), ${st.files} file(s), ${
    formatBytes(st.bytes)
  }; downloaded ${st.downloaded.files} (${formatBytes(st.downloaded.bytes)}), reused ${st.reused.files} (${
    formatBytes(st.reused.bytes)
  })${late.length ? `; ${late.join(", ")}` : ""}`;
}

/** The hint under the list of what a backup could not capture. */
export const NOT_CAPTURED_HINT =
  "each line says what to do; a restore lists them again (docs/backup.md: What a backup cannot capture)";

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** The text summary of one run (the original plan's fields). */
export function formatSummary(s: BackupSummary): string {
  const out: string[] = [];
  const title = s.environment ? `Backup summary (${s.environment})` : "Backup summary";
  out.push(title, "=".repeat(title.length));
  const m = s.manifest;
  const row = (k: string, v: string) => out.push(`${k.padEnd(14)}${escapeControl(v)}`);
  row("status", s.status);
  if (m) row("timestamp", m.createdAt);
  if (s.environment) row("environment", s.environment);
  if (s.connection) row("connection", s.connection);
  if (m) {
    row(
      "database",
      `${sqlIdent(m.database.name)} (${
        formatBytes(m.database.sizeBytes)
      }, PostgreSQL ${m.database.serverVersion})`,
    );
    row("pg_dump", versionNumber(m.pgDumpVersion));
    row(
      "snapshot",
      m.snapshot.consistent ? "consistent (one exported snapshot)" : `not consistent: ${m.snapshot.note}`,
    );
    const t = totals(m);
    row("schemas", String(m.schemas.length));
    row("tables", `${t.tables} (${t.rows} rows)`);
    out.push("");
    const lines = schemaLines(m).map((l) => ({ ...l, name: sqlIdent(l.name) }));
    const nameWidth = Math.max(6, ...lines.map((x) => x.name.length)) + 2;
    out.push(
      `  ${"schema".padEnd(nameWidth)}${"dump".padStart(10)}${"tables".padStart(8)}${"rows".padStart(10)}${
        "per-table".padStart(10)
      }`,
    );
    for (const l of lines) {
      out.push(
        `  ${l.name.padEnd(nameWidth)}${formatBytes(l.dumpBytes).padStart(10)}${
          String(l.tables).padStart(8)
        }${String(l.rows).padStart(10)}${formatBytes(l.tableBytes).padStart(10)}`,
      );
    }
    out.push("");
    row(
      "size",
      `${formatBytes(t.bytes)} (dumps ${formatBytes(t.dumpBytes)}, per-table files ${
        formatBytes(t.tableBytes)
      })`,
    );
    if (m.skipped.length > 0) {
      out.push("", `skipped (${m.skipped.length}):`);
      for (const k of m.skipped) out.push(`  ${skippedName(k)}: ${escapeControl(k.reason)}`);
    }
    const missing = m.notCaptured ?? [];
    if (missing.length > 0) {
      out.push("", `not captured (${missing.length}):`);
      for (const n of missing) out.push(`  ${notCapturedName(n)}: ${escapeControl(n.reason)}`);
      out.push(`hint: ${NOT_CAPTURED_HINT}`);
    }
    if (m.storage) {
      row("storage", storageLine(m.storage));
      for (const n of m.storage.changed.slice(0, 20)) row("", `changed after the snapshot: ${n}`);
      for (const n of m.storage.missing.slice(0, 20)) row("", `deleted after the snapshot: ${n}`);
    }
  }
  row("duration", seconds(s.durationMs));
  if (s.location) row("location", s.location);
  if (s.archivedPrevious) row("archived", `previous latest → ${s.archivedPrevious}`);
  for (const n of s.notes) row("note", n);
  for (const w of s.warnings ?? []) out.push(escapeControl(`warning: ${w}`));
  if (s.repository) {
    row("repository", formatGrowth(s.repository));
    const warning = growthWarning(s.repository);
    if (warning) out.push(`warning: ${warning}`, `hint: ${GROWTH_HINT}`);
  }
  if (s.error) row("error", s.error);
  return out.join("\n") + "\n";
}

/** The total line printed after several environments. */
export function formatTotalLine(all: BackupSummary[]): string {
  const ok = all.filter((s) => s.status === "ok").length;
  const bytes = all.reduce((n, s) => n + (s.manifest ? totals(s.manifest).bytes : 0), 0);
  const tables = all.reduce((n, s) => n + (s.manifest ? totals(s.manifest).tables : 0), 0);
  const ms = all.reduce((n, s) => n + s.durationMs, 0);
  const states = escapeControl(all.map((s) => `${s.environment ?? "default"}=${s.status}`).join(", "));
  return `Total: ${all.length} environments (${states}), ${ok} ok, ${tables} tables, ${formatBytes(bytes)}, ${
    seconds(ms)
  }\n`;
}

/** The JSON form of the summaries (`--json`). */
export function summaryJson(all: BackupSummary[]): string {
  return JSON.stringify(
    all.map((s) => ({
      environment: s.environment ?? null,
      status: s.status,
      location: s.location ?? null,
      archivedPrevious: s.archivedPrevious ?? null,
      connection: s.connection,
      createdAt: s.manifest?.createdAt ?? null,
      database: s.manifest?.database ?? null,
      snapshot: s.manifest?.snapshot ?? null,
      totals: s.manifest ? totals(s.manifest) : null,
      schemas: s.manifest ? schemaLines(s.manifest) : [],
      skipped: s.manifest?.skipped ?? [],
      ...(s.manifest?.storage ? { storage: s.manifest.storage } : {}),
      notCaptured: s.manifest?.notCaptured ?? [],
      durationMs: s.durationMs,
      notes: s.notes,
      warnings: s.warnings ?? [],
      ...(s.repository
        ? { repository: { ...s.repository, warning: growthWarning(s.repository) ?? null } }
        : {}),
      error: s.error ?? null,
    })),
    null,
    2,
  ) + "\n";
}

/** The Markdown table appended to `$GITHUB_STEP_SUMMARY`. */
export function summaryMarkdown(s: BackupSummary): string {
  const out: string[] = [];
  out.push(`### Supabase backup${s.environment ? ` (${s.environment})` : ""}: ${s.status}`, "");
  const m = s.manifest;
  out.push("| field | value |", "| --- | --- |");
  if (m) out.push(`| timestamp | ${m.createdAt} |`);
  if (s.connection) out.push(`| connection | ${mdCode(s.connection)} |`);
  if (m) {
    const t = totals(m);
    out.push(`| database | ${mdCode(sqlIdent(m.database.name))} (${formatBytes(m.database.sizeBytes)}) |`);
    out.push(`| schemas / tables | ${m.schemas.length} / ${t.tables} (${t.rows} rows) |`);
    out.push(`| size | ${formatBytes(t.bytes)} |`);
    out.push(`| snapshot | ${m.snapshot.consistent ? "consistent" : "not consistent"} |`);
    if (m.storage) out.push(`| storage | ${storageLine(m.storage).replaceAll("|", "\\|")} |`);
  }
  out.push(`| duration | ${seconds(s.durationMs)} |`);
  if (s.location) out.push(`| location | ${mdCode(s.location)} |`);
  if (s.repository) out.push(`| repository | ${formatGrowth(s.repository)} |`);
  if (s.error) out.push(`| error | ${mdCode(s.error)} |`);
  if (m && m.schemas.length > 0) {
    out.push(
      "",
      "| schema | dump | tables | rows | per-table files |",
      "| --- | ---: | ---: | ---: | ---: |",
    );
    for (const l of schemaLines(m)) {
      out.push(
        `| ${mdCode(sqlIdent(l.name))} | ${formatBytes(l.dumpBytes)} | ${l.tables} | ${l.rows} | ${
          formatBytes(l.tableBytes)
        } |`,
      );
    }
  }
  if (m && m.skipped.length > 0) {
    out.push("", "Skipped:", "");
    for (const k of m.skipped) {
      out.push(`- ${mdCode(skippedName(k), false)}: ${mdCode(k.reason, false)}`);
    }
  }
  if (m && (m.notCaptured ?? []).length > 0) {
    out.push("", "Not captured:", "");
    for (const n of m.notCaptured!) {
      out.push(`- ${mdCode(notCapturedName(n), false)}: ${mdCode(n.reason, false)}`);
    }
  }
  const warning = s.repository && growthWarning(s.repository);
  if (warning) out.push("", `> **Warning:** ${warning}. ${GROWTH_HINT}`);
  for (const w of s.warnings ?? []) out.push("", `> **Warning:** ${mdCode(w, false)}`);
  return out.join("\n") + "\n\n";
}
