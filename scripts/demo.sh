#!/usr/bin/env bash
# Set up (first time) and start the demo: Bot API emulator, the bot and a web chat page.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/censusbot demo "$@"
