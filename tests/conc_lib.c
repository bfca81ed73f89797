/* SPDX-License-Identifier: MIT */
/*
 * conc_lib.c - a user's library for tests/conc_test.ts: the sites of
 * conc_sites.h (a page-straddling and a line-straddling site among them,
 * which the demo library does not have) behind one exported call that
 * Deno runs with `nonblocking` on its pool threads while the main thread
 * flips the keys.
 */
#include <stdint.h>

#include "conc_sites.h"

/* n rounds of the four sites: how many gave a value of neither path. */
STATIC_KEYS_EXPORT uint32_t sk_conc_run(uint32_t n)
{
	uint32_t bad = 0;

	while (n--)
		bad += (uint32_t)conc_round();
	return bad;
}
