/* SPDX-License-Identifier: MIT */
/*
 * int3_lib.c - a library without static keys whose one function runs a
 * breakpoint instruction, for tests/sigtrap_test.ts: a trap that is no
 * site's must end as it would without static keys (the default action,
 * or a Deno SIGTRAP listener).
 */
#include "static_keys.h"

STATIC_KEYS_EXPORT void sk_int3(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ volatile("int3");
#endif
}
