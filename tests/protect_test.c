/* SPDX-License-Identifier: MIT */
/*
 * protect_test.c - os_patch's promise on protection: after a flip, under
 * every strategy this OS offers, each page holding a site has exactly the
 * protection it had before (read back from the OS: /proc/self/maps,
 * VirtualQuery), and no page is left writable and executable.
 */
#include "check.h"
#include "plat.h"
#include "sites.h"
#include "static_keys.h"

DEFINE_STATIC_KEY_FALSE(guarded);

/* Two functions on pages of their own. */
__attribute__((noinline, aligned(PLAT_PAGE_ALIGN))) static int page_a(void)
{
	return static_branch_unlikely(&guarded) ? 1 : 0;
}

__attribute__((noinline, aligned(PLAT_PAGE_ALIGN))) static int page_b(void)
{
	return static_branch_likely(&guarded) ? 2 : 0;
}

/* 1 when every site page's protection equals the one recorded in prot. */
static int same_prot(const long *prot)
{
	uint32_t i;
	int same = 1;

	for (i = 0; i < guarded.key.sites && i < 8; i++) {
		long now = plat_page_prot((const void *)jump_entry_code(&guarded.key.entries[i]));

		if (now != prot[i]) {
			fprintf(stderr, "  site %u: protection 0x%lx, was 0x%lx\n", i,
				(unsigned long)now, (unsigned long)prot[i]);
			same = 0;
		}
	}
	return same;
}

int main(void)
{
	long prot[8];
	uint32_t i;
	int s, rc;

	if (!check_prot_visible()) {
		printf("skipped: page protections cannot be read back here\n");
		return 77;
	}
	CHECK_OK("init", static_keys_init());
	CHECK("two sites", guarded.key.sites == 2);
	for (i = 0; i < guarded.key.sites && i < 8; i++) {
		prot[i] = plat_page_prot((const void *)jump_entry_code(&guarded.key.entries[i]));
		CHECK("protection readable", prot[i] != -1);
	}
	for (s = STATIC_KEYS_STRATEGY_REMAP; s < STATIC_KEYS_STRATEGY_COUNT; s++) {
		if (!plat_strategy_offered(s))
			continue;
		rc = plat_strategy_set(s);
		CHECK(static_keys_strategy_name(s), rc >= 0);
		if (rc)
			continue;
		CHECK_OK("enable", static_branch_enable(&guarded));
		CHECK("on", page_a() == 1 && page_b() == 2 && sites_match(&guarded.key));
		CHECK("protection as before, after enable", same_prot(prot));
		CHECK_OK("disable", static_branch_disable(&guarded));
		CHECK("off", page_a() == 0 && page_b() == 0 && sites_match(&guarded.key));
		CHECK("protection as before, after disable", same_prot(prot));
		CHECK("no wx", check_no_wx_mapping());
	}
	return check_summary();
}
