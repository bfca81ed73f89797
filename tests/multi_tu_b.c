/* SPDX-License-Identifier: MIT */
#include "multi_tu.h"

DEFINE_STATIC_KEY_FALSE(shared_key);
DEFINE_STATIC_KEY_TRUE(shared_true);

/* Three sites of shared_key, in a loop so the compiler keeps them apart. */
int multi_b_count(void)
{
	int n = 0;

	if (static_branch_unlikely(&shared_key))
		n++;
	if (static_branch_likely(&shared_key))
		n++;
	if (static_branch_unlikely(&shared_key))
		n++;
	return n;
}
