/* SPDX-License-Identifier: MIT */
/*
 * batch_test.c - several keys in one request: one patch per page however
 * many keys share it, duplicates allowed only when they agree, and a bad
 * change anywhere refuses the whole request with nothing changed.
 */
#include "check.h"
#include "plat.h"
#include "sites.h"
#include "static_keys.h"

DEFINE_STATIC_KEY_FALSE(a);
DEFINE_STATIC_KEY_FALSE(b);
DEFINE_STATIC_KEY_TRUE(c);
DEFINE_STATIC_KEY_FALSE(d);

/* a, b and c share one page (one function); d is on pages of its own. */
__attribute__((noinline, aligned(PLAT_PAGE_ALIGN))) static int abc(void)
{
	int n = 0;

	if (static_branch_unlikely(&a))
		n |= 1;
	if (static_branch_unlikely(&b))
		n |= 2;
	if (static_branch_likely(&c))
		n |= 4;
	return n;
}

__attribute__((noinline, aligned(PLAT_PAGE_ALIGN))) static int dd(void)
{
	return static_branch_unlikely(&d) ? 8 : 0;
}

static int state(void)
{
	return abc() | dd();
}

int main(void)
{
	struct static_keys_stats st;
	struct static_key_change three[3] = {{&a.key, 1}, {&b.key, 1}, {&c.key, 0}};
	struct static_key_change conflict[3] = {{&a.key, 0}, {&d.key, 1}, {&a.key, 1}};
	struct static_key_change agree[3] = {{&d.key, 1}, {&d.key, 1}, {&a.key, 0}};
	struct static_key_change stranger[2] = {{&d.key, 0}, {(struct static_key *)&st, 1}};
	int i;

	CHECK_OK("init", static_keys_init());
	CHECK("initial", state() == 4);

	/* Three keys, one page: one patch of one page. */
	CHECK_OK("three keys", static_keys_update(three, 3));
	CHECK("three flipped", state() == 3);
	static_keys_get_stats(&st);
	CHECK("one page for three keys",
	      st.last_pages == 1 && st.last_syscalls == plat_run_syscalls(PLAT_STRATEGY_DEFAULT) *
						 plat_passes(PLAT_STRATEGY_DEFAULT));
	CHECK("flips counted", st.flips == 3);

	/* The same three one by one cost three patches. */
	for (i = 0; i < 3; i++)
		three[i].enabled = !three[i].enabled;
	for (i = 0; i < 3; i++)
		CHECK_OK("one by one", static_keys_update(&three[i], 1));
	CHECK("back", state() == 4);
	static_keys_get_stats(&st);
	CHECK("requests counted", st.requests == 4);
	CHECK("pages counted", st.pages_patched == 4);

	/* A key asked both ways refuses the whole request. */
	CHECK("conflict refused", static_keys_update(conflict, 3) == STATIC_KEYS_EINVAL);
	CHECK("conflict explained", strstr(static_keys_last_error(), "both enabled and disabled") != NULL);
	CHECK("conflict changed nothing", state() == 4 && !static_key_enabled(&d));

	/* Not a key of this module: refused, nothing changed. */
	CHECK("stranger refused", static_keys_update(stranger, 2) == STATIC_KEYS_EINVAL);
	CHECK("stranger changed nothing", state() == 4);
	CHECK("NULL changes refused", static_keys_update(NULL, 2) == STATIC_KEYS_EINVAL);

	/* Duplicates that agree are fine; an unchanged key costs nothing. */
	CHECK_OK("agreeing duplicates", static_keys_update(agree, 3));
	CHECK("d on", state() == 12);
	static_keys_get_stats(&st);
	CHECK("only d's page", st.last_pages == 1);
	CHECK("sites", sites_match(&a.key) && sites_match(&b.key) && sites_match(&c.key) &&
			       sites_match(&d.key));
	CHECK("no wx", check_no_wx_mapping());
	return check_summary();
}
