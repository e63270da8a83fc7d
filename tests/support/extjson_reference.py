"""pymongo's reading of Extended JSON, the reference for chronicle's.

Reads a mongoexport file (one document per line, or a JSON array) with
pymongo's bson.json_util, encodes each document with pymongo's BSON encoder,
and prints the BSON bytes of each, in hex, one line per document. Used by
tests/extjson_reference.rs.
"""

import sys

import bson
from bson import json_util

text = open(sys.argv[1], encoding="utf-8").read()
if text.lstrip().startswith("["):
    documents = json_util.loads(text)
else:
    documents = [json_util.loads(line) for line in text.splitlines() if line.strip()]
for document in documents:
    print(bson.encode(document).hex())
