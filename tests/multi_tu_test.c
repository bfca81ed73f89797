/* SPDX-License-Identifier: MIT */
/*
 * multi_tu_test.c - one key used at many sites across three translation
 * units (defined in one, declared in the others); every site follows it.
 */
#include "check.h"
#include "multi_tu.h"
#include "sites.h"

static int main_count(void)
{
	int n = 0;

	if (static_branch_unlikely(&shared_key))
		n++;
	if (static_branch_likely(&shared_true))
		n += 10;
	return n;
}

static void verify(int on, const char *step)
{
	CHECK(step, multi_a_count() == (on ? 5 : 0));
	CHECK(step, multi_b_count() == (on ? 3 : 0));
	CHECK(step, (main_count() % 10) == (on ? 1 : 0));
	CHECK(step, sites_match(&shared_key.key));
	CHECK(step, check_no_wx_mapping());
}

int main(void)
{
	CHECK_OK("init", static_keys_init());
	CHECK("at least nine sites in three units", shared_key.key.sites >= 9);
	verify(0, "initially off");
	CHECK_OK("enable", static_branch_enable(&shared_key));
	verify(1, "after enable");
	CHECK_OK("disable", static_branch_disable(&shared_key));
	verify(0, "after disable");
	CHECK_OK("enable again", static_branch_enable(&shared_key));
	verify(1, "after enable again");

	/* The other key in the same units is untouched by all that. */
	CHECK("shared_true unaffected", multi_a_true() == 1 && main_count() >= 10);
	CHECK_OK("disable shared_true", static_branch_disable(&shared_true));
	CHECK("shared_true off", multi_a_true() == 0 && main_count() == 1);
	CHECK("shared_key still on", multi_a_count() == 5);
	return check_summary();
}
