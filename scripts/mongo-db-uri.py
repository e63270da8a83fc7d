#!/usr/bin/env python3
"""Prints a MongoDB URI naming another database: `mongo-db-uri.py URI DB`
keeps URI's hosts and options and replaces its path with DB. The benches
use it to give each run a database of its own on a shared server."""
import sys

uri, db = sys.argv[1], sys.argv[2]
base, _, query = uri.partition("?")
scheme, _, rest = base.partition("://")
print(f"{scheme}://{rest.split('/')[0]}/{db}" + (f"?{query}" if query else ""))
