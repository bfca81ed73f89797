/* SPDX-License-Identifier: MIT */
/*
 * myapp.c - checks the package end to end from a consumer's build: the
 * library's key is reached through its exported Deno ABI, the program's
 * own key through the C API, and each module sees only its own.
 */
#include <static_keys.h>
#include <stdio.h>

DEFINE_STATIC_KEY_TRUE(app_logging);

int mylib_compute(void);

int main(void)
{
	int failures = 0;

	failures += static_keys_init() != 0;
	failures += static_keys_count() != 1; /* the program's key only */
	failures += !static_branch_likely(&app_logging);
	failures += static_branch_disable(&app_logging) != 0;
	failures += static_branch_likely(&app_logging);
	failures += mylib_compute() != 1;
	printf("%s: %d failures\n", failures ? "FAIL" : "ok", failures);
	return failures;
}
