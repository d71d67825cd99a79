#!/usr/bin/env bash
# Set up (first time) and run every check: ruff, mypy and the whole test suite, with its
# database tests on SQLite and on PostgreSQL (started here when it is not running).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
fi

.venv/bin/ruff check .
.venv/bin/mypy bot handlers scheduling faq migrations emulator demo
.venv/bin/python -m pytest -q "$@"
