#!/usr/bin/env bash
# Builds and checks the web UI (web/): installs its npm packages from the lockfile, checks that
# the generated API types match the server's OpenAPI document, builds the UI into the Python
# package (src/chunkyard/web/dist) and checks the build matches the committed one, checks the
# first screen's size budget, runs the component tests, and makes sure Chromium is there for
# the end-to-end test (tests/web/test_web_e2e.py, run by pytest).
#
# Needs Node.js 20.19+ with npm, and Python with chunkyard importable: the active virtual
# environment, else $CHUNKYARD_VENV (default .venv). A difference from the committed files
# fails the run; the regenerated files are left in the work tree, ready to commit.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${VIRTUAL_ENV:-}" ]; then
    PY=python
elif [ -x "${CHUNKYARD_VENV:-.venv}/bin/python" ]; then
    PY="${CHUNKYARD_VENV:-.venv}/bin/python"
else
    PY=python3
fi

command -v node >/dev/null || { echo "web.sh: Node.js 20.19+ is needed (node not found)" >&2; exit 1; }
echo "== web: node $(node --version), npm $(npm --version)"

# Fails when PATHS differ from what is committed. Before they are first committed (nothing
# of them tracked) a developer gets a note; CI (CI=true) fails.
check_committed() {
    local what=$1
    shift
    if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        echo "note: not a git work tree; cannot compare $what with the committed files"
        return
    fi
    local changes
    changes=$(git status --porcelain --untracked-files=all -- "$@")
    if [ -z "$changes" ]; then
        echo "ok: matches the committed files: $what"
        return
    fi
    if [ -z "$(git ls-files -- "$@")" ] && [ "${CI:-}" != "true" ]; then
        echo "note: not committed yet (CI fails until it is): $what"
        return
    fi
    echo "error: differs from the committed files: $what" >&2
    echo "$changes" >&2
    git --no-pager diff --stat -- "$@" >&2 || true
    echo "The regenerated files are in the work tree: review and commit them." >&2
    exit 1
}

echo "== web: npm ci"
(cd web && npm ci --no-audit --no-fund --loglevel=error)

echo "== web: API types from the server's OpenAPI document"
"$PY" scripts/export_openapi.py web/openapi.json
(cd web && npm run --silent gen:api)
check_committed "the API types (web/openapi.json, web/src/api/schema.d.ts)" \
    web/openapi.json web/src/api/schema.d.ts

echo "== web: type check and build"
(cd web && npm run --silent build)
check_committed "the built UI (src/chunkyard/web/dist)" src/chunkyard/web/dist
(cd web && node scripts/size.mjs)

echo "== web: component tests"
(cd web && npx vitest run)

if [ ! -x /usr/bin/chromium ] && [ -z "${CHROMIUM_PATH:-}" ]; then
    echo "== web: installing Debian's chromium for the end-to-end test"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
echo "== web: chromium: $("${CHROMIUM_PATH:-/usr/bin/chromium}" --version 2>/dev/null || echo missing)"
