#!/usr/bin/env bash
# Create (or reuse) .venv with everything the project needs. Safe to run again: it reinstalls only
# when requirements.txt changed. Usage: source scripts/setup_env.sh  (or bash scripts/setup_env.sh)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3.11}
stamp=.venv/.requirements.sha256
want=$(cat requirements.txt scripts/setup_env.sh | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "Setting up .venv (first time takes a few minutes: torch is large)..."
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -qq --disable-pip-version-check -r requirements.txt
  # MTCNN face detector (weights inside the wheel). Its metadata pins torch<2.3 and numpy<2, yet it runs on
  # the versions above, so it goes in without its dependencies (requests, which it imports, is in requirements).
  .venv/bin/python -m pip install -qq --disable-pip-version-check --no-deps facenet-pytorch==2.6.0
  echo "$want" > "$stamp"
fi
