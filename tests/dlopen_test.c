/* SPDX-License-Identifier: MIT */
/*
 * dlopen_test.c - two modules in one process: this executable and a
 * plugin loaded at run time, each with its own core, entries and keys,
 * including a key named the same in both. Flips through the plugin's
 * exported Deno ABI (static_keys_ffi_*) reach only the plugin's sites.
 */
#include "check.h"
#include "plat.h"
#include "sites.h"
#include "static_keys.h"

DEFINE_STATIC_KEY_FALSE(feature);

static int exe_feature(void)
{
	return static_branch_unlikely(&feature) ? 1 : 0;
}

typedef int (*int_fn)(void);
typedef int (*set_fn)(int);
typedef int32_t (*find_fn)(const char *);
typedef int32_t (*ffi_set_fn)(uint32_t, int32_t);
typedef int32_t (*count_fn)(void);

int main(void)
{
	void *lib = plat_lib_open(STATIC_KEYS_PLUGIN_PATH);
	int_fn feat, only;
	set_fn set_feat;
	find_fn find;
	ffi_set_fn ffi_set;
	count_fn count;
	int32_t idx;

	CHECK("plugin loads", lib != NULL);
	if (!lib)
		return check_summary();
	feat = (int_fn)plat_lib_sym(lib, "plugin_feature");
	only = (int_fn)plat_lib_sym(lib, "plugin_only_on");
	set_feat = (set_fn)plat_lib_sym(lib, "plugin_set_feature");
	find = (find_fn)plat_lib_sym(lib, "static_keys_ffi_find");
	ffi_set = (ffi_set_fn)plat_lib_sym(lib, "static_keys_ffi_set");
	count = (count_fn)plat_lib_sym(lib, "static_keys_ffi_key_count");
	CHECK("plugin exports", feat && only && set_feat && find && ffi_set && count);
	if (!(feat && only && set_feat && find && ffi_set && count))
		return check_summary();

	CHECK_OK("exe init", static_keys_init());
	CHECK("exe has one key", static_keys_count() == 1);
	CHECK("plugin has two keys", count() == 2);

	/* The plugin's own C API flips the plugin's key only. */
	CHECK_OK("plugin enables its feature", set_feat(1));
	CHECK("plugin feature on", feat() == 2);
	CHECK("exe feature still off", exe_feature() == 0 && !static_key_enabled(&feature));
	CHECK("no wx after plugin flip", check_no_wx_mapping());

	/* The exe's flip reaches the exe's site only. */
	CHECK_OK("exe enables its feature", static_branch_enable(&feature));
	CHECK("exe feature on", exe_feature() == 1 && sites_match(&feature.key));
	CHECK_OK("plugin disables its feature", set_feat(0));
	CHECK("plugin feature off", feat() == 0);
	CHECK("exe feature still on", exe_feature() == 1);

	/* Through the exported Deno ABI, by name. */
	idx = find("plugin_only");
	CHECK("plugin_only found", idx >= 0);
	CHECK("exe has no plugin_only", static_keys_find("plugin_only") == NULL);
	CHECK("plugin_only starts on", only() == 1);
	CHECK_OK("ffi disable plugin_only", ffi_set((uint32_t)idx, 0));
	CHECK("plugin_only off", only() == 0);
	CHECK_OK("ffi enable plugin_only", ffi_set((uint32_t)idx, 1));
	CHECK("plugin_only on", only() == 1);
	CHECK("unknown index refused", ffi_set(99, 1) == STATIC_KEYS_ENOKEY);
	CHECK("no wx at the end", check_no_wx_mapping());

	plat_lib_close(lib);
	return check_summary();
}
