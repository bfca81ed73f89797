/* SPDX-License-Identifier: MIT */
/*
 * sites.c - sites as data: where each site of a key is, where its jump
 * goes, and which instruction it holds right now. Reads only; the
 * instruction is named by comparing the bytes there with what the arch
 * layer writes for that site, so no opcode appears here.
 */
#include "core.h"

#include "arch/arch.h"

_Static_assert(ARCH_JUMP_SIZE <= STATIC_KEYS_SITE_BYTES,
	       "struct static_key_site cannot hold one site of this arch");

static int site_same(const uint8_t *a, const uint8_t *b)
{
	size_t i;

	for (i = 0; i < ARCH_JUMP_SIZE; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

static void site_read(const struct static_key *key, const struct jump_entry *e,
		      struct static_key_site *out)
{
	const uint8_t *at = (const uint8_t *)jump_entry_code(e);
	uint8_t nop[ARCH_JUMP_SIZE], jmp[ARCH_JUMP_SIZE];
	size_t i;

	out->code = jump_entry_code(e);
	out->target = jump_entry_target(e);
	out->likely = (uint8_t)jump_entry_branch(e);
	out->size = ARCH_JUMP_SIZE;
	for (i = 0; i < STATIC_KEYS_SITE_BYTES; i++)
		out->bytes[i] = i < ARCH_JUMP_SIZE ? at[i] : 0;
	arch_jump_nop(nop, out->code);
	out->insn = site_same(out->bytes, nop) ? STATIC_KEYS_INSN_NOP
						: STATIC_KEYS_INSN_OTHER;
	/* a target out of reach has no jmp encoding to compare with */
	if (out->insn == STATIC_KEYS_INSN_OTHER &&
	    arch_jump_in_reach(out->code, out->target)) {
		arch_jump_jmp(jmp, out->code, out->target);
		if (site_same(out->bytes, jmp))
			out->insn = STATIC_KEYS_INSN_JMP;
	}
	/* instruction = enabled ^ branch (the truth table in static_keys.h) */
	out->expected = (__atomic_load_n(&key->enabled, __ATOMIC_ACQUIRE) ^
			 out->likely)
				? STATIC_KEYS_INSN_JMP
				: STATIC_KEYS_INSN_NOP;
}

int static_key_sites(const struct static_key *key, size_t first,
		     struct static_key_site *out, size_t cap)
{
	size_t i;
	int rc = module_ready();

	if (rc)
		return rc;
	if (!module_key_valid(key))
		return STATIC_KEYS_ENOKEY;
	if (cap && !out)
		return STATIC_KEYS_EINVAL;
	for (i = 0; i < cap && first + i < key->sites; i++)
		site_read(key, &key->entries[first + i], &out[i]);
	return (int)key->sites;
}
