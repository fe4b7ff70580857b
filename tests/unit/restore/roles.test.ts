import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import {
  missingPolicyRoles,
  missingRolesError,
  parameterGrantees,
  policyRoles,
  roleStatement,
} from "../../../lib/restore/roles.ts";
import { ExitCode } from "../../../lib/base/errors.ts";

Deno.test("policyRoles reads a policy's TO list token by token", () => {
  assertEquals(
    policyRoles(
      `CREATE POLICY "own rows" ON public.profiles FOR SELECT TO authenticated USING ((auth.uid() = id));`,
    ),
    { policy: `"own rows" on public.profiles`, roles: ["authenticated"] },
  );
  assertEquals(
    policyRoles(`CREATE POLICY p ON s.t AS RESTRICTIVE FOR UPDATE TO anon, "Odd ""Role""", service_role;`),
    { policy: "p on s.t", roles: ["anon", 'Odd "Role"', "service_role"] },
  );
  // PUBLIC and the current-user words are not roles; no TO list means PUBLIC
  assertEquals(policyRoles(`CREATE POLICY p ON t TO PUBLIC, CURRENT_USER USING (true);`)?.roles, []);
  assertEquals(policyRoles(`CREATE POLICY p ON t USING (true);`)?.roles, []);
  // a quoted "public" is a role named public, not PUBLIC
  assertEquals(policyRoles(`CREATE POLICY p ON t TO "public";`)?.roles, ["public"]);
  assertEquals(policyRoles(`CREATE TABLE t (id int);`), undefined);
});

Deno.test("policyRoles: hostile policy and table names cannot move the role list", () => {
  const stmt = `CREATE POLICY "x TO evil, more" ON "s TO a"."t\nTO b" FOR ALL TO "r;TO c" USING ((1 = 1));`;
  assertEquals(policyRoles(stmt), {
    policy: `"x TO evil, more" on "s TO a".U&"t\\000aTO b"`,
    roles: ["r;TO c"],
  });
  // USING (… TO …) after the list is never read as roles
  assertEquals(
    policyRoles(`CREATE POLICY p ON t TO anon USING ((current_setting('x TO y') = 'z'));`)?.roles,
    [
      "anon",
    ],
  );
});

Deno.test("missingPolicyRoles and the exit-2 error", () => {
  const missing = missingPolicyRoles([
    { policy: "a on public.t", roles: ["authenticated", "postgres"] },
    { policy: "b on public.u", roles: ["authenticated", "anon"] },
  ], (r) => r === "postgres");
  assertEquals([...missing], [["authenticated", ["a on public.t", "b on public.u"]], ["anon", [
    "b on public.u",
  ]]]);
  const e = missingRolesError(missing, { rolesFlag: false, backupHasRoles: true })!;
  assertEquals(e.exitCode, ExitCode.usage);
  ok(
    e.message.startsWith(`3 policies of the backup name role(s) the target lacks: authenticated, anon`),
    e.message,
  );
  ok(e.message.endsWith("nothing was written"), e.message);
  ok(e.hint!.startsWith("restore with --roles"), e.hint);
  ok(e.hint!.includes("CREATE ROLE authenticated NOLOGIN; CREATE ROLE anon NOLOGIN;"), e.hint);
  const withRoles = missingRolesError(missing, { rolesFlag: true, backupHasRoles: true })!;
  ok(!withRoles.hint!.includes("--roles"), "no hint to do what the user already does");
  assertEquals(missingRolesError(new Map(), { rolesFlag: false, backupHasRoles: false }), undefined);
});

Deno.test("roleStatement: CREATE and ALTER ROLE, quoted names", () => {
  assertEquals(roleStatement(`CREATE ROLE app;`), { verb: "CREATE", role: "app" });
  assertEquals(roleStatement(`ALTER ROLE "we""ird" WITH NOLOGIN;`), { verb: "ALTER", role: 'we"ird' });
  assertEquals(roleStatement(`GRANT app TO x;`), undefined);
});

Deno.test("parameterGrantees reads the roles of pg_dumpall's parameter privileges, quoted names whole", () => {
  assertEquals(parameterGrantees("GRANT SET ON PARAMETER session_replication_role TO postgres;"), [
    "postgres",
  ]);
  assertEquals(
    parameterGrantees(
      'GRANT SET,ALTER SYSTEM ON PARAMETER work_mem TO "a TO b", postgres WITH GRANT OPTION;',
    ),
    ["a TO b", "postgres"],
  );
  assertEquals(parameterGrantees('GRANT SET ON PARAMETER x TO "r;""\nq" GRANTED BY supabase_admin;'), [
    'r;"\nq',
  ]);
  assertEquals(parameterGrantees("GRANT reporting TO postgres;"), undefined);
  assertEquals(parameterGrantees("GRANT SELECT ON TABLE parameter TO postgres;"), undefined);
  assertEquals(parameterGrantees("ALTER ROLE postgres SET x TO 'on parameter';"), undefined);
});

Deno.test('missingRolesError: a role name with control or non-printing characters is shown as U&"…"', () => {
  // a line break (could forge an `error:` line), a bidirectional override, a C1 control, a quote, a backslash
  const role = 'r\nerror: forged\u202e"q"\\\u0085';
  const e = missingRolesError(missingPolicyRoles([{ policy: "p on public.t", roles: [role] }], () => false), {
    rolesFlag: false,
    backupHasRoles: true,
  })!;
  const shown = 'U&"r\\000aerror: forged\\202e""q""\\\\\\0085"';
  ok(e.message.includes(`lacks: ${shown} (e.g. policy p on public.t for ${shown})`), e.message);
  ok(e.hint!.includes(`CREATE ROLE ${shown} NOLOGIN;`), e.hint);
  for (const text of [e.message, e.hint!]) {
    ok(!/[\n\u202e\u0085]/.test(text), text);
  }
});
