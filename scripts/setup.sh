#!/usr/bin/env bash
# Set up a fresh machine for censusbot: system packages (CJK font; chromium for the browser
# test), a virtualenv in .venv, and the project with its test tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

want_browser=0
[ "${1:-}" = "--test" ] && want_browser=1

missing=()
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || missing+=(fonts-noto-cjk fontconfig)
if [ "$want_browser" = 1 ]; then
  command -v chromium >/dev/null || missing+=(chromium)
  command -v chromedriver >/dev/null || missing+=(chromium-driver)
fi
# A fresh Debian machine often runs its automatic updates at first boot: wait for the package
# manager's lock (up to 10 minutes) instead of failing at once.
APT=(apt-get -o DPkg::Lock::Timeout=600)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    "${APT[@]}" update -qq
    DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y -qq "${missing[@]}" >/dev/null
  elif command -v sudo >/dev/null; then
    sudo "${APT[@]}" update -qq
    sudo DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y -qq "${missing[@]}" >/dev/null
  else
    echo "please install: ${missing[*]} (Debian packages)" >&2
  fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
if [ "$want_browser" = 1 ]; then
  .venv/bin/python -m pip install -q -e ".[test]"
else
  .venv/bin/python -m pip install -q -e .
fi
# Embed the FAQ content once (in the embedding worker; about a minute on a fresh machine, cached
# in ~/.cache/censusbot). Optional: the bot starts without it and answers lexically until the
# embeddings it computes in the background are ready. CENSUSBOT_SKIP_EMBED=1 skips it.
if [ "${CENSUSBOT_SKIP_EMBED:-0}" != 1 ]; then
  .venv/bin/python -c "from faq.loader import FaqStore; FaqStore()" >/dev/null
fi
