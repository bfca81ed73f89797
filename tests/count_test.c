/* SPDX-License-Identifier: MIT */
/*
 * count_test.c - inc/dec count like the kernel's: enabled while count > 0,
 * patched only on 0 <-> 1; a dec of a zero count is refused and changes
 * nothing; enable/disable interplay with the count.
 */
#include "check.h"
#include "sites.h"
#include "static_keys.h"

DEFINE_STATIC_KEY_FALSE(counted);
DEFINE_STATIC_KEY_TRUE(counted_true);

static int on(void) { return static_branch_unlikely(&counted) ? 1 : 0; }
static int on_true(void) { return static_branch_likely(&counted_true) ? 1 : 0; }

static void verify(int count, const char *step)
{
	CHECK(step, static_key_count(&counted) == count);
	CHECK(step, static_key_enabled(&counted) == (count > 0));
	CHECK(step, on() == (count > 0));
	CHECK(step, sites_match(&counted.key));
}

int main(void)
{
	struct static_keys_stats before, after;
	int i;

	CHECK_OK("init", static_keys_init());
	verify(0, "starts at 0");
	CHECK("dec at 0 refused", static_branch_dec(&counted) == STATIC_KEYS_ECOUNT);
	CHECK("the refusal explains", strstr(static_keys_last_error(), "already 0") != NULL);
	verify(0, "still 0 after refused dec");

	CHECK_OK("inc", static_branch_inc(&counted));
	verify(1, "1 after inc");
	static_keys_get_stats(&before);
	for (i = 0; i < 4; i++)
		CHECK_OK("inc more", static_branch_inc(&counted));
	verify(5, "5 after five incs");
	static_keys_get_stats(&after);
	CHECK("incs past 1 patch nothing", after.pages_patched == before.pages_patched);
	for (i = 0; i < 4; i++)
		CHECK_OK("dec", static_branch_dec(&counted));
	verify(1, "1 after four decs");
	CHECK_OK("last dec", static_branch_dec(&counted));
	verify(0, "0 after the last dec");
	CHECK("dec below zero refused", static_branch_dec(&counted) == STATIC_KEYS_ECOUNT);
	verify(0, "still 0");

	/* enable sets the count to 1 if 0; disable sets it to 0. */
	CHECK_OK("inc twice", static_branch_inc(&counted) || static_branch_inc(&counted));
	verify(2, "2");
	CHECK_OK("enable keeps the count", static_branch_enable(&counted));
	verify(2, "2 after enable");
	CHECK_OK("disable drops the count", static_branch_disable(&counted));
	verify(0, "0 after disable");
	CHECK_OK("enable from 0", static_branch_enable(&counted));
	verify(1, "1 after enable");
	CHECK_OK("dec after enable", static_branch_dec(&counted));
	verify(0, "0 after dec");

	/* A true key starts with count 1. */
	CHECK("true key counts 1", static_key_count(&counted_true) == 1 && on_true());
	CHECK_OK("inc true key", static_branch_inc(&counted_true));
	CHECK_OK("dec true key", static_branch_dec(&counted_true));
	CHECK("still on at 1", on_true() == 1);
	CHECK_OK("dec true key to 0", static_branch_dec(&counted_true));
	CHECK("off at 0", on_true() == 0 && static_key_count(&counted_true) == 0);
	CHECK("no wx", check_no_wx_mapping());
	return check_summary();
}
