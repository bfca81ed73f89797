/* SPDX-License-Identifier: MIT */
/* nocore.c - a library with neither keys nor the core: open() must say it
 * is not linked with the static-keys core. */
__attribute__((visibility("default"))) int nocore_answer(void)
{
	return 42;
}
