--
-- PostgreSQL database dump
--

\restrict keyevents2024h1data

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

--
-- Data for Name: events_2024_h1; Type: TABLE DATA; Schema: public; Owner: postgres
--

COPY public.events_2024_h1 (id, occurred_at, user_id, kind, payload) FROM stdin;
13	2024-01-03 01:00:00+00	df3c6ecc-3336-fd23-0a18-315cbb3fc6d6	click	{"n": 13, "path": "/p/13", "nested": {"ok": false}}
14	2024-01-05 14:00:00+00	e0b4341c-457b-d9b6-bf43-815ace7f5bae	signup	{"n": 14, "path": "/p/14", "nested": {"ok": true}}
15	2024-01-08 03:00:00+00	ce594d95-7058-b2bc-7fce-448aea1007f0	purchase	{"n": 15, "path": "/p/15", "nested": {"ok": false}}
16	2024-01-10 16:00:00+00	\N	page_view	{"n": 16, "path": "/p/16", "nested": {"ok": true}}
17	2024-01-13 05:00:00+00	681be464-db0d-3e82-3c34-96d95c9b3897	click	{"n": 17, "path": "/p/17", "nested": {"ok": false}}
18	2024-01-15 18:00:00+00	46d82946-67be-1568-9d0c-9e0e09161a1e	signup	{"n": 18, "path": "/p/18", "nested": {"ok": true}}
19	2024-01-18 07:00:00+00	3ff24f82-23a7-fed3-3613-2bb25ec3313e	purchase	{"n": 19, "path": "/p/19", "nested": {"ok": false}}
20	2024-01-20 20:00:00+00	46199f9d-ae2b-7e3c-1269-b52940d1f53a	page_view	{"n": 20, "path": "/p/20", "nested": {"ok": true}}
21	2024-01-23 09:00:00+00	bc12fcb3-aa7b-57df-090e-f11e52283fff	click	{"n": 21, "path": "/p/21", "nested": {"ok": false}}
22	2024-01-25 22:00:00+00	65aa74dd-0189-23af-1461-5ba8e8a35b0b	signup	{"n": 22, "path": "/p/22", "nested": {"ok": true}}
23	2024-01-28 11:00:00+00	4380da81-0d87-47b2-4ae7-03f6c640cff0	purchase	{"n": 23, "path": "/p/23", "nested": {"ok": false}}
24	2024-01-31 00:00:00+00	\N	page_view	{"n": 24, "path": "/p/24", "nested": {"ok": true}}
25	2024-02-02 13:00:00+00	9fc89575-150c-8f1f-5db3-dce52957a7e2	click	{"n": 25, "path": "/p/25", "nested": {"ok": false}}
26	2024-02-05 02:00:00+00	ca20996b-e248-d807-5f0a-21a6bb54c333	signup	{"n": 26, "path": "/p/26", "nested": {"ok": true}}
27	2024-02-07 15:00:00+00	27c9af56-9162-8266-121c-2bb6622eb745	purchase	{"n": 27, "path": "/p/27", "nested": {"ok": false}}
28	2024-02-10 04:00:00+00	bb71f93d-1dc7-be41-ccf2-fd15209e2d0b	page_view	{"n": 28, "path": "/p/28", "nested": {"ok": true}}
29	2024-02-12 17:00:00+00	8326dcfc-4535-76ab-dcc8-2a88c7303333	click	{"n": 29, "path": "/p/29", "nested": {"ok": false}}
30	2024-02-15 06:00:00+00	3289f079-a59d-e711-e279-0f8c8d8e65c9	signup	{"n": 30, "path": "/p/30", "nested": {"ok": true}}
31	2024-02-17 19:00:00+00	56859f9d-389e-a6e2-a24d-679456dc22a4	purchase	{"n": 31, "path": "/p/31", "nested": {"ok": false}}
32	2024-02-20 08:00:00+00	\N	page_view	{"n": 32, "path": "/p/32", "nested": {"ok": true}}
33	2024-02-22 21:00:00+00	4445b069-56a0-ec47-a272-456a5a955c1f	click	{"n": 33, "path": "/p/33", "nested": {"ok": false}}
34	2024-02-25 10:00:00+00	ffa180b5-fad4-1fa7-e54b-c26fc4f0c9f4	signup	{"n": 34, "path": "/p/34", "nested": {"ok": true}}
35	2024-02-27 23:00:00+00	3a2b1469-893b-e8da-4ae2-9c91803851de	purchase	{"n": 35, "path": "/p/35", "nested": {"ok": false}}
36	2024-03-01 12:00:00+00	972912c0-6d5e-0d8c-3c59-4c6ed911e557	page_view	{"n": 36, "path": "/p/36", "nested": {"ok": true}}
37	2024-03-04 01:00:00+00	dd261e04-3c0c-c9fb-45af-ac85e01182be	click	{"n": 37, "path": "/p/37", "nested": {"ok": false}}
38	2024-03-06 14:00:00+00	69e45b12-e772-41dc-18a6-1bcb31afc172	signup	{"n": 38, "path": "/p/38", "nested": {"ok": true}}
39	2024-03-09 03:00:00+00	d6d77053-92bc-7af6-3332-8bea8c4c6904	purchase	{"n": 39, "path": "/p/39", "nested": {"ok": false}}
40	2024-03-11 16:00:00+00	\N	page_view	{"n": 40, "path": "/p/40", "nested": {"ok": true}}
41	2024-03-14 05:00:00+00	134ad24e-9980-6ca1-1119-7065657dbf5e	click	{"n": 41, "path": "/p/41", "nested": {"ok": false}}
42	2024-03-16 18:00:00+00	24b299d7-67a9-79b1-ef4b-2e634067c8ad	signup	{"n": 42, "path": "/p/42", "nested": {"ok": true}}
43	2024-03-19 07:00:00+00	39201609-d980-3efb-38f4-1f440309a429	purchase	{"n": 43, "path": "/p/43", "nested": {"ok": false}}
44	2024-03-21 20:00:00+00	523d9e31-5b8a-fbee-39be-392d0cffd8b3	page_view	{"n": 44, "path": "/p/44", "nested": {"ok": true}}
45	2024-03-24 09:00:00+00	40ca0979-0c31-c57a-e9b4-68903f6cd580	click	{"n": 45, "path": "/p/45", "nested": {"ok": false}}
46	2024-03-26 22:00:00+00	c17d3a58-3c65-5a54-16f6-cd42c532cf2a	signup	{"n": 46, "path": "/p/46", "nested": {"ok": true}}
47	2024-03-29 11:00:00+00	ab1cce36-e215-8608-a0fd-3d52c1038688	purchase	{"n": 47, "path": "/p/47", "nested": {"ok": false}}
48	2024-04-01 00:00:00+00	\N	page_view	{"n": 48, "path": "/p/48", "nested": {"ok": true}}
49	2024-04-03 13:00:00+00	b762295c-91f4-e49f-2b04-28a73708b18a	click	{"n": 49, "path": "/p/49", "nested": {"ok": false}}
50	2024-04-06 02:00:00+00	e62b8bcc-21d7-cf37-a1ab-f477863b0bd4	signup	{"n": 50, "path": "/p/50", "nested": {"ok": true}}
51	2024-04-08 15:00:00+00	13ca05f7-945e-7659-a51d-a6abfd2eddac	purchase	{"n": 51, "path": "/p/51", "nested": {"ok": false}}
52	2024-04-11 04:00:00+00	df3c6ecc-3336-fd23-0a18-315cbb3fc6d6	page_view	{"n": 52, "path": "/p/52", "nested": {"ok": true}}
53	2024-04-13 17:00:00+00	e0b4341c-457b-d9b6-bf43-815ace7f5bae	click	{"n": 53, "path": "/p/53", "nested": {"ok": false}}
54	2024-04-16 06:00:00+00	ce594d95-7058-b2bc-7fce-448aea1007f0	signup	{"n": 54, "path": "/p/54", "nested": {"ok": true}}
55	2024-04-18 19:00:00+00	62ba5332-09fd-a25d-4b0d-5e5e2151a0b2	purchase	{"n": 55, "path": "/p/55", "nested": {"ok": false}}
56	2024-04-21 08:00:00+00	\N	page_view	{"n": 56, "path": "/p/56", "nested": {"ok": true}}
57	2024-04-23 21:00:00+00	46d82946-67be-1568-9d0c-9e0e09161a1e	click	{"n": 57, "path": "/p/57", "nested": {"ok": false}}
58	2024-04-26 10:00:00+00	3ff24f82-23a7-fed3-3613-2bb25ec3313e	signup	{"n": 58, "path": "/p/58", "nested": {"ok": true}}
59	2024-04-28 23:00:00+00	46199f9d-ae2b-7e3c-1269-b52940d1f53a	purchase	{"n": 59, "path": "/p/59", "nested": {"ok": false}}
60	2024-05-01 12:00:00+00	bc12fcb3-aa7b-57df-090e-f11e52283fff	page_view	{"n": 60, "path": "/p/60", "nested": {"ok": true}}
61	2024-05-04 01:00:00+00	65aa74dd-0189-23af-1461-5ba8e8a35b0b	click	{"n": 61, "path": "/p/61", "nested": {"ok": false}}
62	2024-05-06 14:00:00+00	4380da81-0d87-47b2-4ae7-03f6c640cff0	signup	{"n": 62, "path": "/p/62", "nested": {"ok": true}}
63	2024-05-09 03:00:00+00	1ec8e757-0a09-07e2-8b30-50f5710f9221	purchase	{"n": 63, "path": "/p/63", "nested": {"ok": false}}
64	2024-05-11 16:00:00+00	\N	page_view	{"n": 64, "path": "/p/64", "nested": {"ok": true}}
65	2024-05-14 05:00:00+00	ca20996b-e248-d807-5f0a-21a6bb54c333	click	{"n": 65, "path": "/p/65", "nested": {"ok": false}}
66	2024-05-16 18:00:00+00	27c9af56-9162-8266-121c-2bb6622eb745	signup	{"n": 66, "path": "/p/66", "nested": {"ok": true}}
67	2024-05-19 07:00:00+00	bb71f93d-1dc7-be41-ccf2-fd15209e2d0b	purchase	{"n": 67, "path": "/p/67", "nested": {"ok": false}}
68	2024-05-21 20:00:00+00	8326dcfc-4535-76ab-dcc8-2a88c7303333	page_view	{"n": 68, "path": "/p/68", "nested": {"ok": true}}
69	2024-05-24 09:00:00+00	3289f079-a59d-e711-e279-0f8c8d8e65c9	click	{"n": 69, "path": "/p/69", "nested": {"ok": false}}
70	2024-05-26 22:00:00+00	56859f9d-389e-a6e2-a24d-679456dc22a4	signup	{"n": 70, "path": "/p/70", "nested": {"ok": true}}
71	2024-05-29 11:00:00+00	169066d1-4f4c-f996-9246-752240297e79	purchase	{"n": 71, "path": "/p/71", "nested": {"ok": false}}
72	2024-06-01 00:00:00+00	\N	page_view	{"n": 72, "path": "/p/72", "nested": {"ok": true}}
73	2024-06-03 13:00:00+00	ffa180b5-fad4-1fa7-e54b-c26fc4f0c9f4	click	{"n": 73, "path": "/p/73", "nested": {"ok": false}}
74	2024-06-06 02:00:00+00	3a2b1469-893b-e8da-4ae2-9c91803851de	signup	{"n": 74, "path": "/p/74", "nested": {"ok": true}}
75	2024-06-08 15:00:00+00	972912c0-6d5e-0d8c-3c59-4c6ed911e557	purchase	{"n": 75, "path": "/p/75", "nested": {"ok": false}}
76	2024-06-11 04:00:00+00	dd261e04-3c0c-c9fb-45af-ac85e01182be	page_view	{"n": 76, "path": "/p/76", "nested": {"ok": true}}
77	2024-06-13 17:00:00+00	69e45b12-e772-41dc-18a6-1bcb31afc172	click	{"n": 77, "path": "/p/77", "nested": {"ok": false}}
78	2024-06-16 06:00:00+00	d6d77053-92bc-7af6-3332-8bea8c4c6904	signup	{"n": 78, "path": "/p/78", "nested": {"ok": true}}
79	2024-06-18 19:00:00+00	3d58ce20-fe80-2793-e0b2-21905baa60b3	purchase	{"n": 79, "path": "/p/79", "nested": {"ok": false}}
80	2024-06-21 08:00:00+00	\N	page_view	{"n": 80, "path": "/p/80", "nested": {"ok": true}}
81	2024-06-23 21:00:00+00	24b299d7-67a9-79b1-ef4b-2e634067c8ad	click	{"n": 81, "path": "/p/81", "nested": {"ok": false}}
82	2024-06-26 10:00:00+00	39201609-d980-3efb-38f4-1f440309a429	signup	{"n": 82, "path": "/p/82", "nested": {"ok": true}}
83	2024-06-28 23:00:00+00	523d9e31-5b8a-fbee-39be-392d0cffd8b3	purchase	{"n": 83, "path": "/p/83", "nested": {"ok": false}}
\.


--
-- PostgreSQL database dump complete
--

\unrestrict keyevents2024h1data

