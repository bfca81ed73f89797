/* SPDX-License-Identifier: MIT */
/*
 * sites_lib.c - a user's library for the Deno tests of sites: one site in a
 * static function (named only by the file's .symtab, not by the loader)
 * and one in an exported function.
 */
#include "static_keys.h"

DEFINE_STATIC_KEY_FALSE(verbose);
DEFINE_STATIC_KEY_TRUE(fast);

static __attribute__((noinline)) int sites_lib_inner(int x)
{
	if (static_branch_unlikely(&verbose))
		x += 100;
	return x + 1;
}

/* x + 1 (+ 100 when verbose), doubled unless fast. */
STATIC_KEYS_EXPORT int sites_lib_run(int x)
{
	if (static_branch_likely(&fast))
		return sites_lib_inner(x);
	return sites_lib_inner(x) * 2;
}
