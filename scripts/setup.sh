#!/usr/bin/env bash
# Builds everything the project needs, idempotently, from nothing but python3, npm and apt:
#   .venv (gsocketio + its deps; with --test the test/bench deps too), node_modules (the
#   official socket.io clients used as independent peers and for the demo's client bundle),
#   and with --test Debian's chromium for the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=0
[ "${1:-}" = "--test" ] && want_test=1
mkdir -p .stamps

say() { printf '[setup] %s\n' "$*"; }

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi

extras=""
[ $want_test = 1 ] && extras="[test]"
stamp=".stamps/pip${extras:+-test}"
fresh() { [ -f "$1" ] && ! [ pyproject.toml -nt "$1" ]; }
# the test install is a superset: after `make test`, `make run` has nothing to install
if ! fresh "$stamp" && ! fresh .stamps/pip-test; then
  say "installing gsocketio$extras into .venv"
  .venv/bin/python -m pip install --quiet -e ".$extras"
  touch "$stamp"
fi

if [ ! -d node_modules ] || [ package.json -nt .stamps/npm ] || [ package-lock.json -nt .stamps/npm ]; then
  say "installing the Node peers (socket.io-client 4.x/2.x/0.9.x, socket.io, playwright-core)"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi
  touch .stamps/npm
fi

if [ $want_test = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  say "installing Debian's chromium for the browser tests"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi
say "ready"
