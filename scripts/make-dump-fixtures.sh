#!/usr/bin/env bash
# Regenerates fixtures/dumps/ with the real tools: loads awkward rows into the
# local PostgreSQL (127.0.0.1:5432, user postgres) and MariaDB (127.0.0.1:3306,
# root), dumps them with pg_dump (plain COPY, --inserts, --column-inserts,
# custom and tar formats) and mysqldump (extended inserts; --complete-insert
# --hex-blob), writes the MongoDB fixtures with pymongo's bson package, and
# computes the expected events in Python (scripts/make_dump_fixtures.py).
# Run once by hand; the tests use the committed files and need no server.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${1:-fixtures/dumps}
DB=${CHRONICLE_FIXTURE_DB:-chronicle_dump_fixtures}
PY=scripts/make_dump_fixtures.py
mkdir -p "$OUT"
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres)
MYSQL=(mariadb -h 127.0.0.1 -P 3306 -u root)

# PostgreSQL. PGTZ makes pg_dump write timestamptz values with Berlin
# offsets (+01/+02), which the mappings must honour.
"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB ENCODING 'UTF8' TEMPLATE template0"
python3 "$PY" pg-sql | "${PSQL[@]}" -d "$DB"
PGDUMP=(env PGTZ=Europe/Berlin pg_dump -h 127.0.0.1 -U postgres --no-owner --no-privileges "$DB")
"${PGDUMP[@]}" -f "$OUT/pg-plain.sql"
"${PGDUMP[@]}" --inserts -f "$OUT/pg-inserts.sql"
"${PGDUMP[@]}" --column-inserts -f "$OUT/pg-column-inserts.sql"
"${PGDUMP[@]}" -Fc -f "$OUT/pg-custom.dump"
"${PGDUMP[@]}" -Ft -f "$OUT/pg-tar.tar"
gzip -n -c "$OUT/pg-plain.sql" >"$OUT/pg-plain.sql.gz"
"${PSQL[@]}" -d postgres -c "DROP DATABASE $DB"

# MariaDB.
"${MYSQL[@]}" -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB CHARACTER SET utf8mb4"
python3 "$PY" my-sql | "${MYSQL[@]}" "$DB"
mysqldump -h 127.0.0.1 -P 3306 -u root "$DB" >"$OUT/my-extended.sql"
mysqldump -h 127.0.0.1 -P 3306 -u root --complete-insert --hex-blob "$DB" >"$OUT/my-complete-hex.sql"
"${MYSQL[@]}" -e "DROP DATABASE $DB"

# MongoDB (no mongodump here: pymongo's encoder writes what mongodump would).
python3 "$PY" mongo "$OUT"

python3 "$PY" expected "$OUT"
ls -l "$OUT"
