--
-- PostgreSQL database dump
--

\restrict keyprofilesdata

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
-- Data for Name: profiles; Type: TABLE DATA; Schema: public; Owner: postgres
--

COPY public.profiles (id, username, full_name, avatar_url, tier, tags, settings, updated_at) FROM stdin;
d6d77053-92bc-7af6-3332-8bea8c4c6904	user_1	José "Pepe" Núñez 1	https://cdn.example.com/avatars/1.png	pro	{signup,email}	{"theme": "dark", "newsletter": false}	2024-01-02 07:59:00+00
3d58ce20-fe80-2793-e0b2-21905baa60b3	user_2	Tab\tand back\\slash 2	https://cdn.example.com/avatars/2.png	team	{signup,email}	{"theme": "dark", "newsletter": true}	2024-01-03 07:59:00+00
134ad24e-9980-6ca1-1119-7065657dbf5e	user_3	User 3	https://cdn.example.com/avatars/3.png	enterprise	{signup,github}	{"theme": "dark", "newsletter": false}	2024-01-04 07:59:00+00
24b299d7-67a9-79b1-ef4b-2e634067c8ad	user_4	User 4	https://cdn.example.com/avatars/4.png	free	{signup,email}	{"theme": "dark", "newsletter": true}	2024-01-05 07:59:00+00
39201609-d980-3efb-38f4-1f440309a429	user_5	Zoë O'Brien 5	https://cdn.example.com/avatars/5.png	pro	{signup,email}	{"theme": "dark", "newsletter": false}	2024-01-06 07:59:00+00
523d9e31-5b8a-fbee-39be-392d0cffd8b3	user_6	José "Pepe" Núñez 6	https://cdn.example.com/avatars/6.png	team	{signup,github}	{"theme": "dark", "newsletter": true}	2024-01-07 07:59:00+00
40ca0979-0c31-c57a-e9b4-68903f6cd580	user_7	Tab\tand back\\slash 7	https://cdn.example.com/avatars/7.png	enterprise	{signup,email}	{"theme": "dark", "newsletter": false}	2024-01-08 07:59:00+00
c17d3a58-3c65-5a54-16f6-cd42c532cf2a	user_8	User 8	https://cdn.example.com/avatars/8.png	free	{signup,email}	{"theme": "dark", "newsletter": true}	2024-01-09 07:59:00+00
ab1cce36-e215-8608-a0fd-3d52c1038688	user_9	User 9	https://cdn.example.com/avatars/9.png	pro	{signup,github}	{"theme": "dark", "newsletter": false}	2024-01-10 07:59:00+00
a6e3db59-4a11-c15c-50cd-27d518202c88	user_10	Zoë O'Brien 10	https://cdn.example.com/avatars/10.png	team	{signup,email}	{"theme": "dark", "newsletter": true}	2024-01-11 07:59:00+00
b762295c-91f4-e49f-2b04-28a73708b18a	user_11	José "Pepe" Núñez 11	https://cdn.example.com/avatars/11.png	enterprise	{signup,email}	{"theme": "dark", "newsletter": false}	2024-01-12 07:59:00+00
e62b8bcc-21d7-cf37-a1ab-f477863b0bd4	user_12	Tab\tand back\\slash 12	https://cdn.example.com/avatars/12.png	free	{signup,github}	{"theme": "dark", "newsletter": true}	2024-01-13 07:59:00+00
13ca05f7-945e-7659-a51d-a6abfd2eddac	user_13	User 13	https://cdn.example.com/avatars/13.png	pro	{signup,email}	{"theme": "dark", "newsletter": false}	2024-01-14 07:59:00+00
df3c6ecc-3336-fd23-0a18-315cbb3fc6d6	user_14	User 14	https://cdn.example.com/avatars/14.png	team	{signup,email}	{"theme": "dark", "newsletter": true}	2024-01-15 07:59:00+00
e0b4341c-457b-d9b6-bf43-815ace7f5bae	user_15	Zoë O'Brien 15	https://cdn.example.com/avatars/15.png	enterprise	{signup,github}	{"theme": "dark", "newsletter": false}	2024-01-16 07:59:00+00
ce594d95-7058-b2bc-7fce-448aea1007f0	user_16	José "Pepe" Núñez 16	https://cdn.example.com/avatars/16.png	free	{signup,email}	{"theme": "dark", "newsletter": true}	2024-01-17 07:59:00+00
62ba5332-09fd-a25d-4b0d-5e5e2151a0b2	user_17	Tab\tand back\\slash 17	https://cdn.example.com/avatars/17.png	pro	{signup,email}	{"theme": "dark", "newsletter": false}	2024-01-18 07:59:00+00
681be464-db0d-3e82-3c34-96d95c9b3897	user_18	User 18	https://cdn.example.com/avatars/18.png	team	{signup,github}	{"theme": "dark", "newsletter": true}	2024-01-19 07:59:00+00
46d82946-67be-1568-9d0c-9e0e09161a1e	user_19	User 19	https://cdn.example.com/avatars/19.png	enterprise	{signup,email}	{"theme": "dark", "newsletter": false}	2024-01-20 07:59:00+00
3ff24f82-23a7-fed3-3613-2bb25ec3313e	user_20	Zoë O'Brien 20	https://cdn.example.com/avatars/20.png	free	{signup,email}	{"theme": "dark", "newsletter": true}	2024-01-21 07:59:00+00
46199f9d-ae2b-7e3c-1269-b52940d1f53a	user_21	José "Pepe" Núñez 21	https://cdn.example.com/avatars/21.png	pro	{signup,github}	{"theme": "dark", "newsletter": false}	2024-01-22 07:59:00+00
bc12fcb3-aa7b-57df-090e-f11e52283fff	user_22	Tab\tand back\\slash 22	https://cdn.example.com/avatars/22.png	team	{signup,email}	{"theme": "dark", "newsletter": true}	2024-01-23 07:59:00+00
65aa74dd-0189-23af-1461-5ba8e8a35b0b	user_23	User 23	https://cdn.example.com/avatars/23.png	enterprise	{signup,email}	{"theme": "dark", "newsletter": false}	2024-01-24 07:59:00+00
4380da81-0d87-47b2-4ae7-03f6c640cff0	user_24	User 24	https://cdn.example.com/avatars/24.png	free	{signup,github}	{"theme": "dark", "newsletter": true}	2024-01-25 07:59:00+00
1ec8e757-0a09-07e2-8b30-50f5710f9221	user_25	Zoë O'Brien 25	https://cdn.example.com/avatars/25.png	pro	{signup,email}	{"theme": "dark", "newsletter": false}	2024-01-26 07:59:00+00
9fc89575-150c-8f1f-5db3-dce52957a7e2	user_26	José "Pepe" Núñez 26	https://cdn.example.com/avatars/26.png	team	{signup,email}	{"theme": "dark", "newsletter": true}	2024-01-27 07:59:00+00
ca20996b-e248-d807-5f0a-21a6bb54c333	user_27	Tab\tand back\\slash 27	https://cdn.example.com/avatars/27.png	enterprise	{signup,github}	{"theme": "dark", "newsletter": false}	2024-01-28 07:59:00+00
27c9af56-9162-8266-121c-2bb6622eb745	user_28	User 28	https://cdn.example.com/avatars/28.png	free	{signup,email}	{"theme": "dark", "newsletter": true}	2024-01-29 07:59:00+00
bb71f93d-1dc7-be41-ccf2-fd15209e2d0b	user_29	User 29	https://cdn.example.com/avatars/29.png	pro	{signup,email}	{"theme": "dark", "newsletter": false}	2024-01-30 07:59:00+00
8326dcfc-4535-76ab-dcc8-2a88c7303333	user_30	Zoë O'Brien 30	https://cdn.example.com/avatars/30.png	team	{signup,github}	{"theme": "dark", "newsletter": true}	2024-01-31 07:59:00+00
3289f079-a59d-e711-e279-0f8c8d8e65c9	user_31	José "Pepe" Núñez 31	https://cdn.example.com/avatars/31.png	enterprise	{signup,email}	{"theme": "dark", "newsletter": false}	2024-02-01 07:59:00+00
56859f9d-389e-a6e2-a24d-679456dc22a4	user_32	Tab\tand back\\slash 32	https://cdn.example.com/avatars/32.png	free	{signup,email}	{"theme": "dark", "newsletter": true}	2024-02-02 07:59:00+00
169066d1-4f4c-f996-9246-752240297e79	user_33	User 33	https://cdn.example.com/avatars/33.png	pro	{signup,github}	{"theme": "dark", "newsletter": false}	2024-02-03 07:59:00+00
4445b069-56a0-ec47-a272-456a5a955c1f	user_34	User 34	https://cdn.example.com/avatars/34.png	team	{signup,email}	{"theme": "dark", "newsletter": true}	2024-02-04 07:59:00+00
ffa180b5-fad4-1fa7-e54b-c26fc4f0c9f4	user_35	Zoë O'Brien 35	https://cdn.example.com/avatars/35.png	enterprise	{signup,email}	{"theme": "dark", "newsletter": false}	2024-02-05 07:59:00+00
3a2b1469-893b-e8da-4ae2-9c91803851de	user_36	José "Pepe" Núñez 36	https://cdn.example.com/avatars/36.png	free	{signup,github}	{"theme": "dark", "newsletter": true}	2024-02-06 07:59:00+00
972912c0-6d5e-0d8c-3c59-4c6ed911e557	user_37	Tab\tand back\\slash 37	https://cdn.example.com/avatars/37.png	pro	{signup,email}	{"theme": "dark", "newsletter": false}	2024-02-07 07:59:00+00
dd261e04-3c0c-c9fb-45af-ac85e01182be	user_38	User 38	https://cdn.example.com/avatars/38.png	team	{signup,email}	{"theme": "dark", "newsletter": true}	2024-02-08 07:59:00+00
69e45b12-e772-41dc-18a6-1bcb31afc172	user_39	User 39	https://cdn.example.com/avatars/39.png	enterprise	{signup,github}	{"theme": "dark", "newsletter": false}	2024-02-09 07:59:00+00
c2cd5ffd-bdd0-c447-d874-59fb7adae788	user_40	Zoë O'Brien 40	https://cdn.example.com/avatars/40.png	free	{signup,email}	{"theme": "dark", "newsletter": true}	2024-02-10 07:59:00+00
\.


--
-- PostgreSQL database dump complete
--

\unrestrict keyprofilesdata

