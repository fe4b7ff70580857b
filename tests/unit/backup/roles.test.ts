import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { filterRoles, isReservedRole } from "../../../lib/backup/roles.ts";
import { assertGolden } from "../../support/golden.ts";

const DUMPALL = `--
-- PostgreSQL database cluster dump
--

\\restrict abc

SET default_transaction_read_only = off;

--
-- Roles
--

CREATE ROLE anon;
ALTER ROLE anon WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS;
CREATE ROLE app_reader;
ALTER ROLE app_reader WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS;
CREATE ROLE "Report ""Team""";
ALTER ROLE "Report ""Team""" WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS;
CREATE ROLE supabase_auth_admin;
ALTER ROLE supabase_auth_admin WITH NOSUPERUSER NOINHERIT CREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS;
ALTER ROLE authenticated SET statement_timeout TO '8s';
COMMENT ON ROLE app_reader IS 'reads';

--
-- Role memberships
--

GRANT anon TO authenticator WITH INHERIT TRUE GRANTED BY supabase_admin;
GRANT authenticated TO app_reader WITH INHERIT TRUE GRANTED BY postgres;
GRANT app_reader TO "Report ""Team""" GRANTED BY "supabase_admin";

\\unrestrict abc
`;

Deno.test("reserved roles", () => {
  for (
    const r of [
      "anon",
      "authenticated",
      "postgres",
      "supabase_admin",
      "supabase_x",
      "cli_login_1",
      "pgsodium_keymaker",
    ]
  ) {
    assertEquals(isReservedRole(r), true, r);
  }
  for (const r of ["app_reader", "Report", "admin"]) assertEquals(isReservedRole(r), false, r);
});

Deno.test("filterRoles drops reserved roles and unrestorable attributes (golden)", async () => {
  const { sql, kept } = filterRoles(DUMPALL);
  assertEquals(kept, ['Report "Team"', "app_reader"]);
  assertEquals(
    /NOSUPERUSER|NOREPLICATION|GRANTED BY|supabase_auth_admin|anon TO authenticator/.test(sql),
    false,
  );
  assertEquals(sql.includes("GRANT authenticated TO app_reader WITH INHERIT TRUE;"), true);
  await assertGolden("roles_filtered.sql", sql);
});
