/**
 * backup: making one backup. The pure plan from detected schemas and tables (plan) and its dry-run text
 * (view), the executor that runs pg_dumpall and pg_dump in one snapshot (execute), cutting each schema's
 * dump into per-table files (cut, cutstream), splitting data files by size (split) and the roles file
 * (roles).
 *
 * May import: base, pg, store.
 * @module
 */
export {};
