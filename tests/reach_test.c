/* SPDX-License-Identifier: MIT */
/*
 * reach_test.c - init refuses a module with a site whose jump cannot reach
 * its target (arch_jump_check): STATIC_KEYS_ERANGE, a last-error text that
 * names the site, and no key usable afterwards. The far entry is written
 * by hand: a nop, then more bytes than the jump reaches, then the target.
 * Only riscv64 (jal: +-1 MiB) makes this cheap; aarch64 would need a
 * 128 MiB binary and x86's rel32 reaches any module, so they skip.
 */
#include "check.h"
#include "static_keys.h"

#if defined(__riscv) && __riscv_xlen == 64

DEFINE_STATIC_KEY_FALSE(far_key);

/* Never executed: the module must not get past init. */
__asm__(".text\n\t"
	".balign 4\n"
	"reach_site:\n\t"
	".4byte 0x00000013\n\t" /* nop */
	".skip 0x100000\n"      /* the first offset jal cannot reach */
	"reach_target:\n\t"
	".4byte 0x00000013\n\t"
	STATIC_KEYS_ENTRY_PUSHSECTION "\n\t"
	".balign 8\n\t"
	".long reach_site - .\n\t"
	".long reach_target - .\n\t"
	".quad far_key - .\n\t"
	STATIC_KEYS_ENTRY_POPSECTION "\n\t"
	".text");

int main(void)
{
	const char *err;

	CHECK("init says ERANGE", static_keys_init() == STATIC_KEYS_ERANGE);
	err = static_keys_last_error();
	CHECK("the error says why", err && strstr(err, "cannot reach"));
	CHECK("and which key", err && strstr(err, "far_key"));
	printf("last error: %s\n", err ? err : "(none)");
	CHECK("flips refused after a failed init",
	      static_branch_enable(&far_key) == STATIC_KEYS_ERANGE);
	CHECK("key still off", !static_key_enabled(&far_key));
	return check_summary();
}

#else

int main(void)
{
	printf("skipped: no jump reach that a small test binary can exceed\n");
	return 77;
}

#endif
