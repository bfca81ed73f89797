/* SPDX-License-Identifier: MIT */
/*
 * site.h - one site: the bytes it should hold, what it holds now, and the
 * one message for a site that holds something else (site.c). The kernel
 * keeps this in two places, jump_label_type() (enabled ^ branch) and its
 * arch's __jump_label_patch (the "unexpected op" check and message); here
 * every file that decides or checks a site asks this one: update's check,
 * repair, sites as data, the protocol's trap and the read-back after a
 * rollback (init reads no site: docs/init.md).
 */
#ifndef STATIC_KEYS_SITE_H
#define STATIC_KEYS_SITE_H

#include "core.h"

#include "arch/arch.h"

/*
 * The instruction a site holds while its key is `enabled`: the truth
 * table at the head of static_keys.h, instruction = enabled ^ branch,
 * 1 = JMP, 0 = NOP.
 */
static inline int site_jmp(const struct jump_entry *e, int enabled)
{
	return enabled ^ jump_entry_branch(e);
}

/* The bytes of that instruction for the site at `code` whose jmp goes to
 * `target` (the nop may carry it too: x86's does). */
static inline void site_insn_bytes(uintptr_t code, uintptr_t target, int jmp,
				   uint8_t *out)
{
	if (jmp)
		arch_jump_jmp(out, code, target);
	else
		arch_jump_nop(out, code, target);
}

/* The bytes site e holds while its key is `enabled`. */
static inline void site_bytes(const struct jump_entry *e, int enabled,
			      uint8_t *out)
{
	site_insn_bytes(jump_entry_code(e), jump_entry_target(e),
			site_jmp(e, enabled), out);
}

/* 1 when the ARCH_JUMP_SIZE bytes at `at` are `want`. */
static inline int site_holds(const void *at, const uint8_t *want)
{
	return memcmp(at, want, ARCH_JUMP_SIZE) == 0;
}

/*
 * 1 when site e holds the bytes of its key's state `enabled`: site_read's
 * first question, inline for the loops that ask it of every site of a
 * request (the update's check) and call site_read only for the others.
 */
static inline int site_holds_state(const struct jump_entry *e, int enabled)
{
	uint8_t want[ARCH_JUMP_SIZE];

	site_bytes(e, enabled, want);
	return site_holds((const void *)jump_entry_code(e), want);
}

/* What a site holds, against its key's state (site_read). */
enum site_state {
	SITE_AGREES,        /* the instruction of the key's state */
	SITE_OTHER,         /* the instruction of the other state */
	SITE_TRAPPED,       /* the breakpoint over the first bytes of the
			     * key's state's instruction: a debugger's, a
			     * uprobe's or the protocol's (x86 only) */
	SITE_TRAPPED_OTHER, /* the breakpoint over the other state's */
	SITE_UNKNOWN,       /* anything else: something rewrote it */
};

/* What site e holds now, while its key is `enabled`. Reads only. */
enum site_state site_read(const struct jump_entry *e, int enabled);

/*
 * 1 when the bytes at `at` begin with the breakpoint of the cross-
 * modification protocol (x86); always 0 where the arch has none. Reads
 * only; signal-safe (the trap handler asks it).
 */
int site_trapped(uintptr_t at);

/*
 * STATIC_KEYS_INSN_NOP or _JMP when `bytes` (a copy of site e's) are that
 * instruction (a jmp only where its target is in reach), else
 * STATIC_KEYS_INSN_OTHER.
 */
int site_insn(const struct jump_entry *e, const uint8_t *bytes);

/*
 * The one message for a site that does not hold what its key's state
 * (`enabled`) asks for, the kernel's "unexpected op at %pS (%5ph !=
 * %5ph)": "the site at <code> holds <bytes>, expected <bytes> (<nop|jmp>,
 * <n> bytes)". The caller writes what failed before it and what follows.
 */
void site_mismatch(struct errbuf *eb, const struct jump_entry *e, int enabled);

#endif /* STATIC_KEYS_SITE_H */
