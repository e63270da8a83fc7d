# Sourced by scripts/test.sh: an S3-compatible server for the object-storage
# archive tests. Starts moto's standalone server (pip package `moto[server]`;
# it implements If-None-Match and If-Match on PUT, If-None-Match on
# CompleteMultipartUpload, and multipart uploads, which the archive relies
# on: docs/archive.md, "Object storage") on a free port, creates the test
# bucket, and exports CHRONICLE_TEST_S3 (the bucket URL) plus the AWS_*
# variables the archive and pyarrow read. Its shutdown (by PID) goes into
# CLEANUP. When CHRONICLE_TEST_S3 is already set, nothing is started.
if [ -n "${CHRONICLE_TEST_S3:-}" ]; then
  echo "S3 tests use CHRONICLE_TEST_S3=${CHRONICLE_TEST_S3} at ${AWS_ENDPOINT_URL:-AWS}"
else
  if ! command -v moto_server >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check "$(grep -i '^moto' scripts/ci/requirements.txt)"
  fi
  s3_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  s3_log=$(mktemp "${TMPDIR:-/tmp}/chronicle-s3.XXXXXX")
  moto_server -H 127.0.0.1 -p "$s3_port" >"$s3_log" 2>&1 </dev/null &
  s3_pid=$!
  CLEANUP+=("kill $s3_pid 2>/dev/null; wait $s3_pid 2>/dev/null; rm -f '$s3_log'")
  s3_up=false
  for _ in $(seq 1 480); do
    if ! kill -0 "$s3_pid" 2>/dev/null; then
      break
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$s3_port") 2>/dev/null; then
      s3_up=true
      break
    fi
    sleep 0.25
  done
  if [ "$s3_up" != true ]; then
    echo "moto did not answer on 127.0.0.1:$s3_port within 120 s (or exited); its log:" >&2
    cat "$s3_log" >&2 || true
    return 1 2>/dev/null || exit 1
  fi
  # moto accepts any key; these are test values, not credentials.
  export AWS_ACCESS_KEY_ID=chronicle-test AWS_SECRET_ACCESS_KEY=chronicle-test-secret
  export AWS_REGION=us-east-1 AWS_ENDPOINT_URL="http://127.0.0.1:$s3_port" AWS_ALLOW_HTTP=true
  # One bucket; each test writes under its own prefix.
  python3 - <<PY
import urllib.request
urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:$s3_port/chronicle-test", method="PUT")).read()
PY
  export CHRONICLE_TEST_S3="s3://chronicle-test"
  echo "moto (pid $s3_pid) serves S3 at $AWS_ENDPOINT_URL, bucket $CHRONICLE_TEST_S3"
fi
