import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { interruptNote, leftOutSchemaHint } from "../../../lib/restore/view.ts";

const LEFT = new Set(["b", "odd.name"]);
const err = (what: string) => `psql:<stdin>:120: ERROR:  ${what} does not exist\nLINE 3: ...`;

Deno.test("leftOutSchemaHint: an object of a left-out schema the restore used is named by its schema", () => {
  for (
    const [what, schema] of [
      ['relation "b.v"', "b"],
      ['type "b.mood"', "b"],
      ['schema "b"', "b"],
      ["function b.f(integer)", "b"],
      ['relation "odd.name.t"', '"odd.name"'], // quoted as SQL takes it
    ]
  ) {
    assertEquals(
      leftOutSchemaHint(err(what), LEFT),
      `an object of the restore uses schema ${schema}, which this restore leaves out and the target does not have: ` +
        "restore that schema too (or create what is used in the target first), then run the restore again",
      what,
    );
  }
});

Deno.test("leftOutSchemaHint: other errors, and schemas the restore has, keep the step's own hint", () => {
  assertEquals(leftOutSchemaHint(err('relation "a.t"'), LEFT), undefined);
  assertEquals(leftOutSchemaHint(err('relation "bb.t"'), LEFT), undefined);
  assertEquals(leftOutSchemaHint("psql:<stdin>:3: ERROR:  permission denied for schema b", LEFT), undefined);
  assertEquals(leftOutSchemaHint(err('relation "b.v"'), new Set()), undefined);
});

Deno.test("leftOutSchemaHint: a control character in a left-out schema's name is shown escaped", () => {
  const hint = leftOutSchemaHint(err('relation "x\ny.t"'), new Set(["x\ny"]));
  assert(hint !== undefined && !hint.includes("\n"), hint);
  assert(hint.includes('schema U&"x\\000ay", which'), hint);
});

Deno.test("interruptNote says what a signal leaves at each phase of the one transaction", () => {
  assertEquals(
    interruptNote("running"),
    "nothing was changed in the target: the restore runs in one transaction, which was rolled back",
  );
  assert(interruptNote("running", { drill: true }).startsWith("nothing was changed in the drill target"));
  assert(interruptNote("committing").includes("either all of the restore or none of it"));
  assert(interruptNote("committing", { drill: true }).includes("drop it"));
  assertEquals(
    interruptNote("committed"),
    "the restore was committed before the signal: the target holds all of it",
  );
  assert(interruptNote("committed", { storage: true }).includes("--storage-only"));
  assert(
    interruptNote("committed", { drill: true }).startsWith("the drill target holds the restored backup"),
  );
});
