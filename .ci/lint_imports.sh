#!/usr/bin/env bash
# import-linter over the package as a wheel installs it: the repository's backends/ folder
# becomes graphc/backends (pyproject's package-dir), which an editable install cannot show it.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r graphc "$tmp/graphc"
cp -r backends "$tmp/graphc/backends"
find "$tmp" -name __pycache__ -prune -exec rm -rf {} +
cd "$tmp" && PYTHONPATH="$tmp" lint-imports "$repo/.importlinter" --no-cache
