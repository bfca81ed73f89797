/* SPDX-License-Identifier: MIT */
/*
 * aarch64.h - AArch64 (little-endian). A site is one 4-byte instruction:
 * `nop` (d503201f) or `b imm26`, whose signed word offset reaches
 * [-128 MiB, +128 MiB - 4] from the site. Init rejects a module whose
 * targets lie beyond that (arch_jump_in_reach through arch_jump_check).
 * An aligned 4-byte instruction write is single-copy atomic, and the
 * architecture lets other cores run a site while it changes between `nop`
 * and `b` (ARM ARM, "concurrent modification and execution"); new bytes
 * still need the D-cache cleaned and the I-cache invalidated to the point
 * of unification, which __builtin___clear_cache does (libgcc's
 * __clear_cache: dc cvau, dsb ish, ic ivau, dsb ish, isb, stepping by the
 * line sizes in CTR_EL0).
 */
#ifndef STATIC_KEYS_ARCH_AARCH64_H
#define STATIC_KEYS_ARCH_AARCH64_H

#include <stdint.h>

#include "common.h"

#define ARCH_NAME "aarch64"
#define ARCH_JUMP_SIZE 4

#define ARCH_AARCH64_NOP 0xd503201fu
#define ARCH_AARCH64_B 0x14000000u
#define ARCH_AARCH64_B_REACH (128l << 20) /* imm26 words, signed */

/*
 * The entry: {site - ., target - ., key + branch - .}. The key is an "S"
 * operand (a symbolic address): GCC refuses "i" for one under -fPIC, and
 * "S" is what the kernel's arm64 jump_label.h moved to for the same reason.
 */
#ifdef STATIC_KEYS_ENTRY_KEY_REL32 /* no 64-bit PC-relative relocation */
#define ARCH_AARCH64_KEY ".long %c0 + %c1 - .\n\t.long 0"
#else
#define ARCH_AARCH64_KEY ".quad %c0 + %c1 - ."
#endif

#define ARCH_AARCH64_ENTRY                                                     \
	STATIC_KEYS_ENTRY_PUSHSECTION "\n\t"                                   \
	".balign 8\n\t"                                                        \
	".long 1b - .\n\t"                                                     \
	".long %l[l_yes] - .\n\t"                                              \
	ARCH_AARCH64_KEY "\n\t"                                                \
	STATIC_KEYS_ENTRY_POPSECTION "\n\t"

#define ARCH_AARCH64_BRANCH(key, branch, insn)                                 \
	ARCH_ASM_GOTO_BRANCH("1: " insn "\n\t" ARCH_AARCH64_ENTRY, "S", key,     \
			     branch)

#define ARCH_STATIC_BRANCH(key, branch) ARCH_AARCH64_BRANCH(key, branch, "nop")
#define ARCH_STATIC_BRANCH_JUMP(key, branch)                                   \
	ARCH_AARCH64_BRANCH(key, branch, "b %l[l_yes]")

static inline void arch_jump_nop(uint8_t *out, uintptr_t code, uintptr_t target)
{
	(void)code;
	(void)target;
	arch_put32le(out, ARCH_AARCH64_NOP);
}

static inline int arch_jump_in_reach(uintptr_t code, uintptr_t target)
{
	intptr_t off = (intptr_t)(target - code);

	return (off & 3) == 0 && off >= -ARCH_AARCH64_B_REACH &&
	       off < ARCH_AARCH64_B_REACH;
}

static inline void arch_jump_jmp(uint8_t *out, uintptr_t code, uintptr_t target)
{
	uint32_t words = (uint32_t)((target - code) >> 2);

	arch_put32le(out, ARCH_AARCH64_B | (words & 0x03ffffffu));
}

static inline void arch_sync_icache(void *start, void *end)
{
	__builtin___clear_cache((char *)start, (char *)end);
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

#endif /* STATIC_KEYS_ARCH_AARCH64_H */
