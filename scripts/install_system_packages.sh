#!/usr/bin/env bash
# Debian packages the tests use, installed where they are missing and we may (root, apt-get):
# - mariadb-server: the query-writer's MySQL/MariaDB tests (they skip, saying why, without it);
# - bubblewrap: the code sandbox's isolation (tools/code/sandbox.py; without it the sandbox
#   falls back to resource limits with a warning, and its escape tests are skipped);
# - chromium, chromium-driver: the operator's headless browser (tools/browser; its tests skip,
#   saying why, without them).
set -uo pipefail
missing=()
command -v mariadbd >/dev/null 2>&1 || missing+=(mariadb-server)
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: ${missing[*]} not installed and cannot be here (needs root and apt-get);" \
       "the tests that need them will be skipped" >&2
  exit 0
fi
echo "Installing ${missing[*]} (Debian) for the tests ..."
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
     >/tmp/slmgraph-apt.log 2>&1; then
  echo "note: installing ${missing[*]} failed (see /tmp/slmgraph-apt.log);" \
       "the tests that need them will be skipped" >&2
fi
exit 0
