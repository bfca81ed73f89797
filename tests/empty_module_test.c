/* SPDX-License-Identifier: MIT */
/*
 * empty_module_test.c - a module with no site and no key still links
 * (even with --gc-sections) and inits; lookups find nothing.
 */
#include "check.h"
#include "static_keys.h"

int main(void)
{
	struct static_keys_stats st;

	CHECK_OK("init", static_keys_init());
	CHECK_OK("init twice", static_keys_init());
	CHECK("no keys", static_keys_count() == 0);
	CHECK("no key at 0", static_keys_at(0) == NULL);
	CHECK("find nothing", static_keys_find("anything") == NULL);
	CHECK_OK("stats", static_keys_get_stats(&st));
	CHECK("no entries", st.entries == 0 && st.keys == 0);
	CHECK("a default strategy", st.strategy != STATIC_KEYS_STRATEGY_DEFAULT);
	CHECK_OK("empty update", static_keys_update(NULL, 0));
	CHECK("a stranger is refused",
	      static_keys_update(&(struct static_key_change){(struct static_key *)&st, 1}, 1) ==
		      STATIC_KEYS_EINVAL);
	return check_summary();
}
