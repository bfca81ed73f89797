/* SPDX-License-Identifier: MIT */
/* padding.h - the second object of padding_test. */
#include "static_keys.h"

DECLARE_STATIC_KEY_FALSE(pad_a);
DECLARE_STATIC_KEY_FALSE(pad_c);
DECLARE_STATIC_KEY_TRUE(pad_d);

int pad_other(void); /* 1: pad_c on, 2: pad_d off */
