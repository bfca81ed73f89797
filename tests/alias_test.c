/* SPDX-License-Identifier: MIT */
/*
 * alias_test.c - the opt-in `alias` strategy: after a one-time set-up the
 * code runs from a memfd mapped r-x, a second rw- view of it takes the
 * stores, and a flip makes no syscall. No mapping is ever writable and
 * executable; leaving the strategy drops the writable view.
 */
#include "check.h"
#include "sites.h"
#include "static_keys.h"

DEFINE_STATIC_KEY_FALSE(aliased);
DEFINE_STATIC_KEY_TRUE(aliased_true);

__attribute__((noinline)) static int f_alias(void)
{
	int n = 0;

	if (static_branch_unlikely(&aliased))
		n |= 1;
	if (static_branch_likely(&aliased_true))
		n |= 2;
	return n;
}

/* Counts mappings of the alias memfd with the given first three perms. */
static int alias_mappings(const char *perms)
{
	return check_maps_lines("memfd:static-keys-text", perms);
}

int main(void)
{
	struct static_keys_stats st;
	uint64_t before;
	int i;

	CHECK_OK("init", static_keys_init());
	static_keys_get_stats(&st);
	if (!(st.strategies & (1u << STATIC_KEYS_STRATEGY_ALIAS))) {
		printf("skipped: no alias strategy on this OS\n");
		return 77;
	}
	/*
	 * Under a user-mode emulator (qemu-user) set-up reads protections from
	 * an emulated /proc/self/maps that cannot show them, and the emulator
	 * does not see stores through the second view as code changes: its
	 * translated code keeps running the old bytes. Nothing to learn here.
	 */
	if (!check_prot_visible()) {
		printf("skipped: the alias strategy cannot be tested under an "
		       "emulator whose /proc/self/maps hides exec permission\n");
		return 77;
	}
	before = st.syscalls;
	CHECK_OK("choose alias", static_keys_set_strategy(STATIC_KEYS_STRATEGY_ALIAS));
	static_keys_get_stats(&st);
	CHECK("set-up syscalls counted", st.syscalls > before);
	CHECK("code runs from the memfd", alias_mappings("r-xs") >= 1);
	CHECK("a writable view exists", alias_mappings("rw-s") == 1);
	CHECK("never writable and executable", check_no_wx_mapping());
	CHECK("code intact after set-up", f_alias() == 2);

	for (i = 0; i < 100; i++) {
		CHECK_OK("flip", static_key_set(&aliased.key, !(i & 1)));
		CHECK("result", f_alias() == ((i & 1) ? 2 : 3));
		static_keys_get_stats(&st);
		CHECK("no syscall per flip", st.last_syscalls == 0 && st.last_pages >= 1);
	}
	CHECK("sites", sites_match(&aliased.key) && sites_match(&aliased_true.key));
	CHECK("no wx after flips", check_no_wx_mapping());

	CHECK_OK("back to remap", static_keys_set_strategy(STATIC_KEYS_STRATEGY_REMAP));
	CHECK("writable view dropped", alias_mappings("rw-s") == 0);
	CHECK_OK("remap flip", static_branch_disable(&aliased_true));
	CHECK("remap result", f_alias() == 0);
	static_keys_get_stats(&st);
	CHECK("remap costs syscalls again", st.last_syscalls >= 3);

	CHECK_OK("alias again", static_keys_set_strategy(STATIC_KEYS_STRATEGY_ALIAS));
	CHECK_OK("alias flip", static_branch_enable(&aliased_true));
	CHECK("alias result", f_alias() == 2 && sites_match(&aliased_true.key));
	CHECK("no wx at the end", check_no_wx_mapping());
	return check_summary();
}
