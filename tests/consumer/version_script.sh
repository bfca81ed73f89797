#!/bin/sh
# SPDX-License-Identifier: MIT
# version_script.sh STEP PREFIX OUT SOURCE_DIR [CC]
#
# A user's library (examples/mylib/mylib.c) linked against the install in
# PREFIX with a version script that ends in "local: *;", in OUT/<step>/:
#
#   cmake-hidden    CMake (tests/consumer/vscript), the user's script alone:
#                   the core's exports are hidden
#   cmake-fragment  the same with StaticKeys_VERSION_SCRIPT after it
#   plain-hidden    the plain compiler line with the user's script alone
#   plain-fragment  the plain line with the script pkg-config names
#                   (versionscript) after the user's
#   plain-global    the plain line with an anonymous script that lists
#                   static_keys_ffi_* under global: itself
#
# Each leaves OUT/<step>/libmylib.so.
set -eu

step=$1 prefix=$2 out=$3 src=$4
cc=${5:-cc}
vs=$src/tests/consumer/vscript
work="$out/$step"
rm -rf "$work"
mkdir -p "$work"
cd "$work"
cp "$src/examples/mylib/mylib.c" "$vs/mylib.map" "$vs/anon.map" .
plain() {
	"$cc" -shared -fPIC -I"$prefix/include/static_keys" -o libmylib.so mylib.c \
		"$prefix/lib/libstatic_keys_core.a" "$@"
}

case $step in
cmake-hidden | cmake-fragment)
	cp "$vs/CMakeLists.txt" .
	fragment=OFF
	[ "$step" = cmake-fragment ] && fragment=ON
	CC=$cc cmake -S . -B build -DCMAKE_PREFIX_PATH="$prefix" \
		-DWITH_FRAGMENT=$fragment
	cmake --build build
	cp build/libmylib.so .
	;;
plain-hidden)
	plain -Wl,--version-script=mylib.map
	;;
plain-fragment)
	map=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --variable=versionscript static-keys)
	[ -f "$map" ] || { echo "pkg-config names no fragment: '$map'" >&2; exit 1; }
	plain -Wl,--version-script=mylib.map -Wl,--version-script="$map"
	;;
plain-global)
	plain -Wl,--version-script=anon.map
	;;
*)
	echo "version_script.sh: unknown step $step" >&2
	exit 1
	;;
esac
