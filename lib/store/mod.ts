/**
 * store: a backup at rest. Where each file goes and how names become paths (layout), manifest.json
 * (manifest), writing files (sink), the stored form: compression and encryption (encode) and reading it
 * back (decode), the one checker of a directory against its manifest (check), the staging folder
 * (staging), latest/ and archive/ rotation (rotation), listing a root and finding a backup in it
 * (listing), the retention policy (retention), removing the archives it does not keep (prune) and the
 * git repository that holds a root (git), the object-store contract (object), the signed S3
 * protocol client (s3, also used by lib/storage for a project's Storage files) and the Azure Blob
 * backend (azblob).
 *
 * May import: base, pg.
 * @module
 */
export {};
