/* SPDX-License-Identifier: MIT */
/*
 * common.h - helpers every arch header may use; included by them, so an
 * arch header also stands alone (its encoder tests include it directly).
 */
#ifndef STATIC_KEYS_ARCH_COMMON_H
#define STATIC_KEYS_ARCH_COMMON_H

#include <stdint.h>

/*
 * For the arch headers: one site as an expression. `tmpl` is the asm goto
 * template; it places the site at local label 1 and records its entry, with
 * operand %0 the key (constraint `key_c`), %1 the branch and %l[l_yes] the
 * target. Evaluates to 0 on the fall-through path and 1 at the target.
 */
#define ARCH_ASM_GOTO_BRANCH(tmpl, key_c, key, branch)                         \
	__extension__({                                                        \
		__label__ l_yes, l_out;                                        \
		int r_;                                                        \
		__asm__ goto(tmpl                                              \
			     :                                                 \
			     : key_c(key), "i"(branch)                         \
			     :                                                 \
			     : l_yes);                                         \
		r_ = 0;                                                        \
		goto l_out;                                                    \
	l_yes:                                                                 \
		r_ = 1;                                                        \
	l_out:                                                                 \
		r_;                                                            \
	})

/* For fixed 4-byte instruction sets: instructions are little-endian. */
static inline void arch_put32le(uint8_t *out, uint32_t insn)
{
	out[0] = (uint8_t)insn;
	out[1] = (uint8_t)(insn >> 8);
	out[2] = (uint8_t)(insn >> 16);
	out[3] = (uint8_t)(insn >> 24);
}

#endif /* STATIC_KEYS_ARCH_COMMON_H */
