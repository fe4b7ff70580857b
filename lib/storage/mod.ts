/**
 * storage: Supabase Storage files. The S3 protocol client (s3), the buckets and objects read from
 * the database in the backup's snapshot (catalog), the per-backup map from bucket and name to blob
 * (map), the content-addressed blob store of a root (blobs) and its garbage collection (gc),
 * backing files up (backup), restoring them into a project (restore) and checking blobs (verify).
 *
 * May import: base, pg, store.
 * @module
 */
export {};
