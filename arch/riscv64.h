/* SPDX-License-Identifier: MIT */
/*
 * riscv64.h - RV64 with or without the C extension. A site is one 4-byte
 * instruction, `nop` (addi x0, x0, 0 = 00000013) or `jal x0, off`, whose
 * signed offset reaches [-1 MiB, +1 MiB - 2] from the site; init rejects a
 * module whose targets lie beyond that (arch_jump_check). Sites are emitted
 * under `.option norvc` (so the assembler cannot shrink them to 2 bytes),
 * `.option norelax` (so the linker cannot rewrite or move them) and 4-byte
 * aligned (one naturally aligned store per site, never across a page).
 * New bytes reach instruction fetch through __builtin___clear_cache, which
 * GCC lowers to glibc's __riscv_flush_icache(start, end, 0): the
 * riscv_flush_icache syscall (or its vDSO entry), flags 0 = every hart that
 * runs this process, not only the caller's. A bare fence.i would only
 * cover the calling hart.
 */
#ifndef STATIC_KEYS_ARCH_RISCV64_H
#define STATIC_KEYS_ARCH_RISCV64_H

#include <stdint.h>

#include "common.h"

#define ARCH_NAME "riscv64"
#define ARCH_JUMP_SIZE 4

#define ARCH_RISCV_NOP 0x00000013u /* addi x0, x0, 0 */
#define ARCH_RISCV_JAL 0x0000006fu /* jal x0, 0 */
#define ARCH_RISCV_JAL_REACH (1l << 20)

/*
 * .balign comes before norvc/norelax on purpose (binutils 2.40): under
 * norvc gas assumes code is 4-byte aligned already and pads nothing, and
 * under a local norelax it pads with zero bytes (an illegal instruction on
 * the fall-through path) because it fills at the end of the file with the
 * file's relax setting. In the file's own setting it pads with c.nop or
 * emits R_RISCV_ALIGN for the linker, both of which end 4-byte aligned.
 *
 * The entry: {site - ., target - ., key + branch - .}. RISC-V GCC prints a
 * symbolic "i" operand with plain %0 (it has no %c modifier).
 */
#define ARCH_RISCV_ENTRY                                                       \
	STATIC_KEYS_ENTRY_PUSHSECTION "\n\t"                                   \
	".balign 8\n\t"                                                        \
	".long 1b - .\n\t"                                                     \
	".long %l[l_yes] - .\n\t"                                              \
	".quad %0 + %1 - .\n\t"                                                \
	STATIC_KEYS_ENTRY_POPSECTION "\n\t"

#define ARCH_RISCV_BRANCH(key, branch, insn)                                   \
	ARCH_ASM_GOTO_BRANCH(".option push\n\t"                                \
			     ".balign 4\n\t"                                   \
			     ".option norvc\n\t"                               \
			     ".option norelax\n\t"                             \
			     "1: " insn "\n\t"                                 \
			     ".option pop\n\t" ARCH_RISCV_ENTRY,               \
			     "i", key, branch)

#define ARCH_STATIC_BRANCH(key, branch) ARCH_RISCV_BRANCH(key, branch, "nop")
#define ARCH_STATIC_BRANCH_JUMP(key, branch)                                   \
	ARCH_RISCV_BRANCH(key, branch, "jal x0, %l[l_yes]")

static inline void arch_jump_nop(uint8_t *out, uintptr_t code, uintptr_t target)
{
	(void)code;
	(void)target;
	arch_put32le(out, ARCH_RISCV_NOP);
}

/* Targets are 2-byte aligned at least (the C extension allows that). */
static inline int arch_jump_in_reach(uintptr_t code, uintptr_t target)
{
	intptr_t off = (intptr_t)(target - code);

	return (off & 1) == 0 && off >= -ARCH_RISCV_JAL_REACH &&
	       off < ARCH_RISCV_JAL_REACH;
}

/* J-type immediate: imm[20|10:1|11|19:12] in bits 31|30:21|20|19:12. */
static inline void arch_jump_jmp(uint8_t *out, uintptr_t code, uintptr_t target)
{
	uint32_t off = (uint32_t)(target - code);
	uint32_t insn = ARCH_RISCV_JAL;

	insn |= ((off >> 20) & 0x1u) << 31;
	insn |= ((off >> 1) & 0x3ffu) << 21;
	insn |= ((off >> 11) & 0x1u) << 20;
	insn |= ((off >> 12) & 0xffu) << 12;
	arch_put32le(out, insn);
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

#endif /* STATIC_KEYS_ARCH_RISCV64_H */
