/* SPDX-License-Identifier: MIT */
/* multi_tu.h - one key shared by three translation units. */
#include "static_keys.h"

DECLARE_STATIC_KEY_FALSE(shared_key);
DECLARE_STATIC_KEY_TRUE(shared_true);

int multi_a_count(void); /* sites of shared_key taken in multi_tu_a.c */
int multi_b_count(void); /* ... in multi_tu_b.c */
int multi_a_true(void);
