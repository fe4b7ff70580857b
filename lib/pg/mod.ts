/**
 * pg: talking to PostgreSQL. Connection strings (url), the password file (pgpass), opening connections
 * (connect), finding pg_dump/pg_restore/psql of the right version (tools), running client programs
 * through base's runner, with their hints (run), SQL identifiers (ident), reading pg_restore tables of
 * contents (toc), catalog detection (detect) and the exported snapshot (snapshot); scripts cut into
 * whole statements (lexer) and one statement into tokens (tokens).
 *
 * May import: base.
 * @module
 */
export {};
