/**
 * check: proving a backup is good. Verify reports, made with store's manifest checker (verify), and the
 * drill: restoring into a scratch database and comparing every table's row count (drill).
 *
 * May import: base, pg, store, backup, restore.
 * @module
 */
export {};
