#!/usr/bin/env python3
"""Converts the bench payments CSV (scripts/gen-payments.py) into what
`pg_dump --table public.payments` writes for the same rows: a plain-format
dump with one COPY block in text format (backslash escapes, `\\N` for the
empty notes, which a COPY ... CSV load would have made NULL).
Usage: csv-to-pgdump.py IN.csv OUT.sql"""
import csv
import sys

ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
HEADER = """--
-- PostgreSQL database dump
--

SET statement_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);

CREATE TABLE public.payments (
    payment_id text NOT NULL,
    user_id integer,
    status text,
    amount numeric(12,2),
    currency text,
    country text,
    created timestamp without time zone,
    note text
);

--
-- Data for Name: payments; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.payments (payment_id, user_id, status, amount, currency, country, created, note) FROM stdin;
"""
FOOTER = """\\.


--
-- PostgreSQL database dump complete
--

"""


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(src, newline="", encoding="utf-8") as f, open(dst, "w", encoding="utf-8") as out:
        rows = csv.reader(f)
        next(rows)
        out.write(HEADER)
        for row in rows:
            out.write("\t".join(v.translate(ESCAPES) if v != "" else "\\N" for v in row))
            out.write("\n")
        out.write(FOOTER)


if __name__ == "__main__":
    main()
