/* SPDX-License-Identifier: MIT */
/* padding.h - the second object of padding_test. */
#include "static_keys.h"

DECLARE_STATIC_KEY_FALSE(pad_a);
DECLARE_STATIC_KEY_FALSE(pad_c);
DECLARE_STATIC_KEY_TRUE(pad_d);

int pad_other(void); /* 1: pad_c on, 2: pad_d off */

/* One all-zero jump entry, for the assembler: struct jump_entry is two
 * int32_t and an intptr_t, so 12 bytes aligned to 4 on 32-bit targets. */
#if __SIZEOF_POINTER__ == 4
#define PAD_ENTRY_BYTES 12
#define PAD_ENTRY_ALIGN "4"
#define PAD_ENTRY_SIZE "12"
#else
#define PAD_ENTRY_BYTES 16
#define PAD_ENTRY_ALIGN "8"
#define PAD_ENTRY_SIZE "16"
#endif
