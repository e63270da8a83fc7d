# Sourced by scripts/test.sh: the Rust components and Python packages the
# tests need (independent readers and encoders for fixtures and archives).
rustup component add rustfmt clippy >/dev/null 2>&1 || true
if ! python3 - <<'PY' >/dev/null 2>&1
import importlib, sys
for line in open("scripts/ci/requirements.txt"):
    name = line.split("#")[0].strip()
    if name:
        importlib.import_module({"SecantusDB": "secantus"}.get(name.split("==")[0], name.split("==")[0]))
PY
then
  python3 -m pip install --quiet --disable-pip-version-check -r scripts/ci/requirements.txt
fi
