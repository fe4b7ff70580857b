/**
 * base: what every other folder leans on and that knows nothing of PostgreSQL or backups: the one error
 * type and exit codes (errors), SIGINT/SIGTERM handling (interrupt), secret masking (redact), a bounded
 * task pool (pool), the one process runner that every program goes through, crash-aware, with one failure
 * formatter (proc), byte sizes (size), the tool version (version) and GitHub Actions output (actions).
 *
 * May import: nothing of lib/ outside base.
 * @module
 */
export {};
