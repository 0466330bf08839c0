#!/usr/bin/env bash
# Install Debian's Chromium (when /usr/bin/chromium is missing) for the tests that open pages in
# a real browser through playwright. Idempotent: a no-op when the browser is there. playwright's
# own browser download (`playwright install`) is never used: the tests drive this system binary.
#
#   scripts/ensure_browser.sh           install if needed (apt-get update, then apt-get install)
#
# Settings (environment): PIXLEE_CHROMIUM (/usr/bin/chromium). Without apt-get (or root/sudo)
# nothing is installed: a warning says so and the browser tests skip with the reason; with
# CI=true the script fails instead, so CI never hides a missing browser.
set -uo pipefail

CHROMIUM="${PIXLEE_CHROMIUM:-/usr/bin/chromium}"

say() { echo "ensure_browser: $*" >&2; }

problem() {
    say "WARNING: $*"
    if [[ "${CI:-}" == "true" ]]; then
        say "CI=true: failing rather than letting the browser tests skip"
        exit 1
    fi
    exit 0
}

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo -n "$@"
    else return 1
    fi
}

if [[ -x "$CHROMIUM" ]]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    problem "$CHROMIUM is missing and apt-get is not available: install Chromium by hand"
fi
say "installing chromium (apt-get)"
export DEBIAN_FRONTEND=noninteractive
if ! as_root apt-get update -qq >/dev/null; then
    problem "apt-get update failed (not root, or no package index): install chromium by hand"
fi
if ! as_root apt-get install -y -qq chromium >/dev/null; then
    problem "apt-get install chromium failed: install it by hand"
fi
if [[ ! -x "$CHROMIUM" ]]; then
    problem "chromium was installed but $CHROMIUM is still missing"
fi
say "chromium installed: $("$CHROMIUM" --version 2>/dev/null | head -1)"
