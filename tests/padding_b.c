/* SPDX-License-Identifier: MIT */
#include "padding.h"

/* Another object's keys and sites, with a zero record between its sites. */
DEFINE_STATIC_KEY_FALSE(pad_c);
DEFINE_STATIC_KEY_TRUE(pad_d);

int pad_other(void)
{
	int n = 0;

	if (static_branch_unlikely(&pad_c))
		n |= 1;
	__asm__ volatile(STATIC_KEYS_ENTRY_PUSHSECTION "\n\t"
			 ".balign " PAD_ENTRY_ALIGN "\n\t"
			 ".fill 1 * " PAD_ENTRY_SIZE ", 1, 0\n\t"
			 STATIC_KEYS_ENTRY_POPSECTION);
	if (!static_branch_likely(&pad_d))
		n |= 2;
	return n;
}
