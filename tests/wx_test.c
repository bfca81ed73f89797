/* SPDX-License-Identifier: MIT */
/*
 * wx_test.c - mprotect that cannot close its window. Faults injected where
 * os/linux_patch.c makes pages read+execute again: a refusal it can get past
 * (a retry, an r-x copy swapped in) ends in EPATCH with every page r-x and
 * restored; a refusal of every way ends in STATIC_KEYS_EWX, whose text says
 * the page is left writable and executable and never that every page was
 * restored. Linux only (the injection points are in os/linux_patch.c).
 */
#include "check.h"
#include "plat.h"
#include "sites.h"
#include "static_keys.h"

#ifdef __linux__
/* the window's own mechanics: one os_patch per run, no protocol passes */

DEFINE_STATIC_KEY_FALSE(lone);
DEFINE_STATIC_KEY_FALSE(wide);

__attribute__((noinline, aligned(PLAT_PAGE_ALIGN))) static int page_a(void)
{
	return (static_branch_unlikely(&lone) ? 1 : 0) + (static_branch_unlikely(&wide) ? 2 : 0);
}

__attribute__((noinline, aligned(PLAT_PAGE_ALIGN))) static int page_b(void)
{
	return static_branch_unlikely(&wide) ? 2 : 0;
}

static int restored(void)
{
	return strstr(static_keys_last_error(), "every page was restored") != NULL;
}

/* Makes `lone`'s flip meet `fail` refusals of r-x; returns its code. */
static int flip_refused(int skip, int fail, struct static_key *key)
{
	int rc;

	test_hooks.rx_skip = skip;
	test_hooks.rx_fail = fail;
	rc = static_key_enable(key);
	test_hooks.rx_skip = test_hooks.rx_fail = 0;
	return rc;
}

int main(void)
{
	struct static_keys_stats st;
	uintptr_t page;
	long ps = sysconf(_SC_PAGESIZE);

	if (!check_prot_visible()) {
		printf("skipped: page protections cannot be read back here\n");
		return 77;
	}
	test_hooks.no_sync_core = 1;
	CHECK_OK("init", static_keys_init());
	static_keys_get_stats(&st);
	CHECK("without core sync only remap is safe for concurrent executors",
	      st.concurrent == 1u << STATIC_KEYS_STRATEGY_REMAP && st.protocol == 0);
	CHECK("and it is the default", st.strategy == STATIC_KEYS_STRATEGY_REMAP);
	CHECK_OK("mprotect", static_keys_set_strategy(STATIC_KEYS_STRATEGY_MPROTECT));
	CHECK("sites", lone.key.sites == 1 && wide.key.sites == 2);

	/* One refusal: the retry closes the window. */
	CHECK("retry", flip_refused(0, 1, &lone.key) == STATIC_KEYS_EPATCH);
	CHECK("retry: restored", restored());
	CHECK("retry: old bytes, old state", sites_hold(&lone.key, 0) && !static_key_enabled(&lone));
	CHECK("retry: no wx", check_no_wx_mapping());
	CHECK("retry: code runs", page_a() == 0);

	/* Two: an r-x copy swapped in closes it. */
	CHECK("copy", flip_refused(0, 2, &lone.key) == STATIC_KEYS_EPATCH);
	CHECK("copy: restored", restored());
	CHECK("copy: old bytes", sites_hold(&lone.key, 0) && !static_key_enabled(&lone));
	CHECK("copy: no wx", check_no_wx_mapping());
	CHECK("copy: code runs", page_a() == 0);

	/* Every way refused: the page stays rwx, and the error says so. */
	CHECK("stuck", flip_refused(0, 3, &lone.key) == STATIC_KEYS_EWX);
	CHECK("stuck: says so", strstr(static_keys_last_error(),
				       "left writable and executable") != NULL);
	CHECK("stuck: never claims every page was restored", !restored());
	CHECK("stuck: old bytes, old state", sites_hold(&lone.key, 0) && !static_key_enabled(&lone));
	CHECK("stuck: the page is in fact rwx", check_under_valgrind() || !check_no_wx_mapping());
	CHECK("stuck: code runs", page_a() == 0);
	CHECK("strerror", strstr(static_keys_strerror(STATIC_KEYS_EWX), "writable and executable"));
	page = jump_entry_code(&lone.key.entries[0]) & ~(uintptr_t)(ps - 1);
	CHECK("close it by hand", mprotect((void *)page, (size_t)ps, PROT_READ | PROT_EXEC) == 0);
	CHECK("then no wx", check_no_wx_mapping());

	/* Two pages: the second is stuck, the first is put back. */
	CHECK("second page stuck", flip_refused(1, 3, &wide.key) == STATIC_KEYS_EWX);
	CHECK("second page stuck: says so",
	      strstr(static_keys_last_error(), "every other page was restored") != NULL &&
		      !restored());
	CHECK("second page stuck: old bytes", sites_hold(&wide.key, 0) && !static_key_enabled(&wide));
	CHECK("second page stuck: code runs", page_a() == 0 && page_b() == 0);
	CHECK("close them by hand",
	      mprotect((void *)(jump_entry_code(&wide.key.entries[0]) & ~(uintptr_t)(ps - 1)),
		       (size_t)ps, PROT_READ | PROT_EXEC) == 0 &&
		      mprotect((void *)(jump_entry_code(&wide.key.entries[1]) & ~(uintptr_t)(ps - 1)),
			       (size_t)ps, PROT_READ | PROT_EXEC) == 0);

	/*
	 * The second page fails (injected in the core), and restoring the
	 * first meets a refusal of every way to make it r-x again: EWX. The
	 * restore's own bytes (the old ones) stay: a restore the OS refuses
	 * never puts the request's new bytes back. The text says the page is
	 * left writable and executable and, read back, that every site holds
	 * its key's state; repair finds nothing to do.
	 */
	test_hooks.fault_at = 2;
	CHECK("rollback stuck", flip_refused(1, 3, &wide.key) == STATIC_KEYS_EWX);
	test_hooks.fault_at = 0;
	CHECK("rollback stuck: says so",
	      strstr(static_keys_last_error(), "restoring the pages patched before failed too "
					       "and left a page writable and executable") &&
		      !restored());
	CHECK("rollback stuck: the page is in fact rwx", check_under_valgrind() || !check_no_wx_mapping());
	CHECK("rollback stuck: key and bytes as before",
	      !static_key_enabled(&wide) && sites_match(&wide.key) &&
		      strstr(static_keys_last_error(), "every site holds its key's state again"));
	CHECK("close it by hand",
	      mprotect((void *)(jump_entry_code(&wide.key.entries[0]) & ~(uintptr_t)(ps - 1)),
		       (size_t)ps, PROT_READ | PROT_EXEC) == 0);
	CHECK_OK("repair", static_keys_repair(NULL, NULL, 0));
	CHECK("repaired", sites_match(&wide.key) && page_a() == 0 && page_b() == 0);

	CHECK_OK("then flips work", static_branch_enable(&lone));
	CHECK_OK("then flips work", static_branch_enable(&wide));
	CHECK("flipped", page_a() == 3 && page_b() == 2);
	CHECK("no wx at the end", check_no_wx_mapping());
	return check_summary();
}
#else
int main(void)
{
	printf("skipped: the fault injection points are in os/linux_patch.c\n");
	return 77;
}
#endif
