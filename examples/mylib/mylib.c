/* SPDX-License-Identifier: MIT */
/* mylib.c - a user's library: one key, one guarded function. */
#include <static_keys.h>

DEFINE_STATIC_KEY_FALSE(verbose);

static unsigned long long mylib_logged;

/* Adds a to b; counts the call while `verbose` is on. */
STATIC_KEYS_EXPORT int mylib_add(int a, int b)
{
	if (static_branch_unlikely(&verbose))
		mylib_logged++;
	return a + b;
}

STATIC_KEYS_EXPORT unsigned long long mylib_logged_calls(void)
{
	return mylib_logged;
}
