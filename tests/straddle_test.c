/* SPDX-License-Identifier: MIT */
/*
 * straddle_test.c - a 5-byte x86 site that starts two bytes before a page
 * boundary, after another site on the same page: the run that starts at the
 * first site must grow to cover both pages, patched in one step. Sites on
 * other architectures are aligned and never straddle: skipped there.
 */
#include "check.h"
#include "plat.h"
#include "sites.h"
#include "static_keys.h"

#if defined(__x86_64__) || defined(__i386__)

DEFINE_STATIC_KEY_FALSE(straddle);

__attribute__((noinline)) static int f_straddle(void)
{
	int r = 0;

	/* nops to 1 KiB short of a PLAT_PAGE_ALIGN boundary, a site, then nops
	 * up to 2 bytes short of the boundary (counted from .Lsk_base), the site */
	__asm__ volatile(".balign %c0, 0x90\n.Lsk_base:\n\t"
			 ".fill %c0 - 1024, 1, 0x90" ::"i"(PLAT_PAGE_ALIGN));
	if (static_branch_unlikely(&straddle))
		r |= 1;
	__asm__ volatile(".fill %c0 - 2 - (. - .Lsk_base), 1, 0x90" ::"i"(PLAT_PAGE_ALIGN));
	if (static_branch_unlikely(&straddle))
		r |= 2;
	return r;
}

int main(void)
{
	struct static_keys_stats st;
	uintptr_t code;
	long ps;
	int s, rc;

	CHECK_OK("init", static_keys_init());
	static_keys_get_stats(&st);
	ps = (long)st.page_size;
	CHECK("two sites", straddle.key.sites == 2);
	code = jump_entry_code(&straddle.key.entries[1]);
	CHECK("the site straddles a page boundary",
	      (code & (uintptr_t)(ps - 1)) == (uintptr_t)(ps - 2));
	for (s = STATIC_KEYS_STRATEGY_REMAP; s < STATIC_KEYS_STRATEGY_COUNT; s++) {
		if (!plat_strategy_offered(s))
			continue;
		rc = plat_strategy_set(s);
		CHECK("strategy", rc >= 0);
		if (rc)
			continue;
		CHECK_OK("enable", static_branch_enable(&straddle));
		static_keys_get_stats(&st);
		CHECK("one run of two pages", st.last_pages == 2);
		CHECK("patched in one step", st.last_syscalls == plat_run_syscalls(s) * plat_passes(s));
		CHECK("on", f_straddle() == 3 && sites_match(&straddle.key));
		CHECK_OK("disable", static_branch_disable(&straddle));
		CHECK("off", f_straddle() == 0 && sites_match(&straddle.key));
		CHECK("no wx", check_no_wx_mapping());
	}
	return check_summary();
}

#else

int main(void)
{
	printf("skipped: sites are aligned on this architecture\n");
	return 77;
}

#endif
