/* SPDX-License-Identifier: MIT */
/*
 * loongarch64.h - LoongArch64. A site is one 4-byte instruction: the nop
 * `andi $zero, $zero, 0` (0x03400000) or `b offs26` (0x50000000), whose
 * offset counts 4-byte units from the site itself, split as offs[15:0] in
 * bits 25:10 and offs[25:16] in bits 9:0: a reach of -128 MiB .. +128 MiB-4.
 * Encodings checked against clang-16's assembler in
 * tests/freestanding/arch_loongarch64_test.c.
 */
#ifndef STATIC_KEYS_ARCH_LOONGARCH64_H
#define STATIC_KEYS_ARCH_LOONGARCH64_H

#include <stdint.h>

#include "common.h"

#define ARCH_NAME "loongarch64"
#define ARCH_JUMP_SIZE 4

#define ARCH_LOONGARCH_NOP 0x03400000u /* andi $zero, $zero, 0 */
#define ARCH_LOONGARCH_B 0x50000000u   /* b offs26 */
#define ARCH_LOONGARCH_B_MIN (-0x8000000L)
#define ARCH_LOONGARCH_B_MAX 0x7fffffcL

/*
 * The entry: {site - ., target - ., key + branch - .}. The key field is an
 * explicit R_LARCH_ADD64/R_LARCH_SUB64 pair because clang-16 assembles
 * `.quad sym - .` into a plain absolute R_LARCH_64 and silently drops the
 * `- .` (it has no R_LARCH_64_PCREL). ADD64/SUB64 is the psABI's general
 * form of "a - b" in data, resolved at link time (checked with ld.lld-19).
 */
#define ARCH_LOONGARCH_ENTRY                                                   \
	STATIC_KEYS_ENTRY_PUSHSECTION "\n\t"                                   \
	".balign 8\n\t"                                                        \
	".long 1b - .\n\t"                                                     \
	".long %l[l_yes] - .\n\t"                                              \
	"2:\n\t"                                                               \
	".reloc 2b, R_LARCH_ADD64, %c0 + %c1\n\t"                              \
	".reloc 2b, R_LARCH_SUB64, 2b\n\t"                                     \
	".quad 0\n\t"                                                          \
	STATIC_KEYS_ENTRY_POPSECTION "\n\t"

#define ARCH_LOONGARCH_BRANCH(key, branch, insn)                               \
	ARCH_ASM_GOTO_BRANCH("1: " insn "\n\t" ARCH_LOONGARCH_ENTRY, "i", key,   \
			     branch)

#define ARCH_STATIC_BRANCH(key, branch)                                        \
	ARCH_LOONGARCH_BRANCH(key, branch, "nop")
#define ARCH_STATIC_BRANCH_JUMP(key, branch)                                   \
	ARCH_LOONGARCH_BRANCH(key, branch, "b %l[l_yes]")

static inline void arch_jump_nop(uint8_t *out, uintptr_t code, uintptr_t target)
{
	(void)code;
	(void)target;
	arch_put32le(out, ARCH_LOONGARCH_NOP);
}

static inline int arch_jump_in_reach(uintptr_t code, uintptr_t target)
{
	int64_t disp = (int64_t)(target - code);

	return (disp & 3) == 0 && disp >= ARCH_LOONGARCH_B_MIN &&
	       disp <= ARCH_LOONGARCH_B_MAX;
}

static inline void arch_jump_jmp(uint8_t *out, uintptr_t code, uintptr_t target)
{
	uint32_t offs = (uint32_t)((target - code) >> 2) & 0x3ffffffu;

	arch_put32le(out, ARCH_LOONGARCH_B | (offs & 0xffffu) << 10 |
					offs >> 16);
}

/*
 * LoongArch keeps the icache coherent with the dcache in hardware; `ibar 0`
 * only stops this core from running instructions fetched before the stores
 * (Linux arch/loongarch/include/asm/cacheflush.h, local_flush_icache_range).
 * `dbar 0` first completes the stores themselves.
 */
static inline void arch_sync_icache(void *start, void *end)
{
	(void)start;
	(void)end;
	__asm__ volatile("dbar 0\n\tibar 0" ::: "memory");
}

#define ARCH_NEEDS_BREAKPOINT 0

/*
 * One aligned 32-bit store: single-copy atomic, so a core running the site
 * fetches the old or the new instruction, never a mix.
 */
static inline void arch_site_store(uint8_t *dst, const uint8_t *bytes)
{
	uint32_t w = (uint32_t)bytes[0] | (uint32_t)bytes[1] << 8 |
		     (uint32_t)bytes[2] << 16 | (uint32_t)bytes[3] << 24;

	__atomic_store_n((uint32_t *)(void *)dst, w, __ATOMIC_RELAXED);
}

#endif /* STATIC_KEYS_ARCH_LOONGARCH64_H */
