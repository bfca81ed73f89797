#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs a Windows program under wine for CTest: headless, quiet, in a
# throwaway prefix under /tmp (created once, serialised with flock).
# The exit code is the program's.
set -e
: "${WINEPREFIX:=${TMPDIR:-/tmp}/static-keys-wine-$(id -u)}"
: "${WINEDEBUG:=-all}"
export WINEPREFIX WINEDEBUG
export WINEDLLOVERRIDES="${WINEDLLOVERRIDES:-mscoree,mshtml=}"
unset DISPLAY WAYLAND_DISPLAY
wine=$(command -v wine || command -v wine64 || true)
if [ -z "$wine" ]; then
	echo "wine-run.sh: wine is not installed (apt install wine64)" >&2
	exit 127
fi
if [ ! -f "$WINEPREFIX/system.reg" ]; then
	mkdir -p "$WINEPREFIX"
	(
		flock 9
		[ -f "$WINEPREFIX/system.reg" ] ||
			"$wine" wineboot --init >/dev/null 2>&1 || true
	) 9>"$WINEPREFIX.lock"
fi
exec "$wine" "$@"
