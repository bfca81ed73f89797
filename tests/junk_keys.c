/* SPDX-License-Identifier: MIT */
/*
 * junk_keys.c - a module without sites whose key section holds a record
 * no DEFINE_STATIC_KEY_* wrote: every field looks like a key's but the
 * name, which points at an address nothing is mapped at. Loaded by
 * junk_keys_test.c and tables_test.ts: init must refuse it before reading
 * that name (reading it crashed Deno's open()).
 */
#include "static_keys.h"

STATIC_KEYS_KEY_ATTRS struct static_key junk_key = {
	(const char *)(uintptr_t)0x10, NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0};
