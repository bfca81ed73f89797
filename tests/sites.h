/* SPDX-License-Identifier: MIT */
/* sites.h - read a key's sites back, for the C tests. */
#ifndef STATIC_KEYS_TEST_SITES_H
#define STATIC_KEYS_TEST_SITES_H

#include <string.h>

#include "core.h"

/* 1 when every site of `key` holds the instruction its state asks for. */
static inline int sites_match(const struct static_key *key)
{
	uint32_t i;

	for (i = 0; i < key->sites; i++) {
		const struct jump_entry *e = &key->entries[i];
		uint8_t want[ARCH_JUMP_SIZE];
		uintptr_t code = jump_entry_code(e);

		if (key->enabled ^ jump_entry_branch(e))
			arch_jump_jmp(want, code, jump_entry_target(e));
		else
			arch_jump_nop(want, code);
		if (memcmp((const void *)code, want, ARCH_JUMP_SIZE))
			return 0;
	}
	return 1;
}

#endif
