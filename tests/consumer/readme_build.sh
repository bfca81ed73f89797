#!/bin/sh
# SPDX-License-Identifier: MIT
# readme_build.sh STEP README PREFIX OUT SOURCE_DIR [CC] [CXX...]
#
# Builds libraries as README.md's quick start and docs/building.md's
# "Other build systems" (in SOURCE_DIR) say, against the C package installed
# in PREFIX, in OUT/<step>/, where static-keys/ is a link to PREFIX: their
# commands run as written (they name ./static-keys, the quick start's
# --prefix), with cc replaced by CC. Every line of the sh block of
# "Other build systems" must be one this script knows, so an edit of the
# page the tests do not run fails.
#
#   cmake         the quick start's mylib.c and CMakeLists.txt, as shown,
#                 built with its cmake lines (tests/install_test.ts runs the
#                 whole quick start from Deno)
#   pkgconfig     the pkg-config lines on examples/mylib/mylib.c
#   plain         the plain compiler line on the same file
#   cxx           the plain line with each CXX on tests/consumer/mylib_cxx.cpp
#   without-core  the plain line without the archive: must fail, naming the
#                 link guard of static_keys.h
#   nocore        a library with neither keys nor the core (for open())
set -eu

step=$1 readme=$2 prefix=$3 out=$4 src=$5
building="${src}/docs/building.md"
cc=${6:-cc}
shift 5
[ $# -gt 0 ] && shift
guard=static_keys_core_missing__link_libstatic_keys_core_after_your_objects

# A section of file $2 (README by default): from its heading to the next
# heading outside a code block.
section() {
	awk -v title="$1" '/^```/ { fence = !fence }
	     !fence && /^#+ / { if (on) exit; if ($0 ~ title) { on = 1; next } }
	     on' "${2:-$readme}"
}
# The lines of the code blocks of one language of "Other build systems".
block() {
	section '^## Other build systems$' "$building" |
		awk -v lang="$1" '$0 == "```" lang { b = 1; next } /^```/ { b = 0 } b && NF'
}
# The quick start's block whose first line is a comment naming file $1.
quick_file() {
	section '^## Quick start$' | awk -v name="$1" '
		/^```/ { if (b) { b = 0; keep = 0; next } b = 1; first = 1; next }
		b && first { first = 0; keep = ($0 == "// " name || $0 == "# " name) }
		b && keep'
}
# The quick start's commands that start with $1.
quick_commands() {
	section '^## Quick start$' |
		awk -v word="$1" '$0 == "```sh" { b = 1; next } /^```/ { b = 0 } b && index($0, word " ") == 1'
}

fail() {
	echo "readme_build.sh $step: $*" >&2
	exit 1
}

# One README line of each kind, or a failure naming what is missing.
line_of() {
	l=$(block sh | grep -E "$1" || true)
	[ -n "$l" ] || fail "docs/building.md's Other build systems section has no line matching /$1/"
	[ "$(printf '%s\n' "$l" | wc -l)" -eq 1 ] || fail "several lines match /$1/: $l"
	printf '%s\n' "$l"
}

# Every sh line is one the steps below run.
block sh | while IFS= read -r l; do
	case $l in
	'export PKG_CONFIG_PATH="$PWD/static-keys/lib/pkgconfig"') ;;
	"cc "*) ;;
	*) fail "docs/building.md line not run by any test: $l" ;;
	esac
done

# As the user types it, with this compiler.
localize() {
	printf '%s\n' "$1" | sed -e "s|^cc |$cc |"
}

work="$out/$step"
rm -rf "$work"
mkdir -p "$work"
cd "$work"
ln -s "$prefix" static-keys
plain=$(line_of '^cc .*libstatic_keys_core\.a')

case $step in
cmake)
	quick_file mylib.c >mylib.c
	quick_file CMakeLists.txt >CMakeLists.txt
	[ -s mylib.c ] && [ -s CMakeLists.txt ] ||
		fail "README's quick start shows no // mylib.c or # CMakeLists.txt block"
	commands=$(quick_commands cmake)
	[ -n "$commands" ] || fail "README's quick start has no cmake command"
	printf '%s\n' "$commands" | while IFS= read -r l; do
		CC=$cc sh -ec "$l"
	done
	cp build/libmylib.so .
	;;
pkgconfig)
	command -v pkg-config >/dev/null ||
		fail "pkg-config not found: install it (Debian: apt-get install pkgconf)"
	cp "$src/examples/mylib/mylib.c" .
	sh -ec "$(localize "$(line_of '^export PKG_CONFIG_PATH=')")
$(localize "$(line_of '^cc .*pkg-config')")"
	;;
plain)
	cp "$src/examples/mylib/mylib.c" .
	sh -ec "$(localize "$plain")"
	;;
cxx)
	[ $# -gt 0 ] || fail "no C++ compiler given"
	for cxx in "$@"; do
		name=$(basename "$cxx")
		mkdir "$name"
		ln -s "$prefix" "$name/static-keys"
		cp "$src/tests/consumer/mylib_cxx.cpp" "$name/"
		(cd "$name" && sh -ec "$(localize "$plain" | sed -e "s|^$cc |$cxx |" \
			-e 's|mylib\.c|mylib_cxx.cpp|g' -e 's|libmylib\.so|libmylib_cxx.so|g')")
	done
	;;
without-core)
	# No core at all, and the package's own module (-lstatic_keys) instead
	# of the core: each must fail to link, naming the guard.
	cp "$src/examples/mylib/mylib.c" .
	for core in "" "-L$prefix/lib -lstatic_keys"; do
		line=$(localize "$plain" | sed -e "s|[^ ]*libstatic_keys_core\.a|$core|")
		if sh -ec "$line" >log 2>&1; then
			fail "linking a key without the core succeeded: $line"
		fi
		grep -q "$guard" log || { cat log >&2; fail "the link error does not name $guard: $line"; }
		echo "refused as expected: $line" && cat log
	done
	;;
nocore)
	cp "$src/tests/consumer/nocore.c" .
	sh -ec "$(localize "$plain" | sed -e 's|[^ ]*libstatic_keys_core\.a||' \
		-e 's|mylib\.c|nocore.c|g' -e 's|libmylib\.so|libnocore.so|g')"
	;;
*)
	fail "unknown step"
	;;
esac
