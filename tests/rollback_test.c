/* SPDX-License-Identifier: MIT */
/*
 * rollback_test.c - a request is all or nothing. With sites on four pages
 * and the n-th page patch made to fail (the core's fault-injection hook),
 * the pages patched before are restored: every byte and every key state as
 * before, under both strategies. Also the strategy switch and its costs.
 */
#include "check.h"
#include "plat.h"
#include "sites.h"
#include "spread.h"
#include "static_keys.h"

static void snapshot(uint8_t *buf)
{
	uint32_t i;

	for (i = 0; i < spread.key.sites; i++)
		memcpy(buf + i * ARCH_JUMP_SIZE,
		       (const void *)jump_entry_code(&spread.key.entries[i]), ARCH_JUMP_SIZE);
	for (i = 0; i < spread_too.key.sites; i++)
		memcpy(buf + (8 + i) * ARCH_JUMP_SIZE,
		       (const void *)jump_entry_code(&spread_too.key.entries[i]), ARCH_JUMP_SIZE);
}

static unsigned long recovered; /* injected faults whose checks all passed */

static void fail_at(int strategy, int n)
{
	int failed = check_failed;
	struct static_key_change both[2] = {{&spread.key, 1}, {&spread_too.key, 0}};
	uint8_t before[16 * ARCH_JUMP_SIZE], after[16 * ARCH_JUMP_SIZE];
	struct static_keys_stats st;
	char what[96];

	static_keys_get_stats(&st);
	if (!(st.strategies & (1u << strategy)))
		return; /* not offered on this OS */
	snprintf(what, sizeof what, "%s, page patch %d fails",
		 static_keys_strategy_name(strategy), n);
	CHECK_OK(what, static_keys_set_strategy(strategy));
	memset(before, 0, sizeof before);
	memset(after, 0, sizeof after);
	snapshot(before);
	test_hooks.fault_at = n;
	CHECK(what, static_keys_update(both, 2) == STATIC_KEYS_EPATCH);
	test_hooks.fault_at = 0;
	CHECK(what, strstr(static_keys_last_error(), "every page was restored") != NULL);
	snapshot(after);
	CHECK(what, memcmp(before, after, sizeof before) == 0);
	CHECK(what, !static_key_enabled(&spread) && static_key_enabled(&spread_too));
	CHECK(what, static_key_count(&spread) == 0 && static_key_count(&spread_too) == 1);
	CHECK(what, all_return(2));
	CHECK(what, check_no_wx_mapping());
	static_keys_get_stats(&st);
	if (!plat_protocol(strategy)) /* protocol passes restore every run */
		CHECK(what, st.last_pages == (uint64_t)(n - 1) * 2); /* forward + back */
	recovered += check_failed == failed;
}

int main(void)
{
	struct static_key_change both[2] = {{&spread.key, 1}, {&spread_too.key, 0}};
	struct static_keys_stats st;
	int n;

	CHECK_OK("init", static_keys_init());
	CHECK("four sites each", spread.key.sites == 4 && spread_too.key.sites == 4);
	CHECK("initial", all_return(2));

	for (n = 1; n <= 4; n++) {
		if (plat_strategy_offered(STATIC_KEYS_STRATEGY_REMAP))
			fail_at(STATIC_KEYS_STRATEGY_REMAP, n);
		fail_at(STATIC_KEYS_STRATEGY_MPROTECT, n);
		fail_at(STATIC_KEYS_STRATEGY_ALIAS, n);
	}

	/* Without a fault both strategies flip, at their documented cost. */
	if (plat_strategy_offered(STATIC_KEYS_STRATEGY_REMAP)) {
		CHECK_OK("remap", static_keys_set_strategy(STATIC_KEYS_STRATEGY_REMAP));
		CHECK_OK("remap flip", static_keys_update(both, 2));
		CHECK("remap result", all_return(1));
		static_keys_get_stats(&st);
		CHECK("remap: four pages, once each", st.last_pages == 4);
		CHECK("remap: 3 syscalls a page", st.last_syscalls == 12);
		CHECK("stats name remap", st.strategy == STATIC_KEYS_STRATEGY_REMAP);
	} else {
		CHECK("remap not offered here",
		      static_keys_set_strategy(STATIC_KEYS_STRATEGY_REMAP) == STATIC_KEYS_ENOTSUP);
		CHECK_OK("plain flip", static_keys_update(both, 2));
		CHECK("plain flip result", all_return(1));
	}

	CHECK_OK("mprotect", static_keys_set_strategy(STATIC_KEYS_STRATEGY_MPROTECT));
	both[0].enabled = 0;
	both[1].enabled = 1;
	CHECK_OK("mprotect flip", static_keys_update(both, 2));
	CHECK("mprotect result", all_return(2));
	static_keys_get_stats(&st);
	CHECK("mprotect: four pages", st.last_pages == 4);
	CHECK("mprotect: its syscalls a page",
	      st.last_syscalls == 4 * plat_run_syscalls(STATIC_KEYS_STRATEGY_MPROTECT) *
						 plat_passes(STATIC_KEYS_STRATEGY_MPROTECT));
	CHECK("stats name mprotect", st.strategy == STATIC_KEYS_STRATEGY_MPROTECT);
	CHECK("sites", sites_match(&spread.key) && sites_match(&spread_too.key));
	CHECK("no wx", check_no_wx_mapping());

	CHECK("direct not offered here",
	      static_keys_set_strategy(STATIC_KEYS_STRATEGY_DIRECT) == STATIC_KEYS_ENOTSUP);
	CHECK("the refusal names those offered",
	      strstr(static_keys_last_error(), "choose one it offers (") != NULL);
	CHECK("unknown strategy", static_keys_set_strategy(42) == STATIC_KEYS_ENOTSUP);
	CHECK("refusal explains", strstr(static_keys_last_error(), "does not offer") != NULL);
	CHECK_OK("back to default", static_keys_set_strategy(STATIC_KEYS_STRATEGY_DEFAULT));
	static_keys_get_stats(&st);
	CHECK("the platform's default", st.strategy == PLAT_STRATEGY_DEFAULT);
	check_figure("faults injected and recovered", recovered);
	return check_summary();
}
