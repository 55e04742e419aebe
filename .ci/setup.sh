#!/usr/bin/env bash
# Installs everything graphc needs on a fresh machine: Graphviz's `dot` (via apt-get when it is
# missing) and the package itself with its test extras. Safe to run again: it skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v dot >/dev/null 2>&1; then
  echo "setup: installing Graphviz (dot)"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq graphviz >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check -e ".[dev]" 2>&1 | grep -v "Running pip as the 'root' user" || true
python3 -c "import graphc, graphviz, networkx, threadpoolctl, pytest, hypothesis, importlinter, dask.array, distributed" # fail loudly if the install did not take
