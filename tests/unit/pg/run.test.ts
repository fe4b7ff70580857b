import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { hintFor } from "../../../lib/pg/run.ts";

const LOST = "the connection to the server was lost; check the server and network, then run again";

Deno.test("hintFor: a lost connection, in the words libpq, psql and the server use", () => {
  for (
    const stderr of [
      "pg_dump: error: server closed the connection unexpectedly",
      "FATAL:  terminating connection due to administrator command",
      "psql: error: connection to server was lost",
      "pg_dump: error: could not receive data from server: Connection reset by peer",
      "pg_restore: error: SSL SYSCALL error: EOF detected",
      "ERROR:  (EDBHANDLEREXITED) connection to database closed",
      "Connection terminated unexpectedly",
    ]
  ) assertEquals(hintFor(stderr), LOST, stderr);
});

Deno.test("hintFor: a syntax error is not a lost connection (issue 16, item 17)", () => {
  for (
    const stderr of [
      'psql:<stdin>:12: ERROR:  unterminated quoted identifier at or near ""x',
      'psql:<stdin>:3: ERROR:  unterminated quoted string at or near "\'abc"',
      'ERROR:  syntax error at or near "CREAT"',
    ]
  ) {
    const hint = hintFor(stderr);
    ok(hint !== LOST, `${stderr} → ${hint}`);
    ok(/damaged|cut short/.test(hint), `${stderr} → ${hint}`);
  }
});

Deno.test("hintFor: other known failures keep their hints", () => {
  ok(/--clean/.test(hintFor('ERROR:  relation "x" already exists')));
  ok(/privilege/.test(hintFor("ERROR:  permission denied for table x")));
  ok(/BACKUP_DEBUG/.test(hintFor("something else entirely")));
});
