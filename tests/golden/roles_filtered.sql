--
-- PostgreSQL database cluster dump
--

\restrict abc

SET default_transaction_read_only = off;

--
-- Roles
--

CREATE ROLE app_reader;
ALTER ROLE app_reader WITH INHERIT NOCREATEROLE NOCREATEDB LOGIN NOBYPASSRLS;
CREATE ROLE "Report ""Team""";
ALTER ROLE "Report ""Team""" WITH INHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOBYPASSRLS;
COMMENT ON ROLE app_reader IS 'reads';

--
-- Role memberships
--

GRANT authenticated TO app_reader WITH INHERIT TRUE;
GRANT app_reader TO "Report ""Team""";

\unrestrict abc
