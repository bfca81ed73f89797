#!/bin/sh
# SPDX-License-Identifier: MIT
# arch_vectors.sh - how the tables in arch_test.c were made, once, with the
# Debian 12 cross binutils (2.40). Not run by the build: the tables are data.
# Prints "<assembler line>  <bytes in memory order | REJECTED: reason>".
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

# one AS OBJCOPY LINE...: assemble LINE alone, print the bytes of .text.
one() {
	as=$1 oc=$2
	shift 2
	printf '%s\n' "$@" >one.s
	if ! $as one.s -o one.o 2>err.txt; then
		echo "REJECTED: $(grep -o 'Error: .*' err.txt | head -1)"
		return
	fi
	$oc -O binary -j .text one.o one.bin
	od -An -tx1 one.bin | tr -s ' ' | sed 's/^ //'
}

# rv OFF: "jal x0, L" with L at OFF bytes from the jal, after ld resolved
# R_RISCV_JAL (gas leaves the range check to the linker).
rv() {
	off=$1 skip=0
	{
		printf '.option norvc\n.option norelax\n.globl _start\n'
		if [ "$off" -ge 4 ]; then
			printf '_start: jal x0, 2f\n.skip %d\n2: nop\n' $((off - 4))
		elif [ "$off" -ge 0 ]; then
			printf '_start: jal x0, _start+%d\nnop\n' "$off"
		else
			printf '2: .skip %d\n_start: jal x0, 2b\n' $((-off))
			skip=$((-off))
		fi
	} >r.s
	if ! riscv64-linux-gnu-as -march=rv64gc -mno-relax r.s -o r.o 2>err.txt ||
		! riscv64-linux-gnu-ld -Ttext=0x10000 r.o -o r.elf 2>>err.txt; then
		echo "REJECTED: $(grep -o -E '(Error|relocation).*' err.txt | head -1)"
		return
	fi
	riscv64-linux-gnu-objcopy -O binary -j .text r.elf r.bin
	od -An -tx1 -j "$skip" -N 4 r.bin | tr -s ' ' | sed 's/^ //'
}

echo "# x86_64 (as --64; {disp32}/{disp8} force the 5-byte forms)"
for l in "jmp .+0" "jmp .+5" "jmp .+0x45" "jmp .-0x1000" \
	"jmp .+0x123459" "jmp .+0x80000004" "jmp .-0x7ffffffb" \
	"jmp .+0x80000005" "jmp .-0x7ffffffc"; do
	p="{disp32} "
	printf '%-24s %s\n' "$l" "$(one "as --64" objcopy "$p$l")"
done
echo "# x86_64 nops: test eax, imm32 with the jmp's disp32 (target - site - 5)"
for l in '$0xfffffffb, %eax' '$0x0, %eax' '$0x40, %eax' '$0xffffeffb, %eax' \
	'$0x7fffffff, %eax' '$0x80000000, %eax'; do
	printf '%-24s %s\n' "test $l" "$(one "as --64" objcopy "test $l")"
done

echo "# aarch64 (aarch64-linux-gnu-as)"
for l in "nop" "b .+0" "b .+4" "b .+0x40" "b .-4" "b .-0x1000" "b .+0x123454" \
	"b .+0x7fffffc" "b .-0x8000000" "b .+0x8000000" "b .-0x8000004" "b .+2"; do
	printf '%-24s %s\n' "$l" "$(one aarch64-linux-gnu-as aarch64-linux-gnu-objcopy "$l")"
done

echo "# riscv64 (riscv64-linux-gnu-as -march=rv64gc -mno-relax, then ld)"
printf '%-24s %s\n' "nop" "$(one "riscv64-linux-gnu-as -march=rv64gc" \
	riscv64-linux-gnu-objcopy ".option norvc" "nop")"
for o in 0 2 4 64 -4 -4096 2048 74566 1048574 -1048576 1048576 -1048578 1; do
	printf '%-24s %s\n' "jal x0, .$( [ "$o" -ge 0 ] && echo +)$o" "$(rv "$o")"
done
