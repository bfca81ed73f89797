/* SPDX-License-Identifier: MIT */
#include "multi_tu.h"

/* Five sites of shared_key; returns how many branches were taken. */
int multi_a_count(void)
{
	int n = 0;

	if (static_branch_unlikely(&shared_key))
		n++;
	if (static_branch_likely(&shared_key))
		n++;
	if (static_branch_unlikely(&shared_key))
		n++;
	if (static_branch_unlikely(&shared_key))
		n++;
	if (static_branch_likely(&shared_key))
		n++;
	return n;
}

int multi_a_true(void)
{
	return static_branch_likely(&shared_true) ? 1 : 0;
}
