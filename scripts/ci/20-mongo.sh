# Sourced by scripts/test.sh: a MongoDB-compatible server for the MongoDB
# store tests. No real mongod can be installed here, so this starts
# SecantusDB (pip package, one-node replica set on WiredTiger) on a free
# port with a temporary data folder, exports MONGODB_URI, and registers its
# shutdown (by PID) and the removal of its data in CLEANUP. Test commands
# are enabled so the retry tests can arm `failCommand` fail points.
# When MONGODB_URI is already set (e.g. a real mongod), nothing is started.
if [ -n "${MONGODB_URI:-}" ]; then
  echo "MongoDB tests use MONGODB_URI=${MONGODB_URI}"
else
  if ! command -v secantusd-py >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check "$(grep -i '^SecantusDB' scripts/ci/requirements.txt)"
  fi
  mongo_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mongo_dir=$(mktemp -d "${TMPDIR:-/tmp}/chronicle-mongo.XXXXXX")
  secantusd-py --host 127.0.0.1 --port "$mongo_port" --storage-path "$mongo_dir/data" \
    --enable-test-commands --log-level WARNING >"$mongo_dir/server.log" 2>&1 </dev/null &
  mongo_pid=$!
  CLEANUP+=("kill $mongo_pid 2>/dev/null; wait $mongo_pid 2>/dev/null; rm -rf '$mongo_dir'")
  mongo_up=false
  for _ in $(seq 1 480); do
    if ! kill -0 "$mongo_pid" 2>/dev/null; then
      break
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$mongo_port") 2>/dev/null; then
      mongo_up=true
      break
    fi
    sleep 0.25
  done
  if [ "$mongo_up" != true ]; then
    echo "SecantusDB did not answer on 127.0.0.1:$mongo_port within 120 s (or exited); its log:" >&2
    cat "$mongo_dir/server.log" >&2 || true
    return 1 2>/dev/null || exit 1
  fi
  export MONGODB_URI="mongodb://127.0.0.1:$mongo_port"
  echo "SecantusDB (pid $mongo_pid) listens at $MONGODB_URI"
fi
