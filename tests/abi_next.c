/* SPDX-License-Identifier: MIT */
/*
 * abi_next.c - a library built with a static-keys core of the next C ABI
 * version: native/ffi.c compiled with STATIC_KEYS_ABI_VERSION + 1, linked
 * with the rest of the core. open() must refuse it, naming both versions.
 */
#include "static_keys.h"

enum { SK_RELEASED_ABI = STATIC_KEYS_ABI_VERSION };
#undef STATIC_KEYS_ABI_VERSION
#define STATIC_KEYS_ABI_VERSION (SK_RELEASED_ABI + 1)
#include "ffi.c"

DEFINE_STATIC_KEY_FALSE(next_key);

STATIC_KEYS_EXPORT int abi_next_answer(void)
{
	return static_branch_unlikely(&next_key) ? 2 : 1;
}
