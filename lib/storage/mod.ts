/**
 * storage: Supabase Storage files. The buckets and objects read from the database in the backup's
 * snapshot (catalog), the per-backup map from bucket and name to blob (map), the content-addressed
 * blob store of a root (blobs) and its garbage collection (gc), backing files up (backup), restoring
 * them into a project (restore), checking blobs (verify) and the blobs of backups that dead runs
 * left (recover). The S3 client is lib/store/s3.ts.
 *
 * May import: base, pg, store.
 * @module
 */
export {};
