/** Secret masking: registered secrets in every form, and secret shapes that need no registration. */
import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { clearSecrets, isSecretKey, redact, registerSecret } from "../../../lib/base/redact.ts";

const ID = "AGE-SECRET-KEY-1HU5C49H5LUNZVCT7E2QRRSA9DTMPXVJ3VMYN3Q6394FPTHVE78TSCVDMZ5";

Deno.test("redact masks registered secrets, raw and percent-encoded", () => {
  clearSecrets();
  registerSecret("p@ss word");
  assertEquals(redact("a p@ss word b p%40ss%20word c"), "a **** b **** c");
  clearSecrets();
});

Deno.test("redact masks any age identity, registered or not, in any case (item 4)", () => {
  clearSecrets();
  assertEquals(redact(`key ${ID} end`), "key AGE-SECRET-KEY-1**** end");
  assertEquals(redact(ID.toLowerCase()), "AGE-SECRET-KEY-1****");
  // the placeholder in hints stays readable
  assertEquals(redact("a line AGE-SECRET-KEY-1…"), "a line AGE-SECRET-KEY-1…");
});

Deno.test("isSecretKey knows age identities and private keys, not recipients", () => {
  ok(isSecretKey(ID));
  ok(isSecretKey(` ${ID.toLowerCase()} `));
  ok(isSecretKey("AGE-PLUGIN-YUBIKEY-1QQQQ"));
  ok(isSecretKey("-----BEGIN OPENSSH PRIVATE KEY-----"));
  ok(!isSecretKey("age1v2edrgt4fd7nmtpc4j7s9cphlu0ulzn9fqn987jrr4r9yxllagms87t46z"));
  ok(!isSecretKey("ssh-ed25519 AAAAC3 me@host"));
});
