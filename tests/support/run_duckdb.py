#!/usr/bin/env python3
"""Runs a SQL script emitted by `chronicle rebuild NAME --emit-sql duckdb`
with DuckDB (never chronicle code) and prints the rows of its last statement
as one JSON array of arrays, for tests/emit_sql.rs.
Usage: run_duckdb.py SQL_FILE"""
import json
import sys

import duckdb


def main():
    script = open(sys.argv[1], encoding="utf-8").read()
    con = duckdb.connect()
    statements = [s for s in script.split(";\n") if s.strip()]
    for statement in statements[:-1]:
        con.execute(statement)
    result = con.execute(statements[-1])
    names = [d[0] for d in result.description]
    print(json.dumps({"columns": names, "rows": [list(r) for r in result.fetchall()]}))


if __name__ == "__main__":
    main()
