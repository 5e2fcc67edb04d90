#!/usr/bin/env bash
# Set up .venv if needed, and chromium for the browser test where this user can, lint, then run the test suite.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup_env.sh
bash scripts/install_chromium.sh
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
