#!/usr/bin/env bash
# Debian's chromium for the browser test (tests/test_web.py; Playwright drives it, it downloads no browser of its
# own). Installs it as root with apt-get where it is missing; elsewhere says in one line that the test will skip.
set -uo pipefail
command -v chromium >/dev/null && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "no chromium, and no root apt-get to install it: the browser test (tests/test_web.py) will skip"
  exit 0
fi
echo "Installing chromium for the browser test (apt-get, about a minute)..."
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1; then
  echo "apt-get could not install chromium: the browser test (tests/test_web.py) will skip"
fi
