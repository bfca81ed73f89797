#!/bin/sh
# SPDX-License-Identifier: MIT
# readme_build.sh STEP README PREFIX OUT SOURCE_DIR [CC] [CXX...]
#
# Runs the commands of README.md's "The C package" section as a user would,
# with the README's /opt/static-keys replaced by PREFIX (an install of this
# build) and cc by CC, in OUT/<step>/. Every line of the section's sh blocks
# must be one this script knows, so a README edit the test does not run fails.
#
#   cmake         the configure + build line on a copy of examples/mylib; the
#                 README's CMake lines must be lines of its CMakeLists.txt
#   pkgconfig     the pkg-config line on examples/mylib/mylib.c
#   plain         the plain compiler line on the same file
#   cxx           the plain line with each CXX on tests/consumer/mylib_cxx.cpp
#   without-core  the plain line without the archive: must fail, naming the
#                 link guard of static_keys.h
#   nocore        a library with neither keys nor the core (for open())
set -eu

step=$1 readme=$2 prefix=$3 out=$4 src=$5
cc=${6:-cc}
shift 5
[ $# -gt 0 ] && shift
guard=static_keys_core_missing__link_libstatic_keys_core_after_your_objects

# The section: from its heading to the next heading outside a code block.
section() {
	awk '/^```/ { fence = !fence }
	     !fence && /^#+ / { if (on) exit; if (/The C package/) { on = 1; next } }
	     on' "$readme"
}
# The lines of its code blocks of one language.
block() {
	section | awk -v lang="$1" '$0 == "```" lang { b = 1; next } /^```/ { b = 0 } b && NF'
}

fail() {
	echo "readme_build.sh $step: $*" >&2
	exit 1
}

# One README line of each kind, or a failure naming what is missing.
line_of() {
	l=$(block sh | grep -E "$1" || true)
	[ -n "$l" ] || fail "README's C package section has no line matching /$1/"
	[ "$(printf '%s\n' "$l" | wc -l)" -eq 1 ] || fail "several lines match /$1/: $l"
	printf '%s\n' "$l"
}

# Every sh line is one the steps below run (the install lines are
# package_install's: cmake --install of this very build; the build entry's
# lines are run as written by tests/install_test.ts).
block sh | while IFS= read -r l; do
	case $l in
	"deno run --allow-env --allow-read --allow-write --allow-run=cmake \\") ;;
	"  --allow-sys=uid jsr:@static-keys/deno/build --prefix /opt/static-keys") ;;
	"cmake -S . -B build && cmake --build build") ;;
	"cmake --install build --prefix /opt/static-keys") ;;
	"cmake -S . -B build -DCMAKE_PREFIX_PATH=/opt/static-keys"*) ;;
	"export PKG_CONFIG_PATH=/opt/static-keys/"*) ;;
	"cc "*) ;;
	*) fail "README line not run by any test: $l" ;;
	esac
done

# As a user types it, with this install and this compiler.
localize() {
	printf '%s\n' "$1" | sed -e "s|/opt/static-keys|$prefix|g" -e "s|^cc |$cc |"
}

work="$out/$step"
rm -rf "$work"
mkdir -p "$work"
cd "$work"
plain=$(line_of '^cc .*libstatic_keys_core\.a')

case $step in
cmake)
	block cmake | while IFS= read -r l; do
		sed 's/^[[:space:]]*//' "$src/examples/mylib/CMakeLists.txt" | grep -Fxq -- "$l" ||
			fail "README's CMake line is not in examples/mylib/CMakeLists.txt: $l"
	done
	cp "$src/examples/mylib/"*.c "$src/examples/mylib/CMakeLists.txt" .
	CC=$cc sh -ec "$(localize "$(line_of '^cmake -S \. -B build -DCMAKE_PREFIX_PATH')")"
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
