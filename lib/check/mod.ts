/**
 * check: proving a backup is good. Checking files against the manifest (verify) and the drill: restoring
 * into a scratch database and comparing every table's row count (drill).
 *
 * May import: base, pg, store, backup, restore.
 * @module
 */
export {};
