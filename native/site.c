/* SPDX-License-Identifier: MIT */
/*
 * site.c - what a site holds now, and the one message for a site that
 * holds something else (site.h says who asks). Reads only: the bytes a
 * site should hold come from the arch layer (site.h), so no opcode
 * appears here.
 */
#include "site.h"

/* 1 when `at` holds the breakpoint, then the tail of the instruction `insn`. */
static int site_trapped_over(const uint8_t *at, const uint8_t *insn)
{
#if ARCH_NEEDS_BREAKPOINT
	return site_trapped((uintptr_t)at) &&
	       !memcmp(at + ARCH_BREAKPOINT_SIZE, insn + ARCH_BREAKPOINT_SIZE,
		       ARCH_JUMP_SIZE - ARCH_BREAKPOINT_SIZE);
#else
	(void)at;
	(void)insn;
	return 0;
#endif
}

int site_trapped(uintptr_t at)
{
#if ARCH_NEEDS_BREAKPOINT
	uint8_t bp[ARCH_BREAKPOINT_SIZE];

	arch_breakpoint(bp);
	return !memcmp((const void *)at, bp, sizeof bp);
#else
	(void)at;
	return 0;
#endif
}

enum site_state site_read(const struct jump_entry *e, int enabled)
{
	const uint8_t *at = (const uint8_t *)jump_entry_code(e);
	uint8_t want[ARCH_JUMP_SIZE], other[ARCH_JUMP_SIZE];

	site_bytes(e, enabled, want);
	if (site_holds(at, want))
		return SITE_AGREES;
	site_bytes(e, !enabled, other);
	if (site_holds(at, other))
		return SITE_OTHER;
	if (site_trapped_over(at, want))
		return SITE_TRAPPED;
	if (site_trapped_over(at, other))
		return SITE_TRAPPED_OTHER;
	return SITE_UNKNOWN;
}

int site_insn(const struct jump_entry *e, const uint8_t *bytes)
{
	uintptr_t code = jump_entry_code(e), target = jump_entry_target(e);
	uint8_t b[ARCH_JUMP_SIZE];

	site_insn_bytes(code, target, 0, b);
	if (site_holds(bytes, b))
		return STATIC_KEYS_INSN_NOP;
	/* a target out of reach has no jmp encoding to compare with */
	if (!arch_jump_in_reach(code, target))
		return STATIC_KEYS_INSN_OTHER;
	site_insn_bytes(code, target, 1, b);
	return site_holds(bytes, b) ? STATIC_KEYS_INSN_JMP : STATIC_KEYS_INSN_OTHER;
}

void site_mismatch(struct errbuf *eb, const struct jump_entry *e, int enabled)
{
	uint8_t want[ARCH_JUMP_SIZE];

	site_bytes(e, enabled, want);
	err_str(eb, "the site at ");
	err_hex(eb, jump_entry_code(e));
	err_str(eb, " holds ");
	err_bytes(eb, (const uint8_t *)jump_entry_code(e), ARCH_JUMP_SIZE);
	err_str(eb, ", expected ");
	err_bytes(eb, want, ARCH_JUMP_SIZE);
	err_str(eb, site_jmp(e, enabled) ? " (jmp, " : " (nop, ");
	err_u64(eb, ARCH_JUMP_SIZE);
	err_str(eb, " bytes)");
}
