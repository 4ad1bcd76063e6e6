#!/usr/bin/env bash
# The tests of the mypyc-compiled modules against a compiled build of them (issue 14): a copy
# of the tree in a temporary directory with setup.py's MYPYC_MODULES compiled next to their
# sources (scripts/compiled_tree.py; never in the checkout, where a stale .so would shadow
# later edits), then pytest from the copy with it first on the path. tests/conftest.py fails
# the run unless every compiled module is the one imported. Arguments replace the test list.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[[ $PY = /* ]] || PY=$PWD/$PY
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gsio-compiled.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if ! "$PY" scripts/compiled_tree.py "$tmp/tree" >"$tmp/build.log" 2>&1; then
  tail -n 40 "$tmp/build.log"
  exit 1
fi
tail -n 1 "$tmp/build.log" >&2
modules=$(paste -sd, "$tmp/tree/COMPILED")
tests=(
  tests/protocol tests/websocket tests/engine tests/http
  tests/test_server.py tests/test_hooks.py tests/test_slow_consumer.py
  tests/hostile tests/interop/test_python_client.py tests/interop/test_node_client_v4.py
  tests/interop/test_msgpack_node.py tests/interop/test_recovery_node.py
  tests/interop/test_http_keepalive.py tests/interop/test_node_client_v2.py
  tests/legacy tests/compat tests/interop/test_legacy_node.py
)
[ $# -gt 0 ] && tests=("$@")
cd "$tmp/tree"
GSOCKETIO_EXPECT_COMPILED=$modules PYTHONPATH="$tmp/tree" \
  "$PY" -m pytest -p no:cacheprovider -q "${tests[@]}"
