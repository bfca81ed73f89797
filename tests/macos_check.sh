#!/bin/sh
# SPDX-License-Identifier: MIT
# macos_check.sh [source dir] - compile-checks the Mach-O port on a Linux
# host: no macOS SDK, no linker, nothing is run. For x86_64 and arm64
# Darwin, with clang -c (freestanding, no system headers):
#   1. a raw site (os/os_sections.h only, no arch header): must assemble
#      into __DATA,__static_keys, and a key into __DATA,__static_keys_t;
#   2. the public header + static_branch_* sites on a key of this unit and
#      one of another unit: same sections, 16 bytes per entry;
#   3. os/macos.c (its no-SDK declarations): must compile with -Wall
#      -Wextra -Werror and reference the ld64 section$start$/section$end$
#      symbols of both sections.
# 2 and 3 need arch/<arch>.h; an arch without one is reported and skipped.
# Exit 0 when all ran checks pass, 77 when clang is absent, 1 on failure.
set -u
src=${1:-$(dirname "$0")/..}
cc=${CLANG:-clang-16}
if ! command -v "$cc" >/dev/null 2>&1; then
	echo "skipped: $cc not found (apt install clang-16, or set CLANG)"
	exit 77
fi
objdump=${LLVM_OBJDUMP:-}
for o in llvm-objdump-16 llvm-objdump; do
	[ -n "$objdump" ] || ! command -v "$o" >/dev/null 2>&1 || objdump=$o
done
[ -n "$objdump" ] || { echo "skipped: llvm-objdump not found (apt install llvm-16)"; exit 77; }
nm=$(command -v llvm-nm-16 || command -v llvm-nm || true)
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0

flags="-nostdlibinc -ffreestanding -O2 -std=gnu11 -Wall -Wextra -Werror
       -I$src/native/include -I$src -I$src/native"

ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }

# section_size OBJ SEG SECT: prints the size (hex) of SEG,SECT, or nothing.
section_size() {
	"$objdump" --macho --private-headers "$1" | awk -v seg="$2" -v sect="$3" '
		$1 == "sectname" { s = $2 }
		$1 == "segname" { g = $2 }
		$1 == "size" && s == sect && g == seg { print $2; exit }'
}

# sections OBJ WHAT ENTRIES: both sections present; ENTRIES sites at least.
sections() {
	es=$(section_size "$1" __DATA __static_keys)
	ks=$(section_size "$1" __DATA __static_keys_t)
	if [ -z "$es" ] || [ -z "$ks" ]; then
		bad "$2: no __DATA,__static_keys / __DATA,__static_keys_t"
		"$objdump" -h "$1"
		return
	fi
	n=$(($es))
	if [ $((n % 16)) -ne 0 ] || [ $((n / 16)) -lt "$3" ]; then
		bad "$2: __DATA,__static_keys is $n bytes, want 16 per entry, >= $3"
		return
	fi
	ok "$2: __DATA,__static_keys ($((n / 16)) entries), __DATA,__static_keys_t ($(($ks)) bytes)"
}

cat >"$tmp/raw.c" <<'C'
#include <stdint.h>
#include "os/os_sections.h"
struct k { const char *name; void *p[3]; };
extern struct k other __attribute__((visibility("hidden")));
STATIC_KEYS_KEY_SECTION struct k own __attribute__((aligned(8))) = {"own", {0, 0, 0}};
#ifdef STATIC_KEYS_ENTRY_KEY_ABS
#define KEY ".quad %c0 + %c1"
#else
#define KEY ".quad %c0 + %c1 - ."
#endif
#define SITE(key, branch)                                                      \
	({ __label__ yes, out; int r = 0;                                           \
	   __asm__ goto("1: nop\n\t" STATIC_KEYS_ENTRY_PUSHSECTION "\n\t"      \
			".balign 8\n\t.long 1b - .\n\t.long %l[yes] - .\n\t"   \
			KEY "\n\t" STATIC_KEYS_ENTRY_POPSECTION                \
			: : "i"(key), "i"(branch) : : yes);                    \
	   goto out; yes: r = 1; out: r; })
int raw(void) { return SITE(&own, 0) + SITE(&other, 1); }
C

cat >"$tmp/sites.c" <<'C'
#include "static_keys.h"
DEFINE_STATIC_KEY_FALSE(own_key);
DECLARE_STATIC_KEY_TRUE(other_key);
int sites(void)
{
	int n = 0;
	if (static_branch_unlikely(&own_key))
		n |= 1;
	if (static_branch_likely(&other_key))
		n |= 2;
	return n;
}
C

for target in x86_64-apple-macos13 arm64-apple-macos13; do
	arch=${target%%-*}
	case $arch in arm64) header=aarch64.h ;; *) header=x86.h ;; esac

	if $cc --target=$target $flags -c "$tmp/raw.c" -o "$tmp/raw.o"; then
		sections "$tmp/raw.o" "$target raw site" 2
	else
		bad "$target: a raw site does not assemble"
	fi

	if [ ! -f "$src/arch/$header" ]; then
		echo "skip $target: no arch/$header in this tree (header and os/macos.c not checked)"
		continue
	fi
	if $cc --target=$target $flags -c "$tmp/sites.c" -o "$tmp/sites.o"; then
		sections "$tmp/sites.o" "$target static_keys.h sites" 2
	else
		bad "$target: static_keys.h sites do not compile"
	fi

	if $cc --target=$target $flags -c "$src/os/macos.c" -o "$tmp/macos.o"; then
		if [ -z "$nm" ]; then
			ok "$target: os/macos.c compiles (llvm-nm absent: symbols not checked)"
		elif [ "$("$nm" -u "$tmp/macos.o" | grep -c 'section\$\(start\|end\)\$__DATA\$__static_keys')" -eq 4 ]; then
			ok "$target: os/macos.c compiles, binds section\$start/end of both sections"
		else
			bad "$target: os/macos.c does not reference the four section bounds"
			"$nm" -u "$tmp/macos.o"
		fi
	else
		bad "$target: os/macos.c does not compile"
	fi
done
exit $fail
