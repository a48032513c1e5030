#!/usr/bin/env bash
# Debian packages the tests use, installed where they are missing and we may (root, apt-get):
# MariaDB's server, for the query-writer's MySQL/MariaDB tests (they skip, saying why, without it).
set -uo pipefail
if command -v mariadbd >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: mariadb-server is not installed and cannot be here (needs root and apt-get);" \
       "the MariaDB tests will be skipped" >&2
  exit 0
fi
echo "Installing mariadb-server (Debian) for the MariaDB tests ..."
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends mariadb-server; } \
     >/tmp/slmgraph-apt.log 2>&1; then
  echo "note: installing mariadb-server failed (see /tmp/slmgraph-apt.log);" \
       "the MariaDB tests will be skipped" >&2
fi
exit 0
