/* SPDX-License-Identifier: MIT */
/*
 * sites.h - read a key's sites back, for the C tests (hosted and
 * freestanding alike: no libc but the core's memcmp), with the internals
 * they reach into (module.h, site.h) and the test hooks.
 */
#ifndef STATIC_KEYS_TEST_SITES_H
#define STATIC_KEYS_TEST_SITES_H

#include "module.h"
#include "site.h"

#include "os/test_hooks.h"

static inline int bytes_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	return memcmp(a, b, n) == 0;
}

/* 1 when every site of `key` holds the instruction `enabled` asks for. */
static inline int sites_hold(const struct static_key *key, int enabled)
{
	uint8_t want[ARCH_JUMP_SIZE];
	uint32_t i;

	for (i = 0; i < key->sites; i++) {
		site_bytes(&key->entries[i], enabled, want);
		if (!site_holds((const void *)jump_entry_code(&key->entries[i]), want))
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
