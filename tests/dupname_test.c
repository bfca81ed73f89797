/* SPDX-License-Identifier: MIT */
/*
 * dupname_test.c - two keys of one module with the same name: Deno finds
 * keys by name and could reach only one, so init refuses the module with
 * EINIT and a text naming both keys and the name.
 */
#include "check.h"
#include "core.h"

DEFINE_STATIC_KEY_FALSE_NAMED(first, "feature");
DEFINE_STATIC_KEY_TRUE(other);
DEFINE_STATIC_KEY_TRUE_NAMED(second, "feature");

__attribute__((noinline)) static int both(void)
{
	return (static_branch_unlikely(&first) ? 1 : 0) +
	       (static_branch_likely(&second) ? 2 : 0) +
	       (static_branch_likely(&other) ? 4 : 0);
}

int main(void)
{
	struct os_sections sec;
	size_t a, b;
	char pair[64];
	const char *err;

	CHECK("init says EINIT", static_keys_init() == STATIC_KEYS_EINIT);
	err = static_keys_last_error();
	printf("last error: %s\n", err);
	CHECK("the text names the name", strstr(err, "both named \"feature\""));
	/* the compiler decides the order of the records: find them */
	os_sections(&sec);
	a = (size_t)(&first.key - sec.keys_start);
	b = (size_t)(&second.key - sec.keys_start);
	snprintf(pair, sizeof pair, "keys %zu and %zu", a < b ? a : b, a < b ? b : a);
	CHECK("and both keys (by index)", strstr(err, pair));
	CHECK("and what to do", strstr(err, "DEFINE_STATIC_KEY_*_NAMED"));
	CHECK("no key is listed", static_keys_count() == 0);
	CHECK("flips are refused", static_branch_enable(&first) == STATIC_KEYS_EINIT);
	CHECK("and nothing changed", both() == 6 && !static_key_enabled(&first));
	return check_summary();
}
