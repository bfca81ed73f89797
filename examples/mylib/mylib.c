/* SPDX-License-Identifier: MIT */
/* mylib.c - a user's library with one static key, flipped from Deno. */
#include <static_keys.h>

DEFINE_STATIC_KEY_FALSE(fast_path);

/* 2 on the fast path, 1 otherwise. */
STATIC_KEYS_EXPORT int mylib_compute(void)
{
	return static_branch_unlikely(&fast_path) ? 2 : 1;
}
