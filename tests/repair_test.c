/* SPDX-License-Identifier: MIT */
/*
 * repair_test.c - verify and repair. A rollback the OS refuses (injected)
 * leaves two of four pages flipped while the keys read as before: flips
 * are then refused. static_keys_repair() rewrites exactly those sites,
 * through every strategy offered, all or nothing, and flips work again. A
 * site holding neither instruction is reported and left as it is (so is
 * the other instruction at a key no flip or repair found whole:
 * breakpoint_test).
 */
#include "check.h"
#include "plat.h"
#include "sites.h"
#include "spread.h"
#include "static_keys.h"

/* Two sites of one key on one page. */
DEFINE_STATIC_KEY_FALSE(twice);
__attribute__((noinline, aligned(PLAT_PAGE_ALIGN))) static int pair(void)
{
	int n = 0;

	if (static_branch_unlikely(&twice))
		n += 1;
	if (static_branch_likely(&twice))
		n += 2;
	return n;
}

/* Which page functions return what: bit i set when fns[i]() == want. */
static unsigned pages_returning(int want)
{
	unsigned got = 0;
	int i;

	for (i = 0; i < 4; i++)
		if (fns[i]() == want)
			got |= 1u << i;
	return got;
}

static size_t index_of(const struct static_key *k)
{
	return (size_t)(k - static_keys_at(0));
}

static int report_is(const struct static_keys_repair_report *r, uint32_t sites,
		     uint32_t rewritten, uint32_t unknown)
{
	if (r->sites == sites && r->rewritten == rewritten && r->unknown == unknown)
		return 1;
	fprintf(stderr, "  report: %u sites, %u rewritten, %u unknown\n", r->sites,
		r->rewritten, r->unknown);
	return 0;
}

/*
 * A flip that fails at page 3 and whose rollback fails too. Under
 * the breakpoint protocol (x86, in place) the sites of the first two pages
 * keep the breakpoint, and threads meeting it run the keys' old states.
 */
static void half_flip(const char *what, int strategy)
{
	struct static_key_change both[2] = {{&spread.key, 1}, {&spread_too.key, 0}};

	test_hooks.fault_at = 3;
	test_hooks.fault_rollback = ROLLBACK_FAULT_ALL;
	CHECK(what, static_keys_update(both, 2) == STATIC_KEYS_EPATCH);
	test_hooks.fault_at = 0;
	test_hooks.fault_rollback = ROLLBACK_FAULT_NONE;
	CHECK(what, strstr(static_keys_last_error(), "static_keys_repair()") != NULL);
	CHECK(what, strstr(static_keys_last_error(), "every page was restored") == NULL);
	CHECK(what, !static_key_enabled(&spread) && static_key_enabled(&spread_too));
	if (plat_passes(strategy) > 1) { /* the breakpoint protocol */
		CHECK(what, pages_returning(2) == 0xf);
		CHECK(what, !sites_match(&spread.key) && !sites_match(&spread_too.key));
		return;
	}
	CHECK(what, __builtin_popcount(pages_returning(1)) == 2 &&
			    pages_returning(2) == (~pages_returning(1) & 0xfu));
}

/* injected faults (a rollback, a repair) whose checks all passed */
static unsigned long recovered;

static void repair_under(int strategy)
{
	int failed;
	struct static_keys_repair_report total, per[3];
	struct static_key_change both[2] = {{&spread.key, 1}, {&spread_too.key, 0}};
	uint8_t before[8 * ARCH_JUMP_SIZE], after[8 * ARCH_JUMP_SIZE];
	struct static_keys_stats st;
	char what[96];

	static_keys_get_stats(&st);
	if (!(st.strategies & (1u << strategy)))
		return;
	snprintf(what, sizeof what, "%s", static_keys_strategy_name(strategy));
	/* procmem refuses where /proc/self/mem cannot write this code (qemu) */
	if (strategy == STATIC_KEYS_STRATEGY_PROCMEM &&
	    static_keys_set_strategy(strategy) == STATIC_KEYS_ENOTSUP)
		return;
	CHECK_OK(what, static_keys_set_strategy(strategy));

	failed = check_failed;
	half_flip(what, strategy);
	CHECK("a half-flipped key refuses flips",
	      static_branch_enable(&spread) == STATIC_KEYS_EBADSITE);

	/* all or nothing: the repair's second page fails, the first is put back */
	snapshot_sites(before);
	test_hooks.fault_at = 2;
	CHECK(what, static_keys_repair(&total, NULL, 0) == STATIC_KEYS_EPATCH);
	test_hooks.fault_at = 0;
	snapshot_sites(after);
	/* the protocol's restore leaves whole instructions, not breakpoints */
	if (plat_passes(strategy) == 1)
		CHECK("a failed repair changes no byte", memcmp(before, after, sizeof before) == 0);
	CHECK("a failed repair rewrote nothing", report_is(&total, 10, 0, 0));

	CHECK_OK(what, static_keys_repair(&total, per, 3));
	CHECK("repair counts", report_is(&total, 10, 4, 0));
	CHECK("repair per key", report_is(&per[index_of(&spread.key)], 4, 2, 0) &&
					report_is(&per[index_of(&spread_too.key)], 4, 2, 0));
	CHECK("repaired sites agree", sites_match(&spread.key) && sites_match(&spread_too.key));
	/*
	 * qemu-user translates guest code once and sees neither the alias's
	 * stores nor the kernel's /proc/self/mem writes: there only the bytes
	 * can be checked, not what the code does.
	 */
	if (!check_prot_visible() && (strategy == STATIC_KEYS_STRATEGY_ALIAS ||
				      strategy == STATIC_KEYS_STRATEGY_PROCMEM))
		return;
	CHECK("repaired code runs the keys' states", pages_returning(2) == 0xf);
	CHECK("no wx after repair", check_no_wx_mapping());

	CHECK_OK("flips work again", static_keys_update(both, 2));
	CHECK("flipped", pages_returning(1) == 0xf);
	both[0].enabled = 0;
	both[1].enabled = 1;
	CHECK_OK("and back", static_keys_update(both, 2));
	CHECK("and back", pages_returning(2) == 0xf);
	CHECK_OK("nothing left to repair", static_keys_repair(&total, NULL, 0));
	CHECK("nothing left to repair", report_is(&total, 10, 0, 0));
	recovered += check_failed == failed ? 2 : 0; /* the flip's, the repair's */
}

int main(void)
{
	struct static_keys_repair_report total, per[3];
	uint8_t other[ARCH_JUMP_SIZE], junk[ARCH_JUMP_SIZE], want[ARCH_JUMP_SIZE];
	struct static_keys_stats st;
	void *site0, *site1;
	int s;

	CHECK_OK("init", static_keys_init());
	CHECK("four sites each", spread.key.sites == 4 && spread_too.key.sites == 4);

	/*
	 * The first half flip comes before any repair: init reads no site, so
	 * it is the flip's check that lets repair rewrite its keys' sites.
	 */
	for (s = STATIC_KEYS_STRATEGY_REMAP; s < STATIC_KEYS_STRATEGY_COUNT; s++)
		repair_under(s);
	CHECK_OK("a consistent module", static_keys_repair(&total, NULL, 0));
	CHECK("a consistent module", report_is(&total, 10, 0, 0));
	CHECK_OK("default", static_keys_set_strategy(STATIC_KEYS_STRATEGY_DEFAULT));

	/*
	 * A site holding neither instruction is reported, never overwritten,
	 * even on a page that is rewritten for its key's other site.
	 */
	site0 = (void *)jump_entry_code(&twice.key.entries[0]);
	site1 = (void *)jump_entry_code(&twice.key.entries[1]);
	static_keys_get_stats(&st);
	CHECK("one page", (uintptr_t)site0 / st.page_size == (uintptr_t)site1 / st.page_size);
	memset(junk, 0xcc, sizeof junk); /* an int3 on x86, no branch elsewhere */
	site_bytes(&twice.key.entries[1], 1, other);
	CHECK("poke", plat_poke_code(site0, junk, sizeof junk) == 0 &&
			      plat_poke_code(site1, other, sizeof other) == 0);
	CHECK("unknown site", static_keys_repair(&total, per, 3) == STATIC_KEYS_EBADSITE);
	CHECK("unknown site counted", report_is(&total, 10, 1, 1) &&
					      report_is(&per[index_of(&twice.key)], 2, 1, 1));
	CHECK("unknown site named", strstr(static_keys_last_error(), "left as it is") != NULL);
	CHECK("unknown site left alone", memcmp(site0, junk, sizeof junk) == 0);
	site_bytes(&twice.key.entries[1], 0, want);
	CHECK("the other site rewritten", memcmp(site1, want, sizeof want) == 0);
	site_bytes(&twice.key.entries[0], 0, want);
	CHECK("unpoke", plat_poke_code(site0, want, sizeof want) == 0);
	CHECK_OK("then all agree", static_keys_repair(&total, NULL, 0));
	CHECK("then all agree", sites_match(&twice.key) && pair() == 0);
	CHECK("no wx", check_no_wx_mapping());
	check_figure("faults injected and recovered", recovered);
	return check_summary();
}
