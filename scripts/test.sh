#!/usr/bin/env bash
# Installs Chunkyard with everything its tests need into a virtual environment, then runs
# the linters, the type checker and the whole test suite. Works on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${CHUNKYARD_VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
# shellcheck disable=SC1091
. "$VENV/bin/activate"

python -m pip install -q --upgrade pip
# The CPU build of torch first, so the semantic extra never pulls a multi-GB CUDA build.
python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[dev,semantic,docs,hf]"

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

# The web UI: npm packages from the lockfile, generated API types and the committed build
# checked against the source, component tests, Chromium for the browser tests below.
echo "== web"
bash scripts/web.sh

# promtool and prometheus (Debian's prometheus package) for the alert rule tests.
bash scripts/deploy_tools.sh

echo "== ruff"
ruff check src tests bench scripts
echo "== mypy"
mypy
echo "== pytest"
pytest "$@"
