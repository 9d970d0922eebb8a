#!/usr/bin/env bash
# Install the browser that scripts/check_report_in_browser.py drives: Debian's
# Chromium, not Playwright's download (these machines have no network for that,
# and the distribution package is what apt caches/mirrors serve). Idempotent:
# does nothing but print the version when Chromium already runs.
set -euo pipefail

chromium_bin=/usr/bin/chromium

# The Debian wrapper prints harmless shell noise on stderr; keep only stdout.
if "$chromium_bin" --version 2>/dev/null; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
else
    echo "Chromium is missing and this user is neither root nor has sudo. As root, run:" >&2
    echo "  DEBIAN_FRONTEND=noninteractive apt-get update && apt-get install -y --no-install-recommends chromium" >&2
    exit 1
fi

"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends chromium >/dev/null
"$chromium_bin" --version 2>/dev/null
