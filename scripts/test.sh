#!/usr/bin/env bash
# Run the whole test suite against real servers (ArcadeDB, Valkey, llama.cpp) that the fixtures start.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
set +e
python -m pytest "$@"
rc=$?
set -e
# pytest exits 5 when it collected no test: that is a failure here, never a pass
if [ "$rc" -eq 5 ]; then echo "no tests were collected" >&2; exit 1; fi
exit "$rc"
