# Archive benchmarks on object storage (sourced by scripts/bench.sh, after
# 40-archive.sh): the same events archived to an S3-compatible server,
# replayed from it and verified there, beside the local-folder figures
# above. The server is moto (scripts/ci/30-s3.sh explains the choice),
# started here on a free port unless AWS_ENDPOINT_URL and BENCH_S3 (an
# s3://bucket URL) name one. moto keeps objects in memory in one Python
# process, so these figures bound chronicle's S3 path from below; a real
# S3 adds network latency per request and more parallel bandwidth.
S3_STORE_DB=$BENCH_DIR/archive-s3-store-$ROWS.db
S3_REPLAY_DB=$BENCH_DIR/replay-s3-store-$ROWS.db
rm -f "$S3_STORE_DB"* "$S3_REPLAY_DB"*
# The replayed store holds every event with its received_at: the live
# store before archiving.
cp "$REPLAY_DB" "$S3_STORE_DB"
bench_s3_pid=
if [ -z "${BENCH_S3:-}" ]; then
  if ! command -v moto_server >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check "$(grep -i '^moto' scripts/ci/requirements.txt)"
  fi
  s3_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  moto_server -H 127.0.0.1 -p "$s3_port" >"$BENCH_DIR/moto.log" 2>&1 </dev/null &
  bench_s3_pid=$!
  for _ in $(seq 1 120); do
    (exec 3<>"/dev/tcp/127.0.0.1/$s3_port") 2>/dev/null && break
    sleep 0.25
  done
  export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
  export AWS_ENDPOINT_URL="http://127.0.0.1:$s3_port" AWS_ALLOW_HTTP=true
  python3 -c "import urllib.request; urllib.request.urlopen(urllib.request.Request('$AWS_ENDPOINT_URL/chronicle-bench', method='PUT')).read()"
  BENCH_S3=s3://chronicle-bench
fi
S3_ARCHIVE="$BENCH_S3/archive-$ROWS-$(date +%s)"

measure "archive sqlite -> S3 parquet (verify, delete)" "$ARCHIVE_EVENTS" \
  "$CHRONICLE" --quiet --store "sqlite:$S3_STORE_DB" archive --before 2100-01-01 --lag 0 --archive "$S3_ARCHIVE"
measure "replay S3 parquet -> fresh sqlite" "$ARCHIVE_EVENTS" \
  "$CHRONICLE" --quiet --store "sqlite:$S3_REPLAY_DB" replay --archive "$S3_ARCHIVE"
measure "verify S3 archive (+ live lookups)" "$ARCHIVE_EVENTS" \
  "$CHRONICLE" --quiet --store "sqlite:$S3_STORE_DB" verify --archive "$S3_ARCHIVE"
if [ -n "$bench_s3_pid" ]; then
  kill "$bench_s3_pid" 2>/dev/null || true
  wait "$bench_s3_pid" 2>/dev/null || true
fi
rm -f "$S3_STORE_DB"* "$S3_REPLAY_DB"*
