/**
 * store: a backup at rest. Where each file goes and how names become paths (layout), manifest.json
 * (manifest), writing files (sink), the stored form: compression and encryption (encode) and reading it
 * back (decode), the staging folder (staging), latest/ and archive/ rotation (rotation), listing a root
 * (listing), the retention policy (retention) and the git repository that holds a root (git).
 *
 * May import: base, pg.
 * @module
 */
export {};
