/* SPDX-License-Identifier: MIT */
/*
 * conc_test.c - flips while other threads run the sites. Four
 * threads call, in tight loops, a plain site, a site that straddles a page,
 * one that straddles a cache line and a likely site of a TRUE key, while
 * the owner flips them (single keys and four-key batches) under every
 * strategy the module reports safe for concurrent executors: no crash,
 * every result the old or the new path's, every site whole at the end.
 * CONC_FLIPS=n changes the count (100,000 per strategy by default; 1,000
 * under valgrind, which runs the threads one at a time anyway; 10,000
 * under qemu-user, which proves the code paths, not the safety).
 */
#include <stdlib.h>

#include "check.h"
#include "conc_sites.h"
#include "plat.h"
#include "sites.h"
#include "static_keys.h"

#define READERS 4

static volatile int stop, started;
static long bad, calls[READERS];
/* valgrind runs one thread at a time and, without --fair-sched=yes (which
 * scripts/test.ts passes), hands the CPU over only now and then: readers
 * that never yield starve the flipping thread, and the run time then
 * depends on the scheduler (minutes to past any timeout) */
static int polite;

static void *reader(void *arg)
{
	long *n = arg;

	__atomic_fetch_add(&started, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		if (conc_round())
			__atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED);
		(*n)++;
		if (polite && (*n & 255) == 0)
			plat_yield();
	}
	return NULL;
}

static struct static_key *const keys[4] = {&c_plain.key, &c_page.key,
					   &c_line.key, &c_true.key};

/* Flip i: keys in turn, and every fourth a batch of all four. */
static int flip(long i)
{
	struct static_key_change all[4];
	int k;

	if (i % 4 != 3)
		return static_key_set(keys[i % 4], !keys[i % 4]->enabled);
	for (k = 0; k < 4; k++) {
		all[k].key = keys[k];
		all[k].enabled = !keys[k]->enabled;
	}
	return static_keys_update(all, 4);
}

static unsigned long long survived; /* flips of stress runs that passed */

static void stress(int strategy, long flips)
{
	int failed = check_failed;
	plat_thread t[READERS];
	plat_thread_box box[READERS];
	struct static_keys_stats before, after;
	char what[96];
	long i;
	int r, rc = 0;

	snprintf(what, sizeof what, "%s: %ld flips under %d readers",
		 static_keys_strategy_name(strategy), flips, READERS);
	if (plat_strategy_set(strategy))
		return;
	static_keys_get_stats(&before);
	stop = started = 0;
	bad = 0;
	for (r = 0; r < READERS; r++) {
		calls[r] = 0;
		CHECK("reader starts", plat_thread_start(&t[r], &box[r], reader, &calls[r]) == 0);
	}
	while (__atomic_load_n(&started, __ATOMIC_SEQ_CST) < READERS)
		;
	for (i = 0; i < flips && !rc; i++)
		rc = flip(i);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (r = 0; r < READERS; r++)
		plat_thread_join(t[r], &box[r]);
	static_keys_get_stats(&after);
	CHECK_OK(what, rc);
	CHECK("every reader ran", calls[0] && calls[1] && calls[2] && calls[3]);
	CHECK("every result the old or the new path's", bad == 0);
	CHECK("sites whole and agreeing at the end",
	      sites_match(&c_plain.key) && sites_match(&c_page.key) &&
		      sites_match(&c_line.key) && sites_match(&c_true.key));
	CHECK("code agrees with the keys",
	      f_plain() == 0x10 + static_key_enabled(&c_plain) &&
		      f_page() == 0x20 + static_key_enabled(&c_page) &&
		      f_line() == 0x30 + static_key_enabled(&c_line) &&
		      f_true() == 0x40 + static_key_enabled(&c_true));
	CHECK("never writable+executable after", check_no_wx_mapping());
	if ((after.protocol >> strategy) & 1u)
		CHECK("two (or one) core syncs per request",
		      after.core_syncs - before.core_syncs ==
			      (after.requests - before.requests) *
				      plat_core_syncs(strategy));
	if (check_failed == failed)
		survived += (unsigned long long)i;
	printf("%s: %ld reader calls, %llu traps sent on, %llu core syncs\n",
	       what, calls[0] + calls[1] + calls[2] + calls[3],
	       (unsigned long long)(after.traps - before.traps),
	       (unsigned long long)(after.core_syncs - before.core_syncs));
}

int main(void)
{
	struct static_keys_stats st;
	const char *env = getenv("CONC_FLIPS");
#ifdef _WIN32
	long flips = env ? atol(env) : 100000;
#else
	long flips = env ? atol(env)
		   : check_under_valgrind()  ? 1000 /* one core at a time */
		   : !check_prot_visible()   ? 10000 /* qemu-user: slow */
					     : 100000;
#endif
	int s, tested = 0;

	polite = check_under_valgrind();
	CHECK_OK("init", static_keys_init());
	static_keys_get_stats(&st);
#if defined(__x86_64__) || defined(__i386__)
	CHECK("the page site straddles a page",
	      (jump_entry_code(&c_page.key.entries[0]) & (st.page_size - 1)) ==
		      st.page_size - 2);
	CHECK("the line site straddles a cache line",
	      (jump_entry_code(&c_line.key.entries[0]) & 63) == 62);
#endif
	CHECK("the default is safe for concurrent executors",
	      (st.concurrent >> PLAT_STRATEGY_DEFAULT) & 1u);
	for (s = 1; s < STATIC_KEYS_STRATEGY_COUNT; s++) {
		if (!((st.concurrent >> s) & 1u))
			continue;
		/* qemu-user keeps running its translation after a store
		 * through the alias view (README, "Targets") */
		if (s == STATIC_KEYS_STRATEGY_ALIAS && !check_prot_visible()) {
			printf("skipped alias: not testable under an emulator\n");
			continue;
		}
		stress(s, flips);
		tested++;
	}
	CHECK("at least one strategy is safe here", tested > 0);
	check_figure("flips survived under threads", survived);
	return check_summary();
}
