--
-- PostgreSQL database dump
--

\restrict KEY

SET statement_timeout = 0;
SET transaction_timeout = 0;
SELECT pg_catalog.set_config('search_path', '', false);

--
-- Name: mood; Type: TYPE; Schema: public; Owner: supabase_admin
--

CREATE TYPE public.mood AS ENUM (
    'x'
);




--
-- Name: Order Items "2024"; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public."Order Items ""2024""" (
    id integer NOT NULL,
    m public.mood
);


ALTER TABLE public."Order Items ""2024""" OWNER TO postgres;

--
-- Name: Order Items "2024" o_fk; Type: FK CONSTRAINT; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public."Order Items ""2024"""
    ADD CONSTRAINT o_fk FOREIGN KEY (id) REFERENCES "Sales ""EU"" é".orders(id);


--
-- Name: TABLE "Order Items ""2024"""; Type: ACL; Schema: public; Owner: postgres
--


GRANT SELECT ON TABLE public."Order Items ""2024""" TO anon;




--
-- PostgreSQL database dump complete
--

\unrestrict KEY
