/**
 * history: backups through time. Which backups to compare, on disk or in git history (backups),
 * reading data files as COPY rows (copy), schema.sql as comparable facts (schema), matching rows by
 * key in bounded memory (rows), comparing two backups table by table (compare), showing the result
 * as text, JSON or SQL (view), and a table's changes across every backup (timeline).
 *
 * May import: base, pg, store.
 * @module
 */
export {};
