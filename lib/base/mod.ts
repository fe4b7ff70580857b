/**
 * base: what every other folder leans on and that knows nothing of PostgreSQL or backups: the one error
 * type and exit codes (errors), SIGINT/SIGTERM handling (interrupt), secret masking (redact), a bounded
 * task pool (pool), the one process runner that every program goes through, crash-aware, with one failure
 * formatter (proc), byte sizes (size), the tool version (version), GitHub Actions output (actions) and
 * the one way text is printed, masked and with control characters and workflow commands escaped (output).
 *
 * May import: nothing of lib/ outside base.
 * @module
 */
export {};
