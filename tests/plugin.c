/* SPDX-License-Identifier: MIT */
/*
 * plugin.c - a shared library with its own copy of the core, loaded with
 * dlopen by dlopen_test.c. It defines a key with the same name as one in
 * the test executable: the two modules must never see each other's.
 */
#include "plat.h"
#include "sites.h"
#include "static_keys.h"

DEFINE_STATIC_KEY_FALSE(feature); /* same name as in dlopen_test.c */
DEFINE_STATIC_KEY_TRUE(plugin_only);

STATIC_KEYS_EXPORT int plugin_feature(void)
{
	int n = 0;

	if (static_branch_unlikely(&feature))
		n++;
	if (static_branch_likely(&feature))
		n++;
	return n;
}

STATIC_KEYS_EXPORT int plugin_only_on(void)
{
	return static_branch_likely(&plugin_only) ? 1 : 0;
}

/* Flips through the plugin's own C API (its own module). */
STATIC_KEYS_EXPORT int plugin_set_feature(int on)
{
	return static_key_set(&feature.key, on);
}

/*
 * Tests only (tests/repair_test.ts): writes the other instruction into the
 * first site of `feature` behind the core's back, as a failed rollback
 * leaves it. 0, or -1 if the page could not be written.
 */
STATIC_KEYS_EXPORT int plugin_break_feature(void)
{
	uint8_t other[ARCH_JUMP_SIZE];
	const struct jump_entry *e;

	if (static_keys_init() || !feature.key.sites)
		return -1;
	e = &feature.key.entries[0];
	site_bytes(e, !feature.key.enabled, other);
	return plat_poke_code((void *)jump_entry_code(e), other, sizeof other);
}
