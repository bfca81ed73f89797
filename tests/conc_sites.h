/* SPDX-License-Identifier: MIT */
/*
 * conc_sites.h - the sites the concurrency stress tests run while the
 * owner flips them (conc_test.c from C, conc_lib.c for the Deno test): a
 * plain site, one that straddles a page, one that straddles a cache line
 * (x86: 4-byte sites never straddle) and a likely site of a TRUE key.
 * Each path returns its own value, so a torn instruction shows as a
 * value of neither. Include it in one object per module.
 */
#ifndef STATIC_KEYS_TEST_CONC_SITES_H
#define STATIC_KEYS_TEST_CONC_SITES_H

#include "plat.h"
#include "static_keys.h"

DEFINE_STATIC_KEY_FALSE(c_plain);
DEFINE_STATIC_KEY_FALSE(c_page);
DEFINE_STATIC_KEY_FALSE(c_line);
DEFINE_STATIC_KEY_TRUE(c_true);

/* Each path returns its own value: anything else is a torn instruction. */
__attribute__((noinline)) static int f_plain(void)
{
	return static_branch_unlikely(&c_plain) ? 0x11 : 0x10;
}

#if defined(__x86_64__) || defined(__i386__)
/* nops up to 2 bytes short of a boundary of `align`, then the site */
#define CONC_STRADDLE(align)                                                   \
	__asm__ volatile(".balign %c0, 0x90\n\t.fill %c0 - 2, 1, 0x90" ::"i"(align))
#else /* 4-byte sites are aligned: they never straddle */
#define CONC_STRADDLE(align) ((void)0)
#endif

__attribute__((noinline)) static int f_page(void)
{
	CONC_STRADDLE(PLAT_PAGE_ALIGN);
	return static_branch_unlikely(&c_page) ? 0x21 : 0x20;
}

__attribute__((noinline)) static int f_line(void)
{
	CONC_STRADDLE(64);
	return static_branch_unlikely(&c_line) ? 0x31 : 0x30;
}

__attribute__((noinline)) static int f_true(void)
{
	return static_branch_likely(&c_true) ? 0x41 : 0x40;
}

/* One call of each: 1 when a result is neither path's. */
static inline int conc_round(void)
{
	int a = f_plain(), b = f_page(), c = f_line(), d = f_true();

	return (a & ~1) != 0x10 || (b & ~1) != 0x20 || (c & ~1) != 0x30 ||
	       (d & ~1) != 0x40;
}

#endif
