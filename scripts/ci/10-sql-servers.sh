# Sourced by scripts/test.sh: PostgreSQL (projection target, pg_dump fixtures)
# and MariaDB (mysqldump fixtures) must be up; start them when they are down.
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
fi
if ! mariadb-admin -h 127.0.0.1 -P 3306 -u root ping >/dev/null 2>&1; then
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
fi
for _ in $(seq 1 60); do
  pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && mariadb-admin -h 127.0.0.1 -P 3306 -u root ping >/dev/null 2>&1 && break
  sleep 0.5
done
export CHRONICLE_TEST_POSTGRES_URL="${CHRONICLE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
