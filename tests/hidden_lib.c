/* SPDX-License-Identifier: MIT */
/*
 * hidden_lib.c - a user's library linked with a version script that ends
 * in "local: *;" (tests/hidden.map), as many libraries are: it hides the
 * core's static_keys_ffi_* exports unless the package's fragment
 * (cmake/static_keys.map) comes after it. Built both ways for
 * tests/open_test.ts.
 */
#include "static_keys.h"

DEFINE_STATIC_KEY_FALSE(hidden_fast);

/* 2 on the fast path, 1 otherwise. */
STATIC_KEYS_EXPORT int hidden_answer(void)
{
	return static_branch_unlikely(&hidden_fast) ? 2 : 1;
}
