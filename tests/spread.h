/* SPDX-License-Identifier: MIT */
/*
 * spread.h - two keys whose sites sit on four pages, for the C tests of
 * all-or-nothing flips (rollback_test, repair_test, procmem_test): each of
 * p0..p3 is alone on its page and holds one site of each key, so a flip of
 * both keys is four page runs. Include it in one object per program.
 */
#ifndef STATIC_KEYS_TEST_SPREAD_H
#define STATIC_KEYS_TEST_SPREAD_H

#include <string.h>

#include "plat.h"
#include "sites.h"
#include "static_keys.h"

DEFINE_STATIC_KEY_FALSE(spread);
DEFINE_STATIC_KEY_TRUE(spread_too);

/* One function per page, each far from the next: four runs of one page. */
#define PAGE_FN(name)                                                          \
	__attribute__((noinline, aligned(PLAT_PAGE_ALIGN))) static int name(void) \
	{                                                                      \
		int n = 0;                                                     \
		if (static_branch_unlikely(&spread))                           \
			n += 1;                                                \
		if (static_branch_likely(&spread_too))                         \
			n += 2;                                                \
		return n;                                                      \
	}
PAGE_FN(p0)
PAGE_FN(p1)
PAGE_FN(p2)
PAGE_FN(p3)

static int (*const fns[4])(void) = {p0, p1, p2, p3};

/* 1 when every page function returns `want` (1: spread on, 2: spread_too on). */
static inline int all_return(int want)
{
	int i;

	for (i = 0; i < 4; i++)
		if (fns[i]() != want)
			return 0;
	return 1;
}

/* The bytes of the eight sites: spread's four, then spread_too's four. */
static inline void snapshot_sites(uint8_t buf[8 * ARCH_JUMP_SIZE])
{
	uint32_t i;

	for (i = 0; i < 4; i++) {
		memcpy(buf + i * ARCH_JUMP_SIZE,
		       (const void *)jump_entry_code(&spread.key.entries[i]),
		       ARCH_JUMP_SIZE);
		memcpy(buf + (4 + i) * ARCH_JUMP_SIZE,
		       (const void *)jump_entry_code(&spread_too.key.entries[i]),
		       ARCH_JUMP_SIZE);
	}
}

#endif
