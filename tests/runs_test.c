/* SPDX-License-Identifier: MIT */
/*
 * runs_test.c - one patch per run of contiguous pages. Keys whose sites
 * cover several contiguous pages flip with one os_patch, alone or in one
 * request; a key whose sites sit in two blocks apart flips with two, and a
 * failure in the second restores the first. The expected runs come from
 * the sites' own addresses; the stats must show exactly that many runs
 * and the strategy's syscalls per run (counts, never time).
 */
#include <stdlib.h>

#include "check.h"
#include "plat.h"
#include "sites.h"
#include "static_keys.h"

DEFINE_STATIC_KEY_FALSE(wa); /* wide: 600 sites, interleaved with wb */
DEFINE_STATIC_KEY_TRUE(wb);
DEFINE_STATIC_KEY_FALSE(split); /* 2 x 300 sites, PLAT_PAGE_ALIGN apart */
DEFINE_STATIC_KEY_FALSE(ta);    /* take turns: 3,000 sites each of ta, tb, ta */
DEFINE_STATIC_KEY_FALSE(tb);
DEFINE_STATIC_KEY_FALSE(tc);    /* and of td, tc, td */
DEFINE_STATIC_KEY_FALSE(td);

#define R3(x) x x x
#define R10(x) x x x x x x x x x x
#define R100(x) R10(R10(x))

/* 1,200 sites over several pages: wa, wb, wa, wb, ... */
__attribute__((noinline, aligned(PLAT_PAGE_ALIGN))) static int wide(void)
{
	int n = 0;

	R3(R100(if (static_branch_unlikely(&wa)) n += 1;
		if (static_branch_likely(&wb)) n += 1 << 16;
		if (static_branch_unlikely(&wa)) n += 1;
		if (static_branch_likely(&wb)) n += 1 << 16;))
	return n;
}

/*
 * The outer key's sites sit before and after the inner key's, pages apart:
 * the run only closes over them if the outer key is scanned again after
 * the inner one grew it. The key table's order is the compiler's, so both
 * orders are here.
 */
#define TURNS(name, outer, inner)                                              \
	__attribute__((noinline, aligned(PLAT_PAGE_ALIGN))) static int name(  \
		void)                                                          \
	{                                                                      \
		int n = 0;                                                     \
		R10(R3(R100(if (static_branch_unlikely(&outer)) n += 1;)))     \
		R10(R3(R100(if (static_branch_unlikely(&inner)) n += 10;)))    \
		R10(R3(R100(if (static_branch_unlikely(&outer)) n += 1;)))     \
		return n;                                                      \
	}
TURNS(turns_ab, ta, tb)
TURNS(turns_dc, td, tc)

#define SPLIT_BLOCK(name)                                                      \
	__attribute__((noinline, aligned(PLAT_PAGE_ALIGN))) static int name(  \
		void)                                                          \
	{                                                                      \
		int n = 0;                                                     \
		R3(R100(if (static_branch_unlikely(&split)) n++;))             \
		return n;                                                      \
	}
SPLIT_BLOCK(split_a)
SPLIT_BLOCK(split_b)

/*
 * spread: FAR_BLOCKS blocks of 3 sites, each block on pages of its own (4 KiB
 * pages): more runs in one request than the protocol keeps from its first
 * pass for the others (MODULE_RUNS_KEPT), so the passes after it find them
 * again.
 */
DEFINE_STATIC_KEY_FALSE(spread);
#define FAR_BLOCKS (MODULE_RUNS_KEPT + 4)
#define FAR_BLOCK(i)                                                           \
	__attribute__((noinline, aligned(8192))) static int far_##i(void)     \
	{                                                                      \
		int n = 0;                                                     \
		R3(if (static_branch_unlikely(&spread)) n++;)                     \
		return n;                                                      \
	}
#define FAR4(a, b, c, d) FAR_BLOCK(a) FAR_BLOCK(b) FAR_BLOCK(c) FAR_BLOCK(d)
FAR4(0, 1, 2, 3) FAR4(4, 5, 6, 7) FAR4(8, 9, 10, 11) FAR4(12, 13, 14, 15)
FAR4(16, 17, 18, 19)
static int (*const far_fns[])(void) = {
	far_0,  far_1,  far_2,  far_3,  far_4,  far_5,  far_6,
	far_7,  far_8,  far_9,  far_10, far_11, far_12, far_13,
	far_14, far_15, far_16, far_17, far_18, far_19,
};
_Static_assert(sizeof far_fns / sizeof *far_fns == FAR_BLOCKS,
	       "one function per block of spread");

static uintptr_t page_size;
static uintptr_t pages[2 * 9000];

static int cmp_page(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return (x > y) - (x < y);
}

/* Collects the first and last page of every site of key. */
static size_t add_pages(const struct static_key *key, size_t n)
{
	uint32_t i;

	for (i = 0; i < key->sites && n + 2 <= sizeof pages / sizeof *pages; i++) {
		uintptr_t c = jump_entry_code(&key->entries[i]);

		pages[n++] = c & ~(page_size - 1);
		pages[n++] = (c + ARCH_JUMP_SIZE - 1) & ~(page_size - 1);
	}
	return n;
}

/* The oracle: distinct pages and maximal runs of consecutive ones. */
static void count_runs(size_t n, uint64_t *npages, uint64_t *nruns)
{
	size_t i;

	qsort(pages, n, sizeof *pages, cmp_page);
	*npages = *nruns = 0;
	for (i = 0; i < n; i++) {
		if (i && pages[i] == pages[i - 1])
			continue;
		if (!i || pages[i] != pages[i - 1] + page_size)
			(*nruns)++;
		(*npages)++;
	}
}

/* Flips per `changes` and checks pages, runs and syscalls per run. */
static void flip_counts(const char *what, int strategy,
			struct static_key_change *changes, size_t count)
{
	struct static_keys_stats st;
	uint64_t want_pages, want_runs;
	size_t i, n = 0;
	char name[128];

	for (i = 0; i < count; i++)
		n = add_pages(changes[i].key, n);
	count_runs(n, &want_pages, &want_runs);
	snprintf(name, sizeof name, "%s (%s)", what,
		 static_keys_strategy_name(strategy));
	CHECK_OK(name, static_keys_update(changes, count));
	static_keys_get_stats(&st);
	CHECK(name, st.last_runs == want_runs);
	CHECK(name, st.last_pages == want_pages);
	CHECK(name, st.last_syscalls == plat_run_syscalls(strategy) * plat_passes(strategy) * want_runs);
	for (i = 0; i < count; i++)
		CHECK(name, sites_match(changes[i].key));
}

static int wide_wants(void)
{
	return 600 * static_key_enabled(&wa) + (600 << 16) * static_key_enabled(&wb);
}


/*
 * 1 when split's two blocks leave at least one page without a site between
 * them, so that they are two runs (the blocks are PLAT_PAGE_ALIGN apart,
 * but code larger than on ELF, or pages that large, can close the gap).
 */
static int split_has_gap(void)
{
	uint32_t i;

	for (i = 1; i < split.key.sites; i++) {
		uintptr_t end = jump_entry_code(&split.key.entries[i - 1]) + ARCH_JUMP_SIZE - 1;
		uintptr_t next = jump_entry_code(&split.key.entries[i]);

		if (next / page_size > end / page_size + 1)
			return 1;
	}
	return 0;
}

static void per_strategy(int strategy)
{
	struct static_key_change a_on = {&wa.key, 1}, a_off = {&wa.key, 0};
	struct static_key_change both[2] = {{&wa.key, 1}, {&wb.key, 0}};
	struct static_key_change split_on = {&split.key, 1};
	struct static_key_change turn_ab[2] = {{&ta.key, 1}, {&tb.key, 1}};
	struct static_key_change turn_dc[2] = {{&tc.key, 1}, {&td.key, 1}};
	int i;
	struct static_key_change split_off = {&split.key, 0};
	uint8_t before[ARCH_JUMP_SIZE], first[ARCH_JUMP_SIZE];
	struct static_keys_stats st;

	if (!plat_strategy_offered(strategy))
		return;
	CHECK_OK("strategy", static_keys_set_strategy(strategy));

	flip_counts("one key on many contiguous pages", strategy, &a_on, 1);
	CHECK("wide runs its sites", wide() == wide_wants());
	static_keys_get_stats(&st);
	if (page_size == 4096) /* wide() is ~20 KiB of code */
		CHECK("the wide key spans several pages", st.last_pages >= 3);
	CHECK("and they are one run", st.last_runs == 1);
	flip_counts("and back", strategy, &a_off, 1);

	flip_counts("two interleaved keys in one request", strategy, both, 2);
	CHECK("wide after the request", wide() == wide_wants());
	both[0].enabled = 0;
	both[1].enabled = 1;
	flip_counts("and back", strategy, both, 2);

	for (i = 0; i < 2; i++) {
		struct static_key_change *t = i ? turn_dc : turn_ab;
		int (*fn)(void) = i ? turns_dc : turns_ab;

		flip_counts("keys taking turns by page, one request", strategy, t, 2);
		CHECK("turns after the request", fn() == 6000 + 30000);
		static_keys_get_stats(&st);
		CHECK("turns: one run", st.last_runs == 1);
		t[0].enabled = t[1].enabled = 0;
		flip_counts("and back", strategy, t, 2);
		t[0].enabled = t[1].enabled = 1;
	}

	flip_counts("one key in two blocks apart", strategy, &split_on, 1);
	CHECK("split has two runs", split_a() == 300 && split_b() == 300);
	static_keys_get_stats(&st);
	flip_counts("and back", strategy, &split_off, 1);
	if (!split_has_gap())
		return; /* the blocks' pages touch: no second run to fail */
	CHECK("two runs", st.last_runs == 2);

	/* The second run fails: the first, of several pages, is restored. */
	memcpy(before, (const void *)jump_entry_code(&split.key.entries[0]),
	       ARCH_JUMP_SIZE);
	test_hooks.fault_at = 2;
	CHECK("second run fails", static_keys_update(&split_on, 1) == STATIC_KEYS_EPATCH);
	test_hooks.fault_at = 0;
	memcpy(first, (const void *)jump_entry_code(&split.key.entries[0]),
	       ARCH_JUMP_SIZE);
	CHECK("first run restored", memcmp(before, first, ARCH_JUMP_SIZE) == 0);
	CHECK("every site restored", sites_hold(&split.key, 0));
	CHECK("key unchanged", !static_key_enabled(&split));
	CHECK("sites run as before", split_a() == 0 && split_b() == 0);
	static_keys_get_stats(&st);
	if (!plat_protocol(strategy)) /* protocol passes restore every run */
		CHECK("one run forward, one back", st.last_runs == 2);
}

/* What spread's sites add up to: 3 a block while it is on. */
static int far_runs_all(void)
{
	int n = 0;
	size_t i;

	for (i = 0; i < FAR_BLOCKS; i++)
		n += far_fns[i]();
	return n;
}

/*
 * A request of many runs through the protocol: the passes after the first
 * find runs the first could not keep; with few runs (split), they take the
 * kept ones. A failure in the first pass, or in a later pass of either,
 * restores every site and changes no key.
 */
static void kept_runs(int strategy)
{
	struct static_key_change far_on = {&spread.key, 1}, far_off = {&spread.key, 0};
	struct static_key_change split_on = {&split.key, 1};
	struct static_keys_stats st;
	unsigned passes = plat_passes(strategy);
	uint64_t runs;
	int i;
	char what[128];

	if (!plat_strategy_offered(strategy) || !plat_protocol(strategy))
		return;
	/* procmem is skipped under qemu-user, which runs stale translations */
	i = plat_strategy_set(strategy);
	CHECK("the strategy is chosen", i >= 0);
	if (i)
		return;
	flip_counts("many runs through the protocol", strategy, &far_on, 1);
	CHECK("spread runs its sites", far_runs_all() == 3 * FAR_BLOCKS);
	static_keys_get_stats(&st);
	runs = st.last_runs;
	if (page_size == 4096)
		CHECK("more runs than the first pass keeps",
		      runs > MODULE_RUNS_KEPT);
	flip_counts("and back", strategy, &far_off, 1);
	CHECK("spread is off", far_runs_all() == 0);

	/* the first run of the first pass, a run of the first pass, of the last */
	for (i = 0; i < 3; i++) {
		int at = i == 0 ? 1 : i == 1 ? (int)runs
					     : (int)(runs * (passes - 1) + 2);

		snprintf(what, sizeof what, "%s, many runs, os patch %d fails",
			 static_keys_strategy_name(strategy), at);
		test_hooks.fault_at = at;
		CHECK(what, static_keys_update(&far_on, 1) == STATIC_KEYS_EPATCH);
		test_hooks.fault_at = 0;
		CHECK(what, !static_key_enabled(&spread) && sites_hold(&spread.key, 0));
		CHECK(what, far_runs_all() == 0);
	}
	CHECK_OK("spread flips after them", static_keys_update(&far_on, 1));
	CHECK("spread is on", far_runs_all() == 3 * FAR_BLOCKS && sites_match(&spread.key));
	CHECK_OK("and off", static_keys_update(&far_off, 1));

	/* few runs: a later pass fails on the second of the runs kept */
	snprintf(what, sizeof what, "%s, kept runs, a later pass fails",
		 static_keys_strategy_name(strategy));
	if (passes > 1 && split_has_gap()) {
		test_hooks.fault_at = 2 * (int)(passes - 1) + 2;
		CHECK(what, static_keys_update(&split_on, 1) == STATIC_KEYS_EPATCH);
		test_hooks.fault_at = 0;
		CHECK(what, !static_key_enabled(&split) && sites_hold(&split.key, 0));
		CHECK(what, split_a() == 0 && split_b() == 0);
	}
}

int main(void)
{
	CHECK_OK("init", static_keys_init());
	{
		struct static_keys_stats st;

		static_keys_get_stats(&st);
		page_size = (uintptr_t)st.page_size;
	}
	CHECK("sites", wa.key.sites == 600 && wb.key.sites == 600 &&
			       split.key.sites == 600);
	CHECK("initial", wide() == wide_wants() && split_a() == 0 && turns_ab() == 0 && turns_dc() == 0);
	CHECK("spread's sites", spread.key.sites == 3 * FAR_BLOCKS && far_runs_all() == 0);
	per_strategy(STATIC_KEYS_STRATEGY_REMAP);
	per_strategy(STATIC_KEYS_STRATEGY_MPROTECT);
	per_strategy(STATIC_KEYS_STRATEGY_ALIAS);
	kept_runs(STATIC_KEYS_STRATEGY_MPROTECT);
	kept_runs(STATIC_KEYS_STRATEGY_ALIAS);
	kept_runs(STATIC_KEYS_STRATEGY_PROCMEM);
	CHECK("no wx", check_no_wx_mapping());
	return check_summary();
}
