/**
 * restore: putting a backup into a target database. The restorer (restorer) reads the target (target),
 * plans (plan, shown by view) and runs the steps: extensions (extensions), whole schemas (schemas), single
 * tables (tables), with the backup's files read through files, the SQL adapted by filter and script, and
 * psql/pg_restore run by exec; catalog.sql gives the definitions one order across schemas and the
 * database-level objects (catalog). context carries a restore's options and state between steps. into
 * rewrites one table's files for `--into` (a new name beside the live table); source names the files a
 * restore of a backup held in git history needs.
 *
 * May import: base, pg, store, backup (shared definitions only).
 * @module
 */
export {};
