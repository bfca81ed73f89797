/* SPDX-License-Identifier: MIT */
/*
 * plugin.c - a shared library with its own copy of the core, loaded with
 * dlopen by dlopen_test.c. It defines a key with the same name as one in
 * the test executable: the two modules must never see each other's.
 */
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
