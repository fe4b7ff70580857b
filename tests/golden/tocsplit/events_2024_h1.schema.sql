--
-- PostgreSQL database dump
--

\restrict keyevents2024h1schema

-- Dumped from database version 17.10
-- Dumped by pg_dump version 17.12 (Debian 17.12-0+deb13u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET transaction_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: events_2024_h1; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public.events_2024_h1 (
    id bigint DEFAULT nextval('public.events_id_seq'::regclass) NOT NULL,
    occurred_at timestamp with time zone NOT NULL,
    user_id uuid,
    kind text NOT NULL,
    payload jsonb
);


ALTER TABLE public.events_2024_h1 OWNER TO postgres;

--
-- Name: events_2024_h1; Type: TABLE ATTACH; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.events ATTACH PARTITION public.events_2024_h1 FOR VALUES FROM ('2024-01-01 00:00:00+00') TO ('2024-07-01 00:00:00+00');


--
-- Name: events_2024_h1 events_2024_h1_pkey; Type: CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.events_2024_h1
    ADD CONSTRAINT events_2024_h1_pkey PRIMARY KEY (id, occurred_at);


--
-- Name: events_2024_h1_pkey; Type: INDEX ATTACH; Schema: public; Owner: postgres
--

ALTER INDEX public.events_pkey ATTACH PARTITION public.events_2024_h1_pkey;


--
-- Name: TABLE events_2024_h1; Type: ACL; Schema: public; Owner: postgres
--

GRANT ALL ON TABLE public.events_2024_h1 TO anon;
GRANT ALL ON TABLE public.events_2024_h1 TO authenticated;
GRANT ALL ON TABLE public.events_2024_h1 TO service_role;


--
-- PostgreSQL database dump complete
--

\unrestrict keyevents2024h1schema

