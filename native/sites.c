/* SPDX-License-Identifier: MIT */
/*
 * sites.c - sites as data (static_key_sites): where each site of a key
 * is, where its jump goes, its bytes now and which instruction they are
 * (site.c names it). Reads only.
 */
#include "module.h"
#include "site.h"

_Static_assert(ARCH_JUMP_SIZE <= STATIC_KEYS_SITE_BYTES,
	       "struct static_key_site cannot hold one site of this arch");

static void site_copy(const struct static_key *key, const struct jump_entry *e,
		      struct static_key_site *out)
{
	const uint8_t *at = (const uint8_t *)jump_entry_code(e);
	int enabled = __atomic_load_n(&key->enabled, __ATOMIC_ACQUIRE);

	out->code = jump_entry_code(e);
	out->target = jump_entry_target(e);
	out->likely = (uint8_t)jump_entry_branch(e);
	out->size = ARCH_JUMP_SIZE;
	memset(out->bytes, 0, sizeof out->bytes);
	memcpy(out->bytes, at, ARCH_JUMP_SIZE);
	out->insn = (uint8_t)site_insn(e, out->bytes);
	out->expected = site_jmp(e, enabled) ? STATIC_KEYS_INSN_JMP
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
		site_copy(key, &key->entries[first + i], &out[i]);
	return (int)key->sites;
}
