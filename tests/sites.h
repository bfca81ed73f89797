/* SPDX-License-Identifier: MIT */
/*
 * sites.h - read a key's sites back, for the C tests (hosted and
 * freestanding alike: no libc).
 */
#ifndef STATIC_KEYS_TEST_SITES_H
#define STATIC_KEYS_TEST_SITES_H

#include "core.h"

/* The bytes a site must hold while its key is `enabled`. */
static inline void site_want(const struct jump_entry *e, int enabled,
			     uint8_t *out)
{
	uintptr_t code = jump_entry_code(e);

	if (enabled ^ jump_entry_branch(e))
		arch_jump_jmp(out, code, jump_entry_target(e));
	else
		arch_jump_nop(out, code);
}

static inline int bytes_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	while (n--)
		if (*a++ != *b++)
			return 0;
	return 1;
}

/* 1 when every site of `key` holds the instruction `enabled` asks for. */
static inline int sites_hold(const struct static_key *key, int enabled)
{
	uint8_t want[ARCH_JUMP_SIZE];
	uint32_t i;

	for (i = 0; i < key->sites; i++) {
		site_want(&key->entries[i], enabled, want);
		if (!bytes_equal((const uint8_t *)jump_entry_code(&key->entries[i]),
				 want, ARCH_JUMP_SIZE))
			return 0;
	}
	return 1;
}

/* 1 when every site of `key` holds the instruction its state asks for. */
static inline int sites_match(const struct static_key *key)
{
	return sites_hold(key, key->enabled);
}

#endif
