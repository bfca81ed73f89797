/* SPDX-License-Identifier: MIT */
/* noabi.c - a library that does not link the static-keys core. */
__attribute__((visibility("default"))) int noabi_answer(void)
{
	return 42;
}
