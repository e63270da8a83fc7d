--
-- PostgreSQL database dump
--

\restrict pkQNvtLto1BgO2hvSn3p0xqsbINA2QuTeprRB8WDKiNpJqBPaaTgVnu5bRjFz8z

-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: archive; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA archive;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: payments; Type: TABLE; Schema: archive; Owner: -
--

CREATE TABLE archive.payments (
    payment_id text NOT NULL,
    user_id integer,
    status text,
    amount numeric(12,2),
    currency character(3),
    country text,
    created timestamp without time zone,
    note text
);


--
-- Name: ledger_entries; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ledger_entries (
    "Entry ID" bigint NOT NULL,
    kind text NOT NULL,
    amount numeric(20,6),
    occurred_at timestamp with time zone,
    booked_on date,
    attachment bytea,
    details jsonb,
    approved boolean,
    memo text
);


--
-- Name: payments; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.payments (
    payment_id text NOT NULL,
    user_id integer,
    status text,
    amount numeric(12,2),
    currency character(3),
    country text,
    created timestamp without time zone,
    note text
);


--
-- Data for Name: payments; Type: TABLE DATA; Schema: archive; Owner: -
--

INSERT INTO archive.payments (payment_id, user_id, status, amount, currency, country, created, note) VALUES ('A-0001', 3, 'completed', 2.00, 'EUR', 'DE', '2015-05-05 05:05:05', 'archived');


--
-- Data for Name: ledger_entries; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.ledger_entries ("Entry ID", kind, amount, occurred_at, booked_on, attachment, details, approved, memo) VALUES (9007199254740993, 'credit', 12345678901234.123456, '2016-01-01 13:00:00.123+01', '2016-01-01', '\x00ff10275c', '{"a": "x\ty", "b": [1, 2]}', true, 'backslash \ tab	 bell formfeed vtab backspace quote '' dq "');
INSERT INTO public.ledger_entries ("Entry ID", kind, amount, occurred_at, booked_on, attachment, details, approved, memo) VALUES (2, 'debit', -0.000001, '2016-06-15 23:30:00+02', '2016-06-15', NULL, NULL, false, NULL);
INSERT INTO public.ledger_entries ("Entry ID", kind, amount, occurred_at, booked_on, attachment, details, approved, memo) VALUES (3, 'credit', 0.000000, '2016-10-30 02:30:00+01', '2016-10-30', '\x68656c6c6f', '{"nested": {"k": null}}', true, 'Ünïcödé ✓');
INSERT INTO public.ledger_entries ("Entry ID", kind, amount, occurred_at, booked_on, attachment, details, approved, memo) VALUES (4, 'debit', 7.000000, '2017-01-02 04:04:05+01', '2017-01-02', NULL, '[]', NULL, 'approved is NULL');


--
-- Data for Name: payments; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.payments (payment_id, user_id, status, amount, currency, country, created, note) VALUES ('P-0001', 42, 'completed', 19.99, 'EUR', 'DE', '2016-01-01 13:00:00', 'plain note');
INSERT INTO public.payments (payment_id, user_id, status, amount, currency, country, created, note) VALUES ('P-0002', 7, 'refunded', 0.50, 'USD', 'US', '2016-03-27 01:30:00', NULL);
INSERT INTO public.payments (payment_id, user_id, status, amount, currency, country, created, note) VALUES ('P-0003', 42, 'failed', 1234567.89, 'CHF', 'CH', '2016-07-01 12:00:00', 'tab	here
new line, back\slash and \N literally');
INSERT INTO public.payments (payment_id, user_id, status, amount, currency, country, created, note) VALUES ('P-0004', 99, 'completed', 5.00, 'EUR', 'FR', '2016-10-30 02:30:00', 'quotes: "double" and ''single''');
INSERT INTO public.payments (payment_id, user_id, status, amount, currency, country, created, note) VALUES ('P-0005', 13, 'pending', 100.00, 'GBP', 'GB', '2016-12-31 23:59:59', 'Zürich café naïve — 東京 🎉');
INSERT INTO public.payments (payment_id, user_id, status, amount, currency, country, created, note) VALUES ('P-0006', 1, 'completed', 0.01, 'EUR', 'DE', '2017-01-01 00:00:00', '');
INSERT INTO public.payments (payment_id, user_id, status, amount, currency, country, created, note) VALUES ('P-0007', 5, 'completed', -3.50, 'EUR', 'AT', '2017-02-01 08:15:00', 'carriage
return; ctrl  and \. end');
INSERT INTO public.payments (payment_id, user_id, status, amount, currency, country, created, note) VALUES ('P-0008', 8, 'completed', 10.00, 'EUR', 'DE', '2016-03-27 02:30:00', 'in the DST gap');
INSERT INTO public.payments (payment_id, user_id, status, amount, currency, country, created, note) VALUES ('P-0009', 9, 'completed', 1.00, 'EUR', 'DE', '2017-03-01 10:00:00', 'TEST: smoke payment');


--
-- Name: payments payments_pkey; Type: CONSTRAINT; Schema: archive; Owner: -
--

ALTER TABLE ONLY archive.payments
    ADD CONSTRAINT payments_pkey PRIMARY KEY (payment_id);


--
-- Name: ledger_entries ledger_entries_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ledger_entries
    ADD CONSTRAINT ledger_entries_pkey PRIMARY KEY ("Entry ID");


--
-- Name: payments payments_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.payments
    ADD CONSTRAINT payments_pkey PRIMARY KEY (payment_id);


--
-- PostgreSQL database dump complete
--

\unrestrict pkQNvtLto1BgO2hvSn3p0xqsbINA2QuTeprRB8WDKiNpJqBPaaTgVnu5bRjFz8z

